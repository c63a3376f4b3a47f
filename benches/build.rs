//! Compiles the example machines into `OUT_DIR`, for the benchmarks' `fsm::include_machine!`:
//! the same YAML files as the examples' build.rs, generated again for this package.

fn main() -> Result<(), fsm_codegen::config::Error> {
    fsm_codegen::Config::new().compile_glob("../examples/machines/*.yaml")?;
    Ok(())
}
