//! The API orchestration example (`examples/api_orchestration.rs`) as a binary target: cargo
//! builds it for the tests of this package and tells them where it is
//! (`CARGO_BIN_EXE_api_orchestration`), which it does not for examples.

#[path = "../api_orchestration.rs"]
mod api_orchestration;

fn main() -> std::process::ExitCode {
    api_orchestration::main()
}
