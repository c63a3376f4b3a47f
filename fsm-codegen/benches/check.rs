//! Checking a large machine: 1,000 states and 3,000 arcs, read from YAML text and checked
//! completely (`fsm_codegen::check`), against two baselines measured in the same run: scanning the
//! same text with saphyr-parser's event parser alone (the floor of any YAML reader built on it),
//! and our reader without the checks.

use criterion::{Criterion, criterion_group, criterion_main};
use fsm_codegen::Source;
use std::fmt::Write;
use std::hint::black_box;

const STATES: usize = 1_000;

/// `s0` starts, `s999` ends; every other state has two conditional arcs (to pseudo-random
/// states) and an unconditional fallback to the next state; `s0` has three more conditional arcs.
fn machine() -> String {
    let mut text = String::from("name: Large\ndata: crate::Record\nstates:\n");
    for i in 0..STATES {
        let flag = match i {
            0 => ", is_start: true",
            i if i == STATES - 1 => ", is_end: true",
            _ => "",
        };
        let _ = writeln!(text, "  - {{ name: s{i}{flag}, transform: step_{} }}", i % 20);
    }
    text.push_str("arcs:\n");
    let mut arcs = 0;
    for i in 0..STATES - 1 {
        let extra = if i == 0 { 3 } else { 0 };
        for k in 0..2 + extra {
            let to = (i * (7 + 6 * k) + 3 + k) % STATES;
            let _ = writeln!(text, "  - {{ from: s{i}, to: s{to}, condition: c{} }}", (i + k) % 50);
            arcs += 1;
        }
        let _ = writeln!(text, "  - {{ from: s{i}, to: s{} }}", i + 1);
        arcs += 1;
    }
    assert_eq!(arcs, 3_000);
    text
}

fn bench(c: &mut Criterion) {
    let text = machine();
    let source = Source::new("large.yaml", text.as_str());
    let (machine, diagnostics) = fsm_codegen::check(&source);
    assert!(
        machine.is_some() && !diagnostics.has_errors(),
        "{}",
        diagnostics.render(&source)
    );

    let mut group = c.benchmark_group("1000 states, 3000 arcs");
    group.bench_function("saphyr-parser events (baseline)", |b| {
        b.iter(|| saphyr_parser::Parser::new_from_str(black_box(&text)).count())
    });
    group.bench_function("read (yaml -> ast)", |b| {
        b.iter(|| fsm_codegen::syntax::yaml::parse(black_box(&source)))
    });
    if let Some(machine) = &machine {
        group.bench_function("validate (ast -> diagnostics)", |b| {
            b.iter(|| fsm_codegen::validate::validate_in(black_box(machine), &source))
        });
    }
    group.bench_function("check (read + validate)", |b| {
        b.iter(|| fsm_codegen::check(black_box(&source)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
