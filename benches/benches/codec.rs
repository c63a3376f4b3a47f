//! The JSON Lines codecs on the main job's records, each as a ratio to serde_json measured in one
//! run (rounds interleaved, medians of the per-round ratios), so that the load of a shared machine
//! hits every side alike:
//!
//! - `decode`: seed 001 input lines (`fsm_examples::record::Generated`, the valid ones) into
//!   `Record`s, by serde_json, sonic-rs (fsm-runtime `JsonCodec::Sonic`) and simd-json (which
//!   parses in place: each line is copied into a scratch buffer first, as a pipeline would have to).
//! - `encode`: the same records after the machine's transforms, as JSON lines.
//! - `main_job`: the whole main job (file -> pipeline, 1 worker -> files) with its source and
//!   sinks on sonic-rs vs on serde_json, and with 2 workers each.
//!
//! Then criterion benchmarks each side (`cargo bench -p fsm-benches --bench codec`).
//! Sizes: `FSM_BENCH_RECORDS` (default 200000), `FSM_BENCH_REPS` rounds (default 7).

use std::hint::black_box;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use fsm_examples::record::{Generated, Record, categorize, enrich, is_valid, mark_validity};
use fsm_examples::streaming_machine;
use fsm_runtime::stream::{JsonCodec, JsonlSink, JsonlSource, Pipeline};

#[path = "main_job/mod.rs"]
#[allow(dead_code)]
mod main_job;

/// The decodable lines of `n` generated ones (each without its line end).
fn lines(n: u64) -> Vec<Vec<u8>> {
    let mut text = Vec::new();
    Generated::new(n).read_to_end(&mut text).expect("generated input");
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && serde_json::from_slice::<Record>(l).is_ok())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The records the machine writes for these lines (transformed, the valid ones).
fn outputs(lines: &[Vec<u8>]) -> Vec<Record> {
    lines
        .iter()
        .filter_map(|l| {
            let mut r: Record = serde_json::from_slice(l).ok()?;
            mark_validity(&mut r);
            if !is_valid(&r) || enrich(&mut r).is_err() {
                return None;
            }
            categorize(&mut r);
            Some(r)
        })
        .collect()
}

fn decode_with(decode: fsm_runtime::stream::Decoder<Record>, lines: &[Vec<u8>]) -> u64 {
    lines.iter().map(|l| decode(l).map_or(0, |r| r.id)).sum()
}

fn decode_simd_json(lines: &[Vec<u8>], scratch: &mut Vec<u8>) -> u64 {
    lines
        .iter()
        .map(|l| {
            scratch.clear();
            scratch.extend_from_slice(l);
            simd_json::serde::from_slice::<Record>(scratch).map_or(0, |r| r.id)
        })
        .sum()
}

fn encode_with(encode: fsm_runtime::stream::Encoder<Record>, records: &[Record], buf: &mut Vec<u8>) -> usize {
    buf.clear();
    for r in records {
        let _ = encode(r, buf);
    }
    buf.len()
}

fn encode_simd_json(records: &[Record], buf: &mut Vec<u8>) -> usize {
    buf.clear();
    for r in records {
        if simd_json::serde::to_writer(&mut *buf, r).is_ok() {
            buf.push(b'\n');
        }
    }
    buf.len()
}

/// The main job in-process with `codec` for its source and sinks; returns the records read.
fn main_job(f: &main_job::Files, workers: usize, codec: JsonCodec) -> u64 {
    let summary = Pipeline::new(&streaming_machine())
        .route("output", JsonlSink::create(&f.out).expect("out").codec(codec))
        .dead_letter_state("error")
        .dead_letter(JsonlSink::create(&f.err).expect("err").codec(codec))
        .workers(workers)
        .run(JsonlSource::<Record>::open(&f.input).expect("in").codec(codec))
        .expect("run");
    assert!(summary.is_balanced());
    summary.read
}

fn time(f: &mut dyn FnMut() -> u64) -> Duration {
    let t = Instant::now();
    black_box(f());
    t.elapsed()
}

/// Runs the sides in turn `reps` times; prints each side's median time and the median of the
/// per-round ratios side / first side.
fn compare(name: &str, per: u64, reps: usize, sides: &mut [(&str, &mut dyn FnMut() -> u64)]) {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); sides.len()];
    for round in 0..reps {
        // Each round starts with another side, so that none always runs first.
        for k in 0..sides.len() {
            let i = (round + k) % sides.len();
            times[i].push(time(&mut *sides[i].1));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = &times[0];
    let mut line = format!("{name}:");
    for (i, (side, _)) in sides.iter().enumerate() {
        let ns = median(times[i].iter().map(|t| t.as_secs_f64() * 1e9 / per as f64).collect());
        let ratio = median(
            times[i]
                .iter()
                .zip(base)
                .map(|(t, b)| t.as_secs_f64() / b.as_secs_f64())
                .collect(),
        );
        line += &format!(" {side} {ns:.0} ns/record (time {ratio:.2}x {})", sides[0].0);
    }
    println!("{line}");
}

fn main() {
    let records: u64 = std::env::var("FSM_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let reps: usize = std::env::var("FSM_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let lines = lines(records);
    let outs = outputs(&lines);
    let (serde_de, sonic_de) = (
        JsonCodec::SerdeJson.decoder::<Record>(),
        JsonCodec::Sonic.decoder::<Record>(),
    );
    let (serde_en, sonic_en) = (
        JsonCodec::SerdeJson.encoder::<Record>(),
        JsonCodec::Sonic.encoder::<Record>(),
    );
    let mut scratch = Vec::new();
    compare(
        "decode",
        lines.len() as u64,
        reps,
        &mut [
            ("serde_json", &mut || decode_with(serde_de, &lines)),
            ("sonic-rs", &mut || decode_with(sonic_de, &lines)),
            ("simd-json", &mut || decode_simd_json(&lines, &mut scratch)),
        ],
    );
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    compare(
        "encode",
        outs.len() as u64,
        reps,
        &mut [
            ("serde_json", &mut || encode_with(serde_en, &outs, &mut a) as u64),
            ("sonic-rs", &mut || encode_with(sonic_en, &outs, &mut b) as u64),
            ("simd-json", &mut || encode_simd_json(&outs, &mut c) as u64),
        ],
    );
    assert_eq!(a, b, "sonic-rs writes serde_json's bytes");

    let base = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR"))
    };
    let f = main_job::files_in(&base.join(format!("fsm-codec-bench-{}", std::process::id())), records);
    for workers in [1, 2] {
        compare(
            &format!("main_job_{workers}_worker(s)"),
            records,
            reps,
            &mut [
                ("serde_json", &mut || main_job(&f, workers, JsonCodec::SerdeJson)),
                ("sonic-rs", &mut || main_job(&f, workers, JsonCodec::Sonic)),
            ],
        );
    }

    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("decode_serde_json", |b| b.iter(|| decode_with(serde_de, &lines)));
    g.bench_function("decode_sonic_rs", |b| b.iter(|| decode_with(sonic_de, &lines)));
    g.bench_function("encode_serde_json", |b| b.iter(|| encode_with(serde_en, &outs, &mut a)));
    g.bench_function("encode_sonic_rs", |b| b.iter(|| encode_with(sonic_en, &outs, &mut a)));
    g.finish();
    c.final_summary();
    if let Some(dir) = f.input.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
