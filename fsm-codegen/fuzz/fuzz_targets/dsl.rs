//! The `fsm!` front end on arbitrary text: tokenize (what rustc would hand the macro), then the
//! whole expansion (parse, validate, lower, generate or the compile errors). Nothing may panic,
//! abort or overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Unbalanced delimiters do not tokenize: rustc rejects them before any macro runs.
    let Ok(tokens) = text.parse::<proc_macro2::TokenStream>() else {
        return;
    };
    let _ = fsm_codegen::expand::dsl(tokens, &|_| None);
});
