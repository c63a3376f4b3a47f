//! The YAML front end on arbitrary bytes: decode, parse, validate, render every report (human
//! and JSON) and, when the machine is valid, lower and generate. Nothing may panic, abort or
//! overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = match fsm_codegen::span::decode("fuzz.yaml", data) {
        Ok(source) => source,
        Err((source, diagnostic)) => {
            let mut diagnostics = fsm_codegen::Diagnostics::new();
            diagnostics.push(diagnostic);
            let _ = diagnostics.render(&source);
            return;
        }
    };
    let (machine, diagnostics) = fsm_codegen::check(&source);
    let _ = diagnostics.render(&source);
    let _ = diagnostics.to_json(&source);
    if let Some(machine) = machine
        && !diagnostics.has_errors()
    {
        let _ = machine;
        let _ = fsm_codegen::compile(&source);
    }
});
