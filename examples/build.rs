//! Compiles the example machines (`machines/*.yaml`) into `OUT_DIR`: what a user's build.rs looks
//! like. Each `machines/<name>.yaml` becomes `$OUT_DIR/<name>.rs`, included with
//! `include!(concat!(env!("OUT_DIR"), "/<name>.rs"))` (or `fsm::include_machine!("<name>")`).

fn main() -> Result<(), fsm_codegen::config::Error> {
    fsm_codegen::Config::new().compile_glob("machines/*.yaml")?;
    Ok(())
}
