//! The fsm compiler: `load -> parse -> validate -> lower -> generate -> emit`.
//!
//! Both front ends (YAML files and the `fsm!` DSL) produce the same spanned [`ast`]; `validate`
//! reports everything wrong at once as [`diagnostics`]; `lower` turns a valid AST into the IR that
//! the generators read. The build.rs builder, the CLI and the proc-macros are thin shells over this
//! crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ast;
pub mod builtins;
pub mod diagnostics;
pub mod naming;
pub mod span;
pub mod syntax;
pub mod validate;

pub use diagnostics::{Diagnostic, Diagnostics, Severity, codes};
pub use span::{Source, Span, Spanned};

/// Reads a YAML machine and checks it completely: the machine (when the text could be read as
/// one) and every problem found, sorted by position. Generation may go on only when
/// `!diagnostics.has_errors()`.
///
/// ```
/// use fsm_codegen::{Source, check};
/// let source = Source::new("m.yaml", "name: M\nstates:\n  - { name: a, is_start: true, is_end: true }\n");
/// let (machine, diagnostics) = check(&source);
/// assert!(machine.is_some() && diagnostics.is_empty());
/// ```
pub fn check(source: &Source) -> (Option<ast::Machine>, Diagnostics) {
    let (machine, mut diagnostics) = syntax::yaml::parse(source);
    if let Some(machine) = &machine {
        diagnostics.extend(validate::validate_in(machine, source));
    }
    diagnostics.sort();
    (machine, diagnostics)
}
