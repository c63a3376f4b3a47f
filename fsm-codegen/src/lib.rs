//! The fsm compiler: `load -> parse -> validate -> lower -> generate -> emit`.
//!
//! Both front ends (YAML files and the `fsm!` DSL) produce the same spanned [`ast`]; [`analyze`]
//! is the one gate from there to the [`ir`]: it runs every check of [`validate`] (everything wrong
//! is reported at once as [`diagnostics`]) and only a machine without errors is lowered, with its
//! names resolved and its settings typed. [`generate`] is the one pipeline after a front end
//! (gate, then generator): [`compile`] (the CLI and the build.rs [`Config`]) and the proc-macros
//! (`expand`) all go through it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ast;
pub mod attributes;
pub mod builtins;
pub mod codegen;
pub mod config;
pub mod depth;
pub mod diagnostics;
pub mod emit;
pub mod expand;
pub mod ir;
mod lower;
pub mod naming;
pub mod resources;
#[cfg(feature = "schema")]
pub mod schema;
pub mod skeleton;
pub mod span;
pub mod syntax;
pub mod validate;

pub use config::Config;
pub use diagnostics::{Diagnostic, Diagnostics, Severity, codes};
pub use lower::DEFAULT_MAX_TRANSITIONS;
pub use span::{Source, Span, Spanned};

/// Reads a YAML machine and checks it completely: the machine (when the text could be read as
/// one) and every problem found, sorted by position. The checks are those of [`analyze`], so a
/// machine without errors here is one the generator compiles.
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
    diagnostics.settle();
    (machine, diagnostics)
}

/// A machine that passed [`analyze`]: its IR, and the warnings found on the way.
#[derive(Clone, Debug)]
pub struct Analyzed {
    /// The IR.
    pub ir: ir::Machine,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
}

/// The one gate from a machine to its IR: every check runs, and the machine is lowered only when
/// none failed. `source` is the text it was read from, when there is one, so that a Rust syntax
/// error inside a YAML string points at the exact character.
///
/// # Errors
///
/// Every diagnostic (errors and warnings), sorted, when some check failed.
///
/// ```
/// use fsm_codegen::{Source, analyze, syntax};
/// let source = Source::new("m.yaml", "name: M\nstates:\n  - { name: a, is_start: true, is_end: true }\n");
/// let (machine, _) = syntax::yaml::parse(&source);
/// let analyzed = analyze(&machine.unwrap(), Some(&source)).unwrap();
/// assert_eq!(analyzed.ir.main_network().states[0].ident, "A");
/// ```
pub fn analyze(machine: &ast::Machine, source: Option<&Source>) -> Result<Analyzed, Diagnostics> {
    let (valid, warnings) = validate::gate(machine, source)?;
    Ok(Analyzed {
        ir: lower::lower(valid),
        warnings,
    })
}

/// A machine generated as tokens by [`generate`].
#[derive(Clone, Debug)]
pub struct Generated {
    /// The items (what a proc-macro returns).
    pub tokens: proc_macro2::TokenStream,
    /// The IR they were generated from.
    pub ir: ir::Machine,
    /// Warnings found on the way.
    pub warnings: Diagnostics,
}

/// The pipeline after a front end: [`analyze`], then the Rust generator. Every way of compiling a
/// machine (the CLI, the build.rs [`Config`], `fsm!` and `fsm_file!`) goes through here.
///
/// # Errors
///
/// Every diagnostic when the machine has errors.
pub fn generate(
    machine: &ast::Machine,
    source: Option<&Source>,
    options: &codegen::Options,
) -> Result<Generated, Diagnostics> {
    let Analyzed { ir, warnings } = analyze(machine, source)?;
    Ok(Generated {
        tokens: codegen::generate_with(&ir, options),
        ir,
        warnings,
    })
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

/// [`compile`] with generator options: the YAML front end, [`generate`], and the formatted text.
///
/// # Errors
///
/// Every diagnostic when the machine has errors.
pub fn compile_with(source: &Source, options: &codegen::Options) -> Result<Compiled, Diagnostics> {
    let (machine, mut diagnostics) = syntax::yaml::parse(source);
    let Some(machine) = machine else {
        diagnostics.settle();
        return Err(diagnostics);
    };
    match generate(&machine, Some(source), options) {
        Ok(generated) if !diagnostics.has_errors() => {
            diagnostics.extend(generated.warnings);
            diagnostics.settle();
            Ok(Compiled {
                code: emit::format(&generated.tokens),
                tokens: generated.tokens,
                ir: generated.ir,
                warnings: diagnostics,
            })
        }
        Ok(generated) => {
            diagnostics.extend(generated.warnings);
            diagnostics.settle();
            Err(diagnostics)
        }
        Err(more) => {
            diagnostics.extend(more);
            diagnostics.settle();
            Err(diagnostics)
        }
    }
}
