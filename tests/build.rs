//! Compiles the fixture machines (`fixtures/*.yaml`) into `OUT_DIR`, exactly as a user's build.rs
//! would; the tests include them under `#![deny(warnings)]` and snapshot them.

fn main() -> Result<(), fsm_codegen::config::Error> {
    fsm_codegen::Config::new().compile_glob("fixtures/*.yaml")?;
    Ok(())
}
