//! Generators: everything here reads only the [`ir`](crate::ir) and never fails on user input.
//!
//! * [`rust`]: the Rust items of a machine (quote tokens; [`crate::emit`] formats them).
//! * [`diagram`]: Mermaid and DOT diagrams (minijinja templates).
//! * `resources`: the resources struct of a machine that declares resources, and what the machine
//!   and run types of [`rust`] need to hold it.

pub mod diagram;
mod resources;
pub mod rust;

pub use rust::{Options, UserSpans, generate, generate_with};
