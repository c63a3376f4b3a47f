//! The ETL example (`examples/etl.rs`) as a binary target: cargo builds it for the tests of this
//! package and tells them where it is (`CARGO_BIN_EXE_etl`), which it does not for examples.

#[path = "../etl.rs"]
mod etl;

fn main() -> std::process::ExitCode {
    etl::main()
}
