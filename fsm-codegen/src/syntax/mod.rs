//! Front ends: each turns one kind of input into the spanned [`crate::ast`].

pub mod dsl;
pub mod keys;
pub mod yaml;
