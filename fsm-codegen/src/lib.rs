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
pub mod codegen;
pub mod config;
pub mod depth;
pub mod diagnostics;
pub mod emit;
pub mod expand;
pub mod ir;
pub mod lower;
pub mod naming;
pub mod resources;
pub mod schema;
pub mod skeleton;
pub mod span;
pub mod syntax;
pub mod validate;

pub use config::Config;
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

/// A machine compiled to Rust.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The formatted code, with its `@generated` header: the content of the generated file.
    pub code: String,
    /// The same items as tokens (what a proc-macro returns).
    pub tokens: proc_macro2::TokenStream,
    /// The IR the code was generated from (for diagrams and tools).
    pub ir: ir::Machine,
    /// Warnings found on the way (errors make [`compile`] fail instead).
    pub warnings: Diagnostics,
}

/// Reads, checks, lowers and generates a YAML machine: the whole pipeline, with the default
/// [`codegen::Options`].
///
/// # Errors
///
/// Every diagnostic (errors and warnings) when the machine has errors.
///
/// ```
/// use fsm_codegen::{Source, compile};
/// let source = Source::new("m.yaml", "name: M\nstates:\n  - { name: a, is_start: true, is_end: true }\n");
/// let compiled = compile(&source).unwrap();
/// assert!(compiled.code.contains("pub enum MState"));
/// ```
pub fn compile(source: &Source) -> Result<Compiled, Diagnostics> {
    compile_with(source, &codegen::Options::default())
}

/// [`compile`] with generator options.
///
/// # Errors
///
/// Every diagnostic when the machine has errors.
pub fn compile_with(source: &Source, options: &codegen::Options) -> Result<Compiled, Diagnostics> {
    let (machine, diagnostics) = check(source);
    match machine {
        Some(machine) if !diagnostics.has_errors() => {
            let ir = lower::lower(&machine);
            let tokens = codegen::generate_with(&ir, options);
            let code = emit::format(&tokens);
            Ok(Compiled {
                code,
                tokens,
                ir,
                warnings: diagnostics,
            })
        }
        _ => Err(diagnostics),
    }
}
