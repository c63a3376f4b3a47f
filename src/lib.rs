//! facade

/// The `fsm!` (inline DSL, see `docs/dsl.md`) and `fsm_file!` (YAML file at compile time) macros.
pub use fsm_macros::{fsm, fsm_file};

/// The runtime the generated code links against (`fsm!` and `fsm_file!` expansions name it as
/// `::fsm::runtime`).
pub use fsm_runtime as runtime;
