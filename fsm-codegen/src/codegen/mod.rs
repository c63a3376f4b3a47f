//! Generators: everything here reads only the [`ir`](crate::ir) and never fails on user input.
//!
//! * [`rust`]: the Rust items of a machine (quote tokens; [`crate::emit`] formats them).
//! * [`diagram`]: Mermaid and DOT diagrams (minijinja templates).

pub mod diagram;
pub mod rust;

pub use rust::{Options, generate, generate_with};
