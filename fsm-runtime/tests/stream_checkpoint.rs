//! Checkpoint and resume: a run interrupted at any point, started again, produces exactly the
//! output of an uninterrupted run: nothing lost, nothing duplicated.
#![cfg(feature = "jsonl")]

mod stream_support;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use fsm_runtime::stream::{JsonlSink, JsonlSource, Pipeline, Sink, StreamError, WriteError};
use serde_json::Value;
use stream_support::{Classify, Rec, read_jsonl, temp_dir};

/// A sink that fails after `fail_after` writes, standing in for a crash mid-run.
struct Crashing<S> {
    inner: S,
    fail_after: u64,
}

impl<T, S: Sink<T>> Sink<T> for Crashing<S> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        if self.fail_after == 0 {
            return Err(WriteError::Io(io::Error::other("power cut")));
        }
        self.fail_after -= 1;
        self.inner.write(record)
    }
    fn checkpoint(&mut self) -> io::Result<u64> {
        self.inner.checkpoint()
    }
    fn restore(&mut self, token: u64) -> io::Result<()> {
        self.inner.restore(token)
    }
    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}

fn write_input(path: &Path, n: u64) {
    let mut f = io::BufWriter::new(fs::File::create(path).unwrap());
    for i in 0..n {
        match i % 50 {
            17 => writeln!(f, "{{\"id\": {i}, \"value\": oops}}").unwrap(),
            23 => writeln!(f, "{{\"id\": {i}, \"value\": -1}}").unwrap(),
            _ => writeln!(f, "{{\"id\": {i}, \"value\": {}}}", i % 1000 + 20).unwrap(),
        }
    }
}

struct Paths {
    input: PathBuf,
    out: PathBuf,
    err: PathBuf,
    checkpoint: PathBuf,
}

fn paths(name: &str, n: u64) -> Paths {
    let dir = temp_dir(name);
    let p = Paths {
        input: dir.join("in.jsonl"),
        out: dir.join("out.jsonl"),
        err: dir.join("err.jsonl"),
        checkpoint: dir.join("run.checkpoint"),
    };
    write_input(&p.input, n);
    p
}

fn run(p: &Paths, crash_after: Option<u64>, workers: usize) -> Result<fsm_runtime::stream::Summary, StreamError> {
    let out = Crashing {
        inner: JsonlSink::create(&p.out).unwrap(),
        fail_after: crash_after.unwrap_or(u64::MAX),
    };
    Pipeline::new(Classify::default())
        .route("output", out)
        .dead_letter_state("error")
        .dead_letter(JsonlSink::create(&p.err).unwrap())
        .chunk_size(37)
        .workers(workers)
        .checkpoint(&p.checkpoint, 100)
        .run(JsonlSource::<Rec>::open(&p.input).unwrap())
}

#[test]
fn an_interrupted_run_resumes_without_losing_or_duplicating_records() {
    let n = 5_000;
    let reference = paths("cp-reference", n);
    let expected = run(&reference, None, 1).unwrap();
    assert!(
        !reference.checkpoint.exists(),
        "the checkpoint is removed after success"
    );
    let expected_out = fs::read(&reference.out).unwrap();
    let expected_err: Vec<Value> = read_jsonl(&reference.err);

    for (crashes, workers) in [(vec![1_234], 1), (vec![10, 2_000, 1], 3), (vec![0, 4_000], 2)] {
        let p = paths("cp-interrupted", n);
        for crash in crashes {
            let err = run(&p, Some(crash), workers).unwrap_err();
            assert_eq!(err.to_string(), "the sink of `output` failed: power cut");
            assert!(p.checkpoint.exists());
            assert!(
                !p.out.exists() && !p.err.exists(),
                "no output under its final name after a crash"
            );
        }
        let summary = run(&p, None, workers).unwrap();
        assert_eq!(fs::read(&p.out).unwrap(), expected_out, "output after resume");
        let err: Vec<Value> = read_jsonl(&p.err);
        // Dead letters name the input file, which differs between the two directories.
        let strip = |v: &[Value]| {
            v.iter()
                .map(|d| (d["line"].clone(), d["reason"].clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&err), strip(&expected_err));
        assert_eq!(summary.read, n);
        assert_eq!(summary.written, expected.written);
        assert_eq!(summary.dead_lettered, expected.dead_lettered);
        assert!(summary.read_this_run < n);
        assert!(summary.is_balanced());
        assert!(!p.checkpoint.exists());
    }
}

#[test]
fn a_checkpoint_from_another_pipeline_is_refused() {
    let p = paths("cp-mismatch", 500);
    run(&p, Some(300), 1).unwrap_err();
    let err = Pipeline::new(Classify::default())
        .route("skip", JsonlSink::create(&p.out).unwrap())
        .checkpoint(&p.checkpoint, 100)
        .run(JsonlSource::<Rec>::open(&p.input).unwrap())
        .unwrap_err();
    assert!(matches!(err, StreamError::Checkpoint { .. }), "{err}");
}

#[test]
fn checkpoints_need_resumable_sources_and_sinks() {
    let p = paths("cp-unsupported", 10);
    let err = Pipeline::new(Classify::default())
        .route("output", fsm_runtime::stream::FnSink::new(|_: &Rec| Ok(())))
        .checkpoint(&p.checkpoint, 100)
        .run(JsonlSource::<Rec>::open(&p.input).unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the sink of `output` failed: this sink cannot checkpoint"
    );
    let err = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&p.out).unwrap())
        .checkpoint(&p.checkpoint, 100)
        .unordered()
        .run(JsonlSource::<Rec>::open(&p.input).unwrap())
        .unwrap_err();
    assert!(matches!(err, StreamError::Config(_)));
}
