//! The fsm compiler: `load -> parse -> validate -> lower -> generate -> emit`.
//!
//! Both front ends (YAML files and the `fsm!` DSL) produce the same spanned [`ast`]; `validate`
//! reports everything wrong at once as [`diagnostics`]; `lower` turns a valid AST into the IR that
//! the generators read. The build.rs builder, the CLI and the proc-macros are thin shells over this
//! crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ast;
pub mod diagnostics;
pub mod naming;
pub mod span;
pub mod syntax;

pub use diagnostics::{Diagnostic, Diagnostics, Severity, codes};
pub use span::{Source, Span, Spanned};
