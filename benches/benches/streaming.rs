//! Benchmarks of the main job, each reported as a ratio measured in one run (runs interleaved,
//! medians compared), so that the load of a shared machine hits both sides alike:
//!
//! - `main_job_vs_plain_loop`: the seed 001 pipeline (JSONL file -> machine -> JSONL files, dead
//!   letters, atomic outputs) vs a hand-written serde_json read-transform-write loop with the same
//!   logic and no machine. Goal: at least 0.85 of the loop's throughput.
//! - `two_workers_vs_one`: a CPU-heavy transform on 2 workers vs 1. Goal: close to 2 on 2 free cores.
//! - `copy_mode_vs_direct_mode_in_the_main_job`: the main job with the seed machine in `copy` mode
//!   (its default) vs the same machine in `direct` mode: what the snapshots of copy mode cost when
//!   records are read, processed and written. Goal: copy costs under 10% over direct.
//!
//! Criterion also benchmarks each side (`cargo bench -p fsm-benches --bench streaming`).
//! Sizes: `FSM_BENCH_RECORDS` (default 200000).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use fsm_examples::record::Record;
use fsm_examples::streaming_machine;
use fsm_runtime::stream::{IterSource, Pipeline};
use fsm_runtime::{Failure, Machine, Outcome};

// The direct-mode machine of the machine-speed benchmarks.
#[allow(dead_code)]
#[path = "processor/mod.rs"]
mod processor;

// The main job and its contenders (shared with tests/bench_contenders.rs).
#[path = "main_job/mod.rs"]
mod main_job;

use main_job::{Files, HandWritten, files_in, main_job, pipeline, plain};

fn files(records: u64) -> Files {
    // On tmpfs when there is one: the ratios compare CPU work, not the disk (fsync is a no-op there).
    let base = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR"))
    };
    // One directory per process: two runs of the bench at once (or a test runner listing it while
    // it runs) must not write each other's files.
    files_in(
        &base.join(format!("fsm-streaming-bench-{}", std::process::id())),
        records,
    )
}

/// The seed machine plus a CPU-heavy step per record (a few microseconds of arithmetic).
struct Heavy<M>(M);

impl<M: Machine<Data = Record>> Machine for Heavy<M> {
    type Data = Record;
    type End = M::End;
    fn run(&self, data: Record) -> Result<Outcome<M::End, Record>, Failure<Record>> {
        let mut x = data.id;
        for i in 0..5_000u64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        black_box(x);
        self.0.run(data)
    }
}

fn heavy(records: u64, workers: usize) -> u64 {
    let machine = Heavy(streaming_machine());
    let input = (0..records).map(|i| Record {
        id: i,
        value: Some(i as i64 * 10),
        category: format!("cat_{}", i % 5),
        ..Record::default()
    });
    let summary = Pipeline::new(&machine)
        .drop_state("output")
        .drop_state("error")
        .workers(workers)
        .chunk_size(256)
        .run(IterSource::new(input))
        .expect("run");
    summary.read
}

/// CPU time of this process, all threads, user + system (Linux; zero elsewhere).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the command name.
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

#[derive(Clone, Copy)]
struct Times {
    wall: Duration,
    cpu: Duration,
}

/// Runs `a` and `b` alternately `reps` times; returns the median wall and CPU times of each.
fn interleaved(reps: usize, mut a: impl FnMut() -> u64, mut b: impl FnMut() -> u64) -> (Times, Times) {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let time = |f: &mut dyn FnMut() -> u64, into: &mut Vec<Times>| {
        let (t, c) = (Instant::now(), cpu_time());
        black_box(f());
        into.push(Times {
            wall: t.elapsed(),
            cpu: cpu_time().saturating_sub(c),
        });
    };
    for _ in 0..reps {
        time(&mut a, &mut ta);
        time(&mut b, &mut tb);
    }
    let median = |v: &mut Vec<Times>| {
        let mut wall: Vec<Duration> = v.iter().map(|t| t.wall).collect();
        let mut cpu: Vec<Duration> = v.iter().map(|t| t.cpu).collect();
        wall.sort();
        cpu.sort();
        Times {
            wall: wall[wall.len() / 2],
            cpu: cpu[cpu.len() / 2],
        }
    };
    (median(&mut ta), median(&mut tb))
}

/// Prints throughputs and the ratio b/a of throughputs (wall clock), plus the ratio of CPU time
/// per record (a/b: above 1 means b spends less CPU per record), which a busy machine disturbs less.
fn report(name: &str, records: u64, (a_name, ta): (&str, Times), (b_name, tb): (&str, Times), goal: &str) {
    let rate = |t: Duration| records as f64 / t.as_secs_f64();
    println!(
        "{name}: {a_name} {:.0} records/s, {b_name} {:.0} records/s, ratio {:.2} ({goal}); CPU time {:.2?} vs {:.2?}, CPU ratio {:.2}",
        rate(ta.wall),
        rate(tb.wall),
        ta.wall.as_secs_f64() / tb.wall.as_secs_f64(),
        ta.cpu,
        tb.cpu,
        ta.cpu.as_secs_f64() / tb.cpu.as_secs_f64().max(1e-9),
    );
}

fn main() {
    let records: u64 = std::env::var("FSM_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let reps: usize = std::env::var("FSM_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let f = files(records);

    let (t_job, t_plain) = interleaved(reps, || main_job(&f, 1), || plain(&f));
    report(
        "main_job_vs_plain_loop",
        records,
        ("plain loop", t_plain),
        ("main job (1 worker)", t_job),
        "goal >= 0.85",
    );
    let (t_hand, t_plain) = interleaved(reps, || pipeline(&f, 1, &HandWritten), || plain(&f));
    report(
        "pipeline_with_hand_written_machine_vs_plain_loop",
        records,
        ("plain loop", t_plain),
        ("pipeline, hand-written machine", t_hand),
        "the pipeline's own cost",
    );
    let (t_job2, t_plain) = interleaved(reps, || main_job(&f, 2), || plain(&f));
    report(
        "main_job_2_workers_vs_plain_loop",
        records,
        ("plain loop", t_plain),
        ("main job (2 workers)", t_job2),
        "goal >= 0.85",
    );
    let heavy_records = records / 10;
    let (t1, t2) = interleaved(reps, || heavy(heavy_records, 1), || heavy(heavy_records, 2));
    report(
        "two_workers_vs_one",
        heavy_records,
        ("1 worker", t1),
        ("2 workers", t2),
        "goal ~2 on 2 free cores",
    );

    let direct = processor::direct_machine();
    let (t_copy, t_direct) = interleaved(reps, || main_job(&f, 1), || pipeline(&f, 1, &direct));
    report(
        "copy_mode_vs_direct_mode_in_the_main_job",
        records,
        ("copy mode (1 worker)", t_copy),
        ("direct mode (1 worker)", t_direct),
        "copy under 10% over direct: ratio under 1.10",
    );

    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let mut g = c.benchmark_group("streaming");
    g.throughput(Throughput::Elements(records));
    g.bench_function("plain_loop", |b| b.iter(|| plain(&f)));
    g.bench_function("main_job_1_worker", |b| b.iter(|| main_job(&f, 1)));
    g.bench_function("main_job_2_workers", |b| b.iter(|| main_job(&f, 2)));
    g.finish();
    c.final_summary();
    if let Some(dir) = f.input.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
