//! The main job and its contenders, shared by the streaming benchmark (`benches/streaming.rs`)
//! and the test that checks they write the same records (`tests/bench_contenders.rs`): the seed
//! 001 pipeline (JSONL file -> machine -> JSONL output and dead letters), the same pipeline with
//! other machines, and the hand-written serde_json loop.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use fsm_examples::record::{Record, categorize, enrich, is_valid, mark_validity, plain_loop, write_input};
use fsm_examples::streaming_machine;
use fsm_runtime::stream::{JsonlSink, JsonlSource, Pipeline};
use fsm_runtime::{EndState, Failure, Machine, Outcome, StateName};

/// The input file of a run and the two files it writes.
pub struct Files {
    pub input: PathBuf,
    pub out: PathBuf,
    pub err: PathBuf,
}

/// `records` records of the seed's shape in `dir` (written once), and where a run writes.
pub fn files_in(dir: &Path, records: u64) -> Files {
    std::fs::create_dir_all(dir).expect("bench dir");
    let input = dir.join(format!("in-{records}.jsonl"));
    if !input.exists() {
        write_input(&input, records).expect("bench input");
    }
    Files {
        input,
        out: dir.join("out.jsonl"),
        err: dir.join("err.jsonl"),
    }
}

/// The main job: the seed machine (copy mode) on `workers` workers; returns the records read.
pub fn main_job(f: &Files, workers: usize) -> u64 {
    pipeline(f, workers, &streaming_machine())
}

/// The main job's pipeline with `machine`; returns the records read.
pub fn pipeline<M: Machine<Data = Record>>(f: &Files, workers: usize, machine: &M) -> u64 {
    let summary = Pipeline::new(machine)
        .route("output", JsonlSink::create(&f.out).expect("out"))
        .dead_letter_state("error")
        .dead_letter(JsonlSink::create(&f.err).expect("err"))
        .workers(workers)
        .run(JsonlSource::<Record>::open(&f.input).expect("in"))
        .expect("run");
    assert!(summary.is_balanced());
    summary.read
}

/// The hand-written serde_json loop, same logic, no machine; returns the records read.
pub fn plain(f: &Files) -> u64 {
    let input = BufReader::with_capacity(256 * 1024, File::open(&f.input).expect("in"));
    let counts = plain_loop(
        &f.input.display().to_string(),
        input,
        File::create(&f.out).expect("out"),
        File::create(&f.err).expect("err"),
    )
    .expect("run");
    counts.read
}

/// The seed's logic as a hand-written `Machine` (plain calls, no copy of the record per state):
/// separates the pipeline's cost from the generated machine's.
pub struct HandWritten;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandEnd {
    Output,
    Error,
}

impl StateName for HandEnd {
    fn name(&self) -> &'static str {
        match self {
            HandEnd::Output => "output",
            HandEnd::Error => "error",
        }
    }
}

impl EndState for HandEnd {
    const ALL: &'static [Self] = &[HandEnd::Output, HandEnd::Error];
}

#[allow(clippy::result_large_err)]
impl Machine for HandWritten {
    type Data = Record;
    type End = HandEnd;
    fn run(&self, mut data: Record) -> Result<Outcome<HandEnd, Record>, Failure<Record>> {
        let outcome = |end, data| Outcome {
            end,
            data,
            error: None,
            transitions: 0,
            history: Vec::new(),
        };
        mark_validity(&mut data);
        if !is_valid(&data) {
            return Ok(outcome(HandEnd::Error, data));
        }
        if enrich(&mut data).is_err() {
            return Ok(outcome(HandEnd::Error, data));
        }
        categorize(&mut data);
        Ok(outcome(HandEnd::Output, data))
    }
}
