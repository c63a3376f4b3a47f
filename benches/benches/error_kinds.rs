//! What kinds of errors cost, in one run (issue 13): the same machine (start -> work, on to
//! `done`, or on an error to a state that takes it) written twice. `untyped`: `work` fails with
//! an error of no kind and one `on_error: failed` takes it. `kinds`: `work` fails with one of two
//! declared kinds and `on_error: [transient] -> later, [invalid] -> rejected, failed` chooses by
//! kind; `retry: { on: .. }` is left out, so that both do the same work per record. One record in
//! eight fails, alternating the kinds; the others go through. Per record.
//!
//! `cargo bench -p fsm-benches --bench error_kinds` prints the paired wall-clock ratio (the two
//! take turns, each keeps its fastest round). For instructions, counted by callgrind whatever the
//! load:
//!
//! ```text
//! cargo bench -p fsm-benches --bench error_kinds --no-run
//! for c in untyped kinds; do FSM_BENCH_COUNT=$c valgrind --tool=callgrind \
//!     --toggle-collect='*measured*' --callgrind-out-file=/dev/null target/release/deps/error_kinds-<hash>; done
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use fsm::runtime::{Context, FnError};

mod untyped {
    fsm::fsm! {
        machine Untyped {
            data: u64;
            data_mode: direct;
            start state start;
            state work { transform: work; on_error: failed; }
            end state done;
            end state failed;
            start -> work;
            work -> done;
        }
    }
}

mod kinds {
    fsm::fsm! {
        machine Kinds {
            data: u64;
            data_mode: direct;
            errors { transient, invalid }
            start state start;
            state work { transform: work; on_error: [transient] -> later, [invalid] -> rejected, failed; }
            end state done;
            end state later;
            end state rejected;
            end state failed;
            start -> work;
            work -> done;
        }
    }
}

struct Fns;

impl untyped::UntypedFns for Fns {
    #[inline]
    fn work(&self, data: &mut u64, _: &mut Context<'_>) -> Result<(), FnError> {
        let n = black_box(*data);
        if n % 8 == 7 {
            // The same two failures, told apart in the message only.
            let why = if n % 16 == 7 {
                "record refused: transient"
            } else {
                "record refused: invalid"
            };
            return Err(FnError::new(why));
        }
        *data = n;
        Ok(())
    }
}

impl kinds::KindsFns for Fns {
    #[inline]
    fn work(&self, data: &mut u64, _: &mut Context<'_>) -> Result<(), FnError> {
        let n = black_box(*data);
        if n % 8 == 7 {
            let kind = if n % 16 == 7 {
                kinds::KindsErrorKind::Transient
            } else {
                kinds::KindsErrorKind::Invalid
            };
            return Err(kind.error("record refused"));
        }
        *data = n;
        Ok(())
    }
}

/// Records per round.
const RECORDS: u64 = 100_000;

fn feed_untyped(m: &untyped::Untyped<Fns>) -> (u64, [u64; 2]) {
    let mut sum = 0;
    let mut ends = [0; 2];
    for i in 0..RECORDS {
        if let Ok(out) = m.run(black_box(i)) {
            sum += out.data;
            ends[out.end as usize] += 1;
        }
    }
    (sum, ends)
}

fn feed_kinds(m: &kinds::Kinds<Fns>) -> (u64, [u64; 4]) {
    let mut sum = 0;
    let mut ends = [0; 4];
    for i in 0..RECORDS {
        if let Ok(out) = m.run(black_box(i)) {
            sum += out.data;
            ends[out.end as usize] += 1;
        }
    }
    (sum, ends)
}

/// The part callgrind counts (`--toggle-collect=*measured*`).
#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let plain = untyped::Untyped::new(Fns);
    let typed = kinds::Kinds::new(Fns);
    // The kinds machine took the arc of each kind, as often as the records say.
    let (sum, ends) = feed_kinds(&typed);
    if ends != [RECORDS - RECORDS / 8, RECORDS / 16, RECORDS / 16, 0] || feed_untyped(&plain).0 != sum {
        return Err(format!("the machines disagree: the kinds machine ended {ends:?}").into());
    }
    if let Ok(which) = std::env::var("FSM_BENCH_COUNT") {
        match which.as_str() {
            "untyped" => drop(measured(|| feed_untyped(&plain))),
            "kinds" => drop(measured(|| feed_kinds(&typed))),
            other => return Err(format!("FSM_BENCH_COUNT: `untyped` or `kinds`, not `{other}`").into()),
        }
        println!("{which}: {RECORDS} records");
        return Ok(());
    }
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list`: nothing for the harness to list
    }
    // Paired: the two take turns; each keeps its fastest round.
    let (mut best_untyped, mut best_kinds) = (Duration::MAX, Duration::MAX);
    for _ in 0..30 {
        let t = Instant::now();
        black_box(feed_untyped(&plain));
        best_untyped = best_untyped.min(t.elapsed());
        let t = Instant::now();
        black_box(feed_kinds(&typed));
        best_kinds = best_kinds.min(t.elapsed());
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / RECORDS as f64;
    println!(
        "error_kinds/untyped {:8.2} ns/record\nerror_kinds/kinds   {:8.2} ns/record  {:.3}x vs error_kinds/untyped",
        per(best_untyped),
        per(best_kinds),
        best_kinds.as_secs_f64() / best_untyped.as_secs_f64()
    );
    Ok(())
}
