//! The main job (`examples/streaming.rs`) as a binary target: cargo builds it for the tests of this
//! package and tells them where it is (`CARGO_BIN_EXE_streaming`), which it does not for examples.

#[path = "../streaming.rs"]
mod main_job;

fn main() -> std::process::ExitCode {
    main_job::main()
}
