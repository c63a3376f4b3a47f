//! Seed 001's StreamingProcessor, one record at a time: the machine generated from
//! `machines/streaming_processor.yaml` (copy mode) and from `machines/streaming_processor_direct.yaml`
//! (the same machine in direct mode), against the same logic as a plain function. The record type
//! and its functions are the ones of the streaming example (`fsm_examples::record`).
//!
//! Instructions per record (`scripts/callgrind.sh`, one run): plain 277.93, direct 357.92 (1.29×),
//! copy 385.36 (1.39×); the goal of issue 10 is 1.25× direct.

use std::hint::black_box;
use std::io::{BufRead, BufReader};

use fsm_examples::processor::{Functions, StreamingProcessor, StreamingProcessorEnd};
use fsm_examples::record::{self, Generated, Record, categorize, enrich, is_valid, mark_validity};
use fsm_runtime::{Context, FnError, Outcome};

/// `machines/streaming_processor_direct.yaml`: the same machine in direct mode.
mod direct {
    fsm::include_machine!("streaming_processor_direct");
}

use direct::{StreamingProcessorDirect, StreamingProcessorDirectEnd, StreamingProcessorDirectFns};

/// Where the plain function left a record.
#[derive(Debug)]
pub enum Processed {
    /// Processed (end state `output`).
    Output(Record),
    /// Invalid (end state `error`).
    Error(Record),
    /// A function failed: its message, and the record as it was then.
    Failed(String, Record),
}

/// The baseline: the machine's logic as a plain function, in place, no machine.
#[inline]
pub fn plain(mut record: Record) -> Processed {
    mark_validity(&mut record);
    if !is_valid(&record) {
        return Processed::Error(record);
    }
    if let Err(e) = enrich(&mut record) {
        return Processed::Failed(e, record);
    }
    categorize(&mut record);
    Processed::Output(record)
}

/// The machine of the streaming example (copy mode), with its functions.
pub fn copy_machine() -> StreamingProcessor<Functions> {
    fsm_examples::streaming_machine()
}

/// The functions of the direct-mode machine: the streaming example's, unchanged.
pub struct DirectFunctions;

impl StreamingProcessorDirectFns for DirectFunctions {
    fn mark_validity(&self, data: &mut Record, _: &mut Context<'_>) {
        record::mark_validity(data);
    }

    fn is_valid(&self, data: &Record) -> bool {
        record::is_valid(data)
    }

    fn enrich(&self, data: &Record, _: &mut Context<'_>) -> Result<impl FnOnce(&mut Record) + use<>, FnError> {
        record::enrich_change(data).map_err(FnError::from)
    }

    fn categorize(&self, data: &mut Record, _: &mut Context<'_>) {
        record::categorize(data);
    }
}

/// The direct-mode machine.
pub fn direct_machine() -> StreamingProcessorDirect<DirectFunctions> {
    StreamingProcessorDirect::new(DirectFunctions)
}

/// Checks that the plain function and both machines agree on every record: same end, same
/// record out.
pub fn check(records: &[Record]) {
    let copy = copy_machine();
    let direct = direct_machine();
    for r in records {
        let (end, out) = match plain(r.clone()) {
            Processed::Output(out) => ("output", out),
            Processed::Error(out) => ("error", out),
            Processed::Failed(message, out) => panic!("plain: record {} failed: {message} ({out:?})", r.id),
        };
        let c = copy
            .run(r.clone())
            .unwrap_or_else(|f| panic!("copy: record {} failed: {f}", r.id));
        let d = direct
            .run(r.clone())
            .unwrap_or_else(|f| panic!("direct: record {} failed: {f}", r.id));
        assert_eq!((c.end.name(), &c.data), (end, &out), "copy mode, record {}", r.id);
        assert_eq!((d.end.name(), &d.data), (end, &out), "direct mode, record {}", r.id);
    }
}

/// `n` records in seed 001's shape (the streaming example's generator, decoded; its undecodable
/// lines left out): mostly valid, some negative or missing values.
pub fn records(n: u64) -> Vec<Record> {
    BufReader::new(Generated::new(n))
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}

/// Runs `records` through `f` (which says whether the record reached `output`), each record
/// through `black_box`; returns how many reached `output`. Each contender's answer goes through
/// `black_box` and is matched by pattern, without moving it out (a guard binding the outcome by
/// value would copy it, a cost of the benchmark, not of the machine).
#[inline]
fn count(records: &mut Vec<Record>, mut f: impl FnMut(Record) -> bool) -> u32 {
    let mut processed = 0;
    for record in records.drain(..) {
        if f(black_box(record)) {
            processed += 1;
        }
    }
    processed
}

/// The plain function over `records`; returns how many reached `output`.
pub fn feed_plain(records: &mut Vec<Record>) -> u32 {
    count(records, |r| matches!(black_box(plain(r)), Processed::Output(_)))
}

/// The copy-mode machine over `records`; returns how many reached `output`.
pub fn feed_copy(machine: &StreamingProcessor<Functions>, records: &mut Vec<Record>) -> u32 {
    count(records, |r| {
        matches!(
            black_box(machine.run(r)),
            Ok(Outcome {
                end: StreamingProcessorEnd::Output,
                ..
            })
        )
    })
}

/// The direct-mode machine over `records`; returns how many reached `output`.
pub fn feed_direct(machine: &StreamingProcessorDirect<DirectFunctions>, records: &mut Vec<Record>) -> u32 {
    count(records, |r| {
        matches!(
            black_box(machine.run(r)),
            Ok(Outcome {
                end: StreamingProcessorDirectEnd::Output,
                ..
            })
        )
    })
}

/// How many of `records` the plain function sends to `output`.
pub fn expected_output(records: &[Record]) -> u32 {
    feed_plain(&mut records.to_vec())
}
