//! What resources cost a state function, in one run: the same machine (start -> work -> done,
//! `work` runs one transform that does nothing with the record) without resources, and with a
//! `file` resource whose handle its context carries (`Context<'_, WithResources>`), per record.
//! The transform ignores the handle: the figure is the price of carrying it, which should be
//! nothing.
//!
//! `cargo bench -p fsm-benches --bench resources` prints the paired wall-clock ratio (the two
//! take turns, each keeps its fastest round, as in `machines.rs`). For instructions, counted by
//! callgrind whatever the load:
//!
//! ```text
//! cargo bench -p fsm-benches --bench resources --no-run
//! for c in without with; do FSM_BENCH_COUNT=$c valgrind --tool=callgrind \
//!     --toggle-collect='*measured*' --callgrind-out-file=/dev/null target/release/deps/resources-<hash>; done
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use fsm::runtime::{Context, FnError};

mod without {
    fsm::fsm! {
        machine Without {
            data: u64;
            data_mode: direct;
            network main {
                start state start;
                state work { transform: noop; }
                end state done;
                start -> work;
                work -> done;
            }
        }
    }
}

mod with {
    fsm::fsm! {
        machine With {
            data: u64;
            data_mode: direct;
            resources { files: file { dir: "." } }
            network main {
                start state start;
                state work { transform: noop; resources: [files]; }
                end state done;
                start -> work;
                work -> done;
            }
        }
    }
}

struct Fns;

impl without::WithoutFns for Fns {
    #[inline]
    fn noop(&self, data: &mut u64, _: &mut Context<'_>) -> Result<(), FnError> {
        *data = black_box(*data);
        Ok(())
    }
}

impl with::WithFns for Fns {
    #[inline]
    fn noop(&self, data: &mut u64, _: &mut Context<'_, with::WithResources>) -> Result<(), FnError> {
        *data = black_box(*data);
        Ok(())
    }
}

/// Records per round.
const RECORDS: u64 = 100_000;

fn feed_without(m: &without::Without<Fns>) -> u64 {
    let mut sum = 0;
    for i in 0..RECORDS {
        if let Ok(out) = m.run(black_box(i)) {
            sum += out.data;
        }
    }
    sum
}

fn feed_with(m: &with::With<Fns>) -> u64 {
    let mut sum = 0;
    for i in 0..RECORDS {
        if let Ok(out) = m.run(black_box(i)) {
            sum += out.data;
        }
    }
    sum
}

/// The part callgrind counts (`--toggle-collect=*measured*`).
#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let plain = without::Without::new(Fns);
    let held = with::With::new(Fns, with::WithResources::open()?);
    let expected: u64 = (0..RECORDS).sum();
    if feed_without(&plain) != expected || feed_with(&held) != expected {
        return Err("the machines disagree".into());
    }
    if let Ok(which) = std::env::var("FSM_BENCH_COUNT") {
        let sum = match which.as_str() {
            "without" => measured(|| feed_without(&plain)),
            "with" => measured(|| feed_with(&held)),
            other => return Err(format!("FSM_BENCH_COUNT: `without` or `with`, not `{other}`").into()),
        };
        println!("{which}: {RECORDS} records ({sum})");
        return Ok(());
    }
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list`: nothing for the harness to list
    }
    // Paired: the two take turns; each keeps its fastest round.
    let (mut best_without, mut best_with) = (Duration::MAX, Duration::MAX);
    for _ in 0..30 {
        let t = Instant::now();
        black_box(feed_without(&plain));
        best_without = best_without.min(t.elapsed());
        let t = Instant::now();
        black_box(feed_with(&held));
        best_with = best_with.min(t.elapsed());
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / RECORDS as f64;
    println!(
        "resources/without  {:8.2} ns/record\nresources/with     {:8.2} ns/record  {:.3}x vs resources/without",
        per(best_without),
        per(best_with),
        best_with.as_secs_f64() / best_without.as_secs_f64()
    );
    Ok(())
}
