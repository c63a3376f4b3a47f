//! Machine speed, in one run (issue 3), as ratios against a hand-written baseline measured in the
//! same run (`scripts/bench.sh` prints them):
//!
//! 1. `cd_player/*`: the Boost.MSM CD player generated from `machines/cd_player.yaml`, a
//!    hand-written `match`, statig, smlang and rust-fsm, over the same 10 000 valid events, each
//!    through `black_box`. Time per iteration / 10 000 = time per event.
//! 2. `processor/*`: seed 001's StreamingProcessor per record, generated vs a plain function.
//! 3. `processor/generated_copy` vs `processor/generated_direct`: the same machine in copy and in
//!    direct mode.
//!
//! Before each criterion group, a paired measurement prints the same ratios measured with the
//! implementations taking turns (see [`paired`]): on a machine shared with other work, criterion's
//! one-after-the-other samples drift with the load, the paired ratios much less.
//! Every implementation is first checked against the baseline (same data out), so a benchmark never
//! times a machine that does something else.

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
// The record type as the machine definitions name it (`data: crate::Record`).
use fsm_examples::Record;

mod cd_player;
mod processor;

/// Events per iteration of the CD player benchmarks.
const EVENTS: usize = 10_000;
/// Records per iteration of the processor benchmarks.
const RECORDS: u64 = 1_000;

/// The statechart deck: generated vs the hand-written `match` that inlines the exit and entry
/// actions vs statig's superstates.
fn cd_deck(c: &mut Criterion) {
    use cd_player::deck::{generated, handwritten, statig_impl};
    let events = cd_player::events(EVENTS);
    cd_player::deck::check(&events);
    if measuring() {
        paired(
            "cd_deck",
            EVENTS,
            &mut [
                (
                    "handwritten",
                    &mut timed(|| handwritten::prepare(&events), handwritten::feed),
                ),
                ("generated", &mut timed(|| generated::prepare(&events), generated::feed)),
                (
                    "statig",
                    &mut timed(|| statig_impl::prepare(&events), statig_impl::feed),
                ),
            ],
        );
    }
    let mut group = c.benchmark_group("cd_deck");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("handwritten", |b| {
        b.iter_batched_ref(
            || handwritten::prepare(&events),
            handwritten::feed,
            BatchSize::LargeInput,
        )
    });
    group.bench_function("generated", |b| {
        b.iter_batched_ref(|| generated::prepare(&events), generated::feed, BatchSize::LargeInput)
    });
    group.bench_function("statig", |b| {
        b.iter_batched_ref(
            || statig_impl::prepare(&events),
            statig_impl::feed,
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn cd_player(c: &mut Criterion) {
    use cd_player::{generated, handwritten, rust_fsm_impl, smlang_impl, statig_impl};
    let events = cd_player::events(EVENTS);
    cd_player::check(&events);
    if measuring() {
        paired(
            "cd_player",
            EVENTS,
            &mut [
                (
                    "handwritten",
                    &mut timed(|| handwritten::prepare(&events), handwritten::feed),
                ),
                ("generated", &mut timed(|| generated::prepare(&events), generated::feed)),
                (
                    "statig",
                    &mut timed(|| statig_impl::prepare(&events), statig_impl::feed),
                ),
                (
                    "smlang",
                    &mut timed(|| smlang_impl::prepare(&events), smlang_impl::feed),
                ),
                (
                    "rust_fsm",
                    &mut timed(|| rust_fsm_impl::prepare(&events), rust_fsm_impl::feed),
                ),
            ],
        );
    }
    let mut group = c.benchmark_group("cd_player");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("handwritten", |b| {
        b.iter_batched_ref(
            || handwritten::prepare(&events),
            handwritten::feed,
            BatchSize::LargeInput,
        )
    });
    group.bench_function("generated", |b| {
        b.iter_batched_ref(|| generated::prepare(&events), generated::feed, BatchSize::LargeInput)
    });
    group.bench_function("statig", |b| {
        b.iter_batched_ref(
            || statig_impl::prepare(&events),
            statig_impl::feed,
            BatchSize::LargeInput,
        )
    });
    group.bench_function("smlang", |b| {
        b.iter_batched_ref(
            || smlang_impl::prepare(&events),
            smlang_impl::feed,
            BatchSize::LargeInput,
        )
    });
    group.bench_function("rust_fsm", |b| {
        b.iter_batched_ref(
            || rust_fsm_impl::prepare(&events),
            rust_fsm_impl::feed,
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// A measurement that holds on a busy machine: the implementations take turns, many rounds, and
/// each keeps its fastest time. Load that comes and goes hits them all alike, where criterion
/// measures one after the other. Each contender prepares its input, then returns the time its
/// measured part took. Prints time per element and the ratio to the first contender.
fn paired(title: &str, elements: usize, contenders: &mut [(&str, &mut dyn FnMut() -> Duration)]) {
    const ROUNDS: usize = 1000;
    let mut best = vec![Duration::MAX; contenders.len()];
    for round in 0..ROUNDS {
        for k in 0..contenders.len() {
            // Rotate the order so that no contender always follows the same one.
            let i = (k + round) % contenders.len();
            best[i] = best[i].min((contenders[i].1)());
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / elements as f64;
    println!("\n{title} (paired: fastest of {ROUNDS} interleaved runs)");
    for (i, (name, _)) in contenders.iter().enumerate() {
        let ns = per(best[i]);
        println!("  {name:<20} {ns:8.2} ns/elem {:6.2}x", ns / per(best[0]));
    }
    println!();
}

/// Times `feed` on a freshly prepared input.
fn timed<P, T>(prepare: impl Fn() -> P, feed: impl Fn(&mut P) -> T) -> impl FnMut() -> Duration {
    move || {
        let mut input = prepare();
        let start = Instant::now();
        let out = feed(&mut input);
        let took = start.elapsed();
        drop(std::hint::black_box((out, input)));
        took
    }
}

/// Whether the benchmarks are measured (`cargo bench`) rather than smoke-tested (`cargo test`).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn processor(c: &mut Criterion) {
    let records = processor::records(RECORDS);
    let expected = processor::expected_output(&records);
    assert!(expected > 0 && (expected as usize) < records.len());
    processor::check(&records);
    let (copy, direct) = (processor::copy_machine(), processor::direct_machine());
    let plain = processor::feed_plain;
    let copy_mode = |r: &mut Vec<_>| processor::feed_copy(&copy, r);
    let direct_mode = |r: &mut Vec<_>| processor::feed_direct(&direct, r);
    if measuring() {
        paired(
            "processor",
            records.len(),
            &mut [
                ("plain", &mut timed(|| records.clone(), plain)),
                ("generated_copy", &mut timed(|| records.clone(), copy_mode)),
                ("generated_direct", &mut timed(|| records.clone(), direct_mode)),
            ],
        );
    }
    let mut group = c.benchmark_group("processor");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("plain", |b| {
        b.iter_batched_ref(|| records.clone(), plain, BatchSize::LargeInput)
    });
    group.bench_function("generated_copy", |b| {
        b.iter_batched_ref(|| records.clone(), copy_mode, BatchSize::LargeInput)
    });
    group.bench_function("generated_direct", |b| {
        b.iter_batched_ref(|| records.clone(), direct_mode, BatchSize::LargeInput)
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = cd_player, cd_deck, processor
}

/// `FSM_BENCH_COUNT=<contender>`: instead of timing, feed that contender its input
/// `FSM_BENCH_ROUNDS` times (default 100) and exit, so that `scripts/callgrind.sh` can count the
/// instructions it takes under valgrind (load-independent); it counts only inside [`measured`], so
/// preparing the inputs is left out. Contenders: `cd_player/{handwritten,generated,statig,smlang,
/// rust_fsm}`, `cd_deck/{handwritten,generated,statig}`, `processor/{plain,generated_copy,generated_direct}`.
fn count_instructions(which: &str) {
    use cd_player::{generated, handwritten, rust_fsm_impl, smlang_impl, statig_impl};
    let rounds: usize = std::env::var("FSM_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let events = cd_player::events(EVENTS);
    let records = processor::records(RECORDS);
    let (copy, direct) = (processor::copy_machine(), processor::direct_machine());
    let mut sink = 0u64;
    for _ in 0..rounds {
        sink += u64::from(match which {
            "cd_player/handwritten" => {
                let mut p = handwritten::prepare(&events);
                measured(|| handwritten::feed(&mut p))
            }
            "cd_player/generated" => {
                let mut p = generated::prepare(&events);
                measured(|| generated::feed(&mut p))
            }
            "cd_player/statig" => {
                let mut p = statig_impl::prepare(&events);
                measured(|| statig_impl::feed(&mut p))
            }
            "cd_player/smlang" => {
                let mut p = smlang_impl::prepare(&events);
                measured(|| smlang_impl::feed(&mut p))
            }
            "cd_player/rust_fsm" => {
                let mut p = rust_fsm_impl::prepare(&events);
                measured(|| rust_fsm_impl::feed(&mut p))
            }
            "cd_deck/handwritten" => {
                let mut p = cd_player::deck::handwritten::prepare(&events);
                measured(|| cd_player::deck::handwritten::feed(&mut p))
            }
            "cd_deck/generated" => {
                let mut p = cd_player::deck::generated::prepare(&events);
                measured(|| cd_player::deck::generated::feed(&mut p))
            }
            "cd_deck/statig" => {
                let mut p = cd_player::deck::statig_impl::prepare(&events);
                measured(|| cd_player::deck::statig_impl::feed(&mut p))
            }
            "processor/plain" => {
                let mut r = records.clone();
                measured(|| processor::feed_plain(&mut r))
            }
            "processor/generated_copy" => {
                let mut r = records.clone();
                measured(|| processor::feed_copy(&copy, &mut r))
            }
            "processor/generated_direct" => {
                let mut r = records.clone();
                measured(|| processor::feed_direct(&direct, &mut r))
            }
            other => {
                eprintln!("FSM_BENCH_COUNT: unknown contender `{other}`");
                std::process::exit(2);
            }
        });
    }
    println!("{which}: {rounds} rounds ({sink})");
}

/// The part `scripts/callgrind.sh` counts (`--toggle-collect=*measured*`).
#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    std::hint::black_box(f())
}

fn main() {
    if let Ok(which) = std::env::var("FSM_BENCH_COUNT") {
        count_instructions(&which);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
