//! Async machines, each figure a ratio in one run.
//!
//! 1. Overhead per state: a four-state async machine (`run_async`, each state awaiting one async
//!    function) against a plain tokio loop awaiting the same four functions per record, both with
//!    100 records in flight on a current-thread runtime; paired rounds (the two take turns, each
//!    keeps its fastest), throughput ratio machine / plain (the issue asks >= 0.9).
//! 2. Concurrency in the pipeline: the same machine with one state that waits 10 ms (a service's
//!    latency: a tokio timer, no CPU), through `Pipeline::concurrency(100)` against
//!    `concurrency(1)`, in records per second (the issue asks >= 30x).
//!
//! `cargo bench -p fsm-benches --bench async_machine`. For instructions (callgrind, whatever the
//! load): `FSM_BENCH_COUNT=machine|plain valgrind --tool=callgrind --toggle-collect='*measured*'
//! --callgrind-out-file=/dev/null target/release/deps/async_machine-<hash>`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fsm::runtime::stream::{Concurrent, IterSource, Pipeline, VecSink};
use fsm::runtime::{Context, FnError};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

mod steps {
    fsm::fsm! {
        machine Steps {
            data: u64;
            data_mode: direct;
            functions { a: async, b: async, c: async, d: async }
            network main {
                start state start;
                state sa { transform: a; }
                state sb { transform: b; }
                state sc { transform: c; }
                state sd { transform: d; }
                end state done;
                start -> sa;
                sa -> sb;
                sb -> sc;
                sc -> sd;
                sd -> done;
            }
        }
    }
}

mod latency {
    fsm::fsm! {
        machine Latency {
            data: u64;
            data_mode: direct;
            functions { call: async }
            network main {
                start state start;
                state calling { transform: call; }
                end state done;
                start -> calling;
                calling -> done;
            }
        }
    }
}

/// The async functions both contenders await: a little work and one yield to the executor (the
/// shape of a call whose answer is ready at once).
struct Fns;

#[inline]
async fn step(data: &mut u64, k: u64) -> Result<(), FnError> {
    *data = black_box(data.wrapping_mul(31).wrapping_add(k));
    tokio::task::yield_now().await;
    Ok(())
}

impl steps::StepsFns for Fns {
    async fn a(&self, data: &mut u64, _: &mut Context<'_>) -> Result<(), FnError> {
        step(data, 1).await
    }
    async fn b(&self, data: &mut u64, _: &mut Context<'_>) -> Result<(), FnError> {
        step(data, 2).await
    }
    async fn c(&self, data: &mut u64, _: &mut Context<'_>) -> Result<(), FnError> {
        step(data, 3).await
    }
    async fn d(&self, data: &mut u64, _: &mut Context<'_>) -> Result<(), FnError> {
        step(data, 4).await
    }
}

/// A service that answers after `LATENCY`.
struct Service;

const LATENCY: Duration = Duration::from_millis(10);

impl latency::LatencyFns for Service {
    async fn call(&self, data: &mut u64, _: &mut Context<'_>) -> Result<(), FnError> {
        tokio::time::sleep(LATENCY).await;
        *data += 1;
        Ok(())
    }
}

const RECORDS: u64 = 20_000;
const IN_FLIGHT: usize = 100;

/// Up to `IN_FLIGHT` runs of `run` at once over `RECORDS` records; the sum of what they give.
async fn flight<F: Future<Output = u64>>(run: impl Fn(u64) -> F) -> u64 {
    let mut flight = FuturesUnordered::new();
    let mut next = 0;
    let mut sum = 0u64;
    while next < RECORDS && flight.len() < IN_FLIGHT {
        flight.push(run(next));
        next += 1;
    }
    while let Some(v) = flight.next().await {
        sum = sum.wrapping_add(v);
        if next < RECORDS {
            flight.push(run(next));
            next += 1;
        }
    }
    sum
}

async fn feed_machine(m: &steps::Steps<Fns>) -> u64 {
    flight(|i| async move {
        match m.run_async(i).await {
            Ok(out) => out.data,
            Err(_) => 0,
        }
    })
    .await
}

async fn feed_plain() -> u64 {
    flight(|i| async move {
        let mut data = i;
        for k in 1..=4 {
            if step(&mut data, k).await.is_err() {
                return 0;
            }
        }
        data
    })
    .await
}

/// The part callgrind counts (`--toggle-collect=*measured*`).
#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
}

/// Records per second through a pipeline of the latency machine with `concurrency`.
fn pipeline_rate(records: u64, concurrency: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let machine = latency::Latency::new(Service);
    let done = VecSink::new();
    let started = Instant::now();
    let summary = Pipeline::new(Concurrent(&machine))
        .chunk_size(1000)
        .concurrency(concurrency)
        .route(latency::LatencyEnd::Done, done.clone())
        .run(IterSource::new(0..records))?;
    let took = started.elapsed();
    if summary.written_total() != records || !summary.is_balanced() {
        return Err(format!("the pipeline lost records: {summary:?}").into());
    }
    Ok(records as f64 / took.as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let machine = steps::Steps::new(Fns);
    let (a, b) = runtime.block_on(async { (feed_machine(&machine).await, feed_plain().await) });
    if a != b {
        return Err(format!("the contenders disagree: {a} vs {b}").into());
    }
    if let Ok(which) = std::env::var("FSM_BENCH_COUNT") {
        let sum = match which.as_str() {
            "machine" => measured(|| runtime.block_on(feed_machine(&machine))),
            "plain" => measured(|| runtime.block_on(feed_plain())),
            other => return Err(format!("FSM_BENCH_COUNT: `machine` or `plain`, not `{other}`").into()),
        };
        println!("{which}: {RECORDS} records ({sum})");
        return Ok(());
    }
    if std::env::var_os("FSM_BENCH_SIZES").is_some() {
        // What a set of runs in flight keeps per record: the size of each contender's future.
        let machine_run = machine.run_async(0);
        let plain_run = async {
            let mut data = 0;
            for k in 1..=4 {
                if step(&mut data, k).await.is_err() {
                    return 0;
                }
            }
            data
        };
        println!(
            "future sizes: run_async {} bytes, plain loop {} bytes",
            std::mem::size_of_val(&machine_run),
            std::mem::size_of_val(&plain_run)
        );
        return Ok(());
    }
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list`: nothing for the harness to list
    }
    let (mut best_machine, mut best_plain) = (Duration::MAX, Duration::MAX);
    for _ in 0..20 {
        let t = Instant::now();
        black_box(runtime.block_on(feed_machine(&machine)));
        best_machine = best_machine.min(t.elapsed());
        let t = Instant::now();
        black_box(runtime.block_on(feed_plain()));
        best_plain = best_plain.min(t.elapsed());
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / RECORDS as f64;
    println!(
        "async/plain_loop     {:8.1} ns/record\nasync/machine        {:8.1} ns/record  throughput {:.3}x of async/plain_loop",
        per(best_plain),
        per(best_machine),
        best_plain.as_secs_f64() / best_machine.as_secs_f64()
    );
    drop(runtime);

    let (slow, fast) = (pipeline_rate(100, 1)?, pipeline_rate(3000, 100)?);
    println!(
        "latency/concurrency_1    {slow:10.1} records/s\nlatency/concurrency_100  {fast:10.1} records/s  {:.1}x vs latency/concurrency_1 ({} ms per call)",
        fast / slow,
        LATENCY.as_millis()
    );
    Ok(())
}
