//! Runnable examples of `fsm`: YAML machines in `machines/`, compiled by build.rs, with their Rust
//! functions and data.

pub mod api;
pub mod api_server;
pub mod booking;
pub mod orders;
pub mod processor;
pub mod record;

pub use processor::streaming_machine;
pub use record::Record;
