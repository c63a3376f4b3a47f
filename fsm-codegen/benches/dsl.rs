//! Expansion cost of `fsm!`: what the proc-macro does for a 200-state machine (parse the tokens,
//! check, lower, generate), against a baseline in the same run: syn walking every token of the
//! same input (`syn::parse2` of a parser that visits each token tree, groups included).
//!
//! `cargo bench -p fsm-codegen --bench dsl`
//!
//! In a real expansion the tokens are the compiler's (`proc_macro`), here proc-macro2's fallback;
//! both sides of the ratio pay the same.

use criterion::{Criterion, criterion_group, criterion_main};
use proc_macro2::{TokenStream, TokenTree};
use std::hint::black_box;
use syn::parse::{ParseStream, Parser};

/// A 200-state, event-driven machine in two networks: a chain of states with guarded arcs,
/// inline Rust, transforms on states and arcs, priorities and a push arc.
fn machine_tokens(states: usize) -> TokenStream {
    let mut body = String::new();
    body.push_str("/// A big machine.\nmachine Big {\n data: u64;\n data_mode: copy;\n main_network: main;\n");
    body.push_str(" events { /// Go on.\n Next(u64), Skip, Reset }\n");
    body.push_str(" /// The main chain.\n network main {\n");
    for i in 0..states {
        let kind = if i == 0 {
            "start "
        } else if i == states - 1 {
            "end "
        } else {
            ""
        };
        if i % 3 == 0 && i != states - 1 {
            body.push_str(&format!(
                "  /// State {i}.\n  {kind}state s{i} {{ validate: check_{i}; transform: [step_{i}, rust!(*data += {i})]; on_error: s{last}; }}\n",
                last = states - 1
            ));
        } else {
            body.push_str(&format!("  {kind}state s{i};\n"));
        }
    }
    for i in 0..states - 1 {
        let next = i + 1;
        body.push_str(&format!(
            "  s{i} -> s{next} on Next if rust!(*payload > {i}) priority 2 do move_{i};\n"
        ));
        if i + 2 < states {
            body.push_str(&format!("  s{i} -> s{} on Skip;\n", i + 2));
        }
        if i % 50 == 1 {
            body.push_str(&format!("  s{i} -> push side return s{next} on Reset;\n"));
        }
    }
    body.push_str(" }\n network side { start state a; end state b; a -> b do side_step; }\n}\n");
    match body.parse() {
        Ok(tokens) => tokens,
        Err(e) => panic!("bench input does not tokenize: {e}"),
    }
}

/// Visits every token, descending into groups: the least any parser of these tokens does.
fn walk(input: ParseStream<'_>) -> syn::Result<usize> {
    let mut n = 0;
    while !input.is_empty() {
        match input.parse::<TokenTree>()? {
            TokenTree::Group(g) => n += walk.parse2(g.stream())? + 1,
            _ => n += 1,
        }
    }
    Ok(n)
}

fn bench(c: &mut Criterion) {
    let tokens = machine_tokens(200);
    // Sanity: the machine is valid, and the expansion is code, not errors.
    let parsed = fsm_codegen::syntax::dsl::parse(tokens.clone());
    assert!(!parsed.has_errors(), "{:?}", parsed.syntax_errors);
    let machine = parsed.machine.expect("machine");
    let (diagnostics, code) = fsm_codegen::expand::compile_ast(&machine);
    assert!(!diagnostics.has_errors(), "{diagnostics:?}");
    let generated = code.map(|c| c.to_string().len()).unwrap_or(0);
    let states: usize = machine.networks.iter().map(|n| n.states.len()).sum();
    let arcs: usize = machine.networks.iter().map(|n| n.arcs.len()).sum();
    eprintln!(
        "machine: {states} states, {arcs} arcs, {} input tokens, {generated} bytes of generated tokens",
        walk.parse2(tokens.clone()).unwrap_or(0)
    );

    let mut g = c.benchmark_group("fsm! 200 states");
    g.bench_function("baseline: syn::parse2 token walk", |b| {
        b.iter(|| walk.parse2(black_box(tokens.clone())))
    });
    g.bench_function("dsl::parse (tokens -> AST)", |b| {
        b.iter(|| fsm_codegen::syntax::dsl::parse(black_box(tokens.clone())))
    });
    g.bench_function("validate", |b| {
        b.iter(|| fsm_codegen::validate::validate(black_box(&machine)))
    });
    g.bench_function("analyze (validate + lower)", |b| {
        b.iter(|| fsm_codegen::analyze(black_box(&machine), None))
    });
    let ir = match fsm_codegen::analyze(&machine, None) {
        Ok(analyzed) => analyzed.ir,
        Err(_) => panic!("the benchmark machine is valid"),
    };
    g.bench_function("generate (codegen::generate of the IR)", |b| {
        b.iter(|| fsm_codegen::codegen::generate(black_box(&ir)))
    });
    g.bench_function("whole expansion (expand::dsl)", |b| {
        b.iter(|| fsm_codegen::expand::dsl(black_box(tokens.clone()), &|_| None))
    });
    // What a pass over the generated code costs: syn parsing it as a file and printing it back
    // (the generator does this once to mark items `#[allow(dead_code)]`).
    let generated = fsm_codegen::codegen::generate(&ir);
    g.bench_function("reference: syn::parse2::<File> + print of the generated code", |b| {
        b.iter(|| {
            let file = syn::parse2::<syn::File>(black_box(generated.clone()));
            file.map(|f| quote::ToTokens::to_token_stream(&f))
        })
    });
    g.finish();
}

/// A plain 200-state chain, data-driven, one named transform per state: the simplest machine of
/// that size, to separate the cost of size from the cost of features.
fn plain_tokens(states: usize) -> TokenStream {
    let mut body = String::from("machine Chain {\n data: u64;\n");
    for i in 0..states {
        let kind = match i {
            0 => "start ",
            _ if i == states - 1 => "end ",
            _ => "",
        };
        body.push_str(&format!(" {kind}state s{i} {{ transform: step; }}\n"));
    }
    for i in 0..states - 1 {
        body.push_str(&format!(" s{i} -> s{};\n", i + 1));
    }
    body.push_str("}\n");
    match body.parse() {
        Ok(tokens) => tokens,
        Err(e) => panic!("bench input does not tokenize: {e}"),
    }
}

fn bench_plain(c: &mut Criterion) {
    let tokens = plain_tokens(200);
    let out = fsm_codegen::expand::dsl(tokens.clone(), &|_| None).to_string();
    assert!(!out.contains("compile_error"), "{out}");
    eprintln!("plain chain: {} bytes of generated tokens", out.len());
    let mut g = c.benchmark_group("fsm! 200-state chain");
    g.bench_function("baseline: syn::parse2 token walk", |b| {
        b.iter(|| walk.parse2(black_box(tokens.clone())))
    });
    g.bench_function("whole expansion (expand::dsl)", |b| {
        b.iter(|| fsm_codegen::expand::dsl(black_box(tokens.clone()), &|_| None))
    });
    g.finish();
}

criterion_group!(benches, bench, bench_plain);
criterion_main!(benches);
