//! What a run reports: progress while it runs, a summary at the end, dead letters for bad records.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::resources::TokenUsage;

/// Why a record went to the dead-letter sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeadLetterReason {
    /// The input line could not be decoded (`raw` holds it).
    Malformed,
    /// The run reached an end state routed to the dead-letter sink (e.g. `error`).
    ErrorState,
    /// The run stopped before an end state: a function failed with no `on_error` arc, no arc was
    /// available, or the step limit was reached.
    Failed,
    /// User code panicked while processing the record (a state function, a decoder or an
    /// encoder); the record is lost (it had been moved), its line is kept.
    Panicked,
    /// The run ended in an end state that has no route and the pipeline has no default sink.
    Unrouted,
    /// The sink of the record's end state rejected it (e.g. it could not be encoded).
    Rejected,
    /// The input line is longer than the source's maximum record size; it was skipped without
    /// being held in memory (neither `record` nor `raw` is set).
    TooLarge,
    /// The source gave up on the record unprocessed: a message broker redelivered it more often
    /// than allowed (`max_deliver`), as happens when it crashes its worker every time (`raw`
    /// holds the message).
    Poison,
}

impl DeadLetterReason {
    /// Every reason, in a stable order.
    pub const ALL: [DeadLetterReason; 8] = [
        DeadLetterReason::Malformed,
        DeadLetterReason::ErrorState,
        DeadLetterReason::Failed,
        DeadLetterReason::Panicked,
        DeadLetterReason::Unrouted,
        DeadLetterReason::Rejected,
        DeadLetterReason::TooLarge,
        DeadLetterReason::Poison,
    ];

    /// The reason as written in dead-letter records.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::Malformed => "malformed",
            DeadLetterReason::ErrorState => "error_state",
            DeadLetterReason::Failed => "failed",
            DeadLetterReason::Panicked => "panicked",
            DeadLetterReason::Unrouted => "unrouted",
            DeadLetterReason::Rejected => "rejected",
            DeadLetterReason::TooLarge => "too_large",
            DeadLetterReason::Poison => "poison",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that could not be processed or routed, with why and where it came from.
///
/// With the `serde` feature it serializes as one JSON object:
/// `{"reason": "malformed", "message": "...", "source": "in.jsonl", "line": 7, "state": "error",
/// "record": {...}}`, with `raw` (the undecodable line) instead of `record` for malformed input, and
/// `state` only when there is one.
#[derive(Clone, Debug)]
pub struct DeadLetter<D> {
    /// The kind of failure.
    pub reason: DeadLetterReason,
    /// What went wrong, for humans.
    pub message: String,
    /// The source the record came from.
    pub source: Arc<str>,
    /// 1-based line (or record number) in the source.
    pub line: u64,
    /// The end state reached, or the state where the run stopped.
    pub state: Option<&'static str>,
    /// The record, as it left the machine (absent for malformed input and panics).
    pub record: Option<D>,
    /// The undecodable input line (malformed input), or the message given up on (poison).
    pub raw: Option<String>,
}

#[cfg(feature = "serde")]
impl<D: serde::Serialize> serde::Serialize for DeadLetter<D> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("reason", self.reason.as_str())?;
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("source", &*self.source)?;
        map.serialize_entry("line", &self.line)?;
        if let Some(state) = self.state {
            map.serialize_entry("state", state)?;
        }
        if let Some(record) = &self.record {
            map.serialize_entry("record", record)?;
        }
        if let Some(raw) = &self.raw {
            map.serialize_entry("raw", raw)?;
        }
        map.end()
    }
}

/// Counts of a run. `read == written_total() + dead_lettered_total() + dropped` always holds
/// ([`Summary::is_balanced`]); a checkpointed run that resumed counts the records of the earlier
/// attempts too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Items taken from the source, malformed lines included.
    pub read: u64,
    /// Records written, per end state.
    pub written: BTreeMap<&'static str, u64>,
    /// Records dead-lettered, per reason.
    pub dead_lettered: BTreeMap<DeadLetterReason, u64>,
    /// Records of end states routed to nowhere on purpose ([`Pipeline::drop_state`](super::Pipeline::drop_state)).
    pub dropped: u64,
    /// Wall-clock time of this run (not of earlier, interrupted attempts).
    pub elapsed: Duration,
    /// Records read by this run (excludes what a resumed run had read before).
    pub read_this_run: u64,
    /// Tokens the language models used during this run, when the pipeline counts them
    /// ([`Pipeline::count_tokens`](super::Pipeline::count_tokens)); `None` otherwise.
    pub tokens: Option<TokenUsage>,
}

impl Summary {
    /// Records written to all sinks.
    pub fn written_total(&self) -> u64 {
        self.written.values().sum()
    }

    /// Records sent to the dead-letter sink.
    pub fn dead_lettered_total(&self) -> u64 {
        self.dead_lettered.values().sum()
    }

    /// Whether every record read is accounted for.
    pub fn is_balanced(&self) -> bool {
        self.read == self.written_total() + self.dead_lettered_total() + self.dropped
    }

    /// Throughput of this run.
    pub fn records_per_sec(&self) -> f64 {
        per_sec(self.read_this_run, self.elapsed)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "read {} records in {:.2?} ({:.0} records/s)",
            self.read,
            self.elapsed,
            self.records_per_sec()
        )?;
        for (state, n) in &self.written {
            writeln!(f, "  written   {n:>10}  end state `{state}`")?;
        }
        for (reason, n) in &self.dead_lettered {
            writeln!(f, "  dead      {n:>10}  {reason}")?;
        }
        if self.dropped > 0 {
            writeln!(f, "  dropped   {:>10}", self.dropped)?;
        }
        if let Some(tokens) = &self.tokens {
            writeln!(
                f,
                "  tokens    {:>10}  ({} prompt + {} completion)",
                tokens.total_tokens, tokens.prompt_tokens, tokens.completion_tokens
            )?;
        }
        write!(
            f,
            "  check: read {} = written {} + dead-lettered {} + dropped {}: {}",
            self.read,
            self.written_total(),
            self.dead_lettered_total(),
            self.dropped,
            if self.is_balanced() { "ok" } else { "MISMATCH" }
        )
    }
}

/// A progress report, given to the pipeline's progress callback at a fixed interval and once at
/// the end.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Records processed so far (written, dead-lettered or dropped), earlier attempts included.
    pub records: u64,
    /// Records dead-lettered so far.
    pub errors: u64,
    /// Time since this run started.
    pub elapsed: Duration,
    /// Records per second in this run.
    pub records_per_sec: f64,
    /// Whether this is the last report.
    pub done: bool,
}

pub(crate) fn per_sec(n: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}
