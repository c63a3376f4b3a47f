//! The proc-macros of the `fsm` crate: `fsm!` (a machine inline, in a Rust-flavoured DSL) and
//! `fsm_file!` (a YAML machine read at compile time). Both are shims over
//! [`fsm_codegen::expand`]; use them through the facade crate `fsm`, whose documentation and
//! `docs/dsl.md` describe the grammar.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use proc_macro::TokenStream;

/// Declares a state machine inline. The grammar reads like the YAML format (see `docs/dsl.md`):
///
/// ```ignore
/// fsm::fsm! {
///     /// An order.
///     machine Order {
///         data: crate::Order;
///         events { Pay(u64), Ship }
///         start state new;
///         state paid { transform: charge; }
///         end state shipped;
///         new -> paid on Pay;
///         paid -> shipped on Ship;
///     }
/// }
/// ```
///
/// Mistakes are reported at the exact token, all at once, with the codes of the YAML path.
#[proc_macro]
pub fn fsm(input: TokenStream) -> TokenStream {
    fsm_codegen::expand::dsl(input.into(), &locate).into()
}

/// Compiles the YAML machine at a path relative to the crate root (`CARGO_MANIFEST_DIR`):
/// `fsm_file!("machines/order.yaml")`. Absolute paths and paths leaving the crate are refused.
/// Editing the file rebuilds the crate on the next `cargo build`; no build script is needed.
#[proc_macro]
pub fn fsm_file(input: TokenStream) -> TokenStream {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    fsm_codegen::expand::file(input.into(), manifest_dir.as_deref()).into()
}

/// Line and column (1-based) of a token, for notes such as "first defined here (line 3,
/// column 9)".
fn locate(span: proc_macro2::Span) -> Option<(usize, usize)> {
    let start = span.start();
    (start.line > 0).then_some((start.line, start.column + 1))
}
