//! The workers: threads taking chunks, decoding raw records, running the machine and encoding
//! each outcome for its sink.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

use super::super::{Encoder, Item, Malformed, Poison, Position, Source, TooLarge};
use std::sync::atomic::AtomicU64;

use super::read::{Batch, Buffers, ChunkIn, RawRecord, SharedSource};
use crate::core::{EndState, Failure, Machine, RunError, RunResult, StateError};
use crate::resources::{ChunkScope, RecordScope};

/// What became of a record, as the chunk lists it: small, so that the common case (encoded for its
/// sink) moves few bytes from the worker's core to the writer's.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    /// Encoded by the worker: `bytes[start..stop]` of the chunk, for the end state at `route`.
    Encoded { route: usize, start: usize, stop: usize },
    /// Anything else: the next of the chunk's `others`.
    Other,
}

pub(super) enum Done<E, D> {
    /// Reached an end state and encoded by the worker for its sink: the record is gone, its bytes
    /// are `bytes[start..stop]` of the chunk.
    Encoded {
        /// Index of the end state in `E::ALL` (and in the routing table).
        route: usize,
        start: usize,
        stop: usize,
    },
    /// Reached an end state; the writer routes it.
    Ended {
        end: E,
        /// Index of the end state in `E::ALL` (and in the routing table).
        route: usize,
        data: D,
        error: Option<Box<StateError>>,
        line: u64,
        /// Why the sink's encoder refused the record, if it did.
        rejected: Option<String>,
    },
    Failed {
        error: RunError,
        data: D,
        line: u64,
    },
    Panicked {
        message: String,
        line: u64,
    },
    Malformed(Malformed),
    TooLarge(TooLarge),
    Poison(Poison),
}

pub(super) struct ChunkOut<E, D> {
    pub(super) seq: u64,
    pub(super) end: Option<Position>,
    /// `done` holds what became of each record, `encoded` the records encoded by the worker, back
    /// to back; the input buffers are empty, kept for the next chunk.
    pub(super) buffers: Buffers<E, D>,
    /// The commit of the chunk's per-chunk resource transactions failed: the run stops.
    pub(super) failed: Option<crate::resources::ResourceError>,
}

/// Per end state: the sink it routes to and that sink's encoder, if the sink has one.
pub(super) type EncoderEntry<E, D> = (E, Option<(usize, Encoder<D>)>);
pub(super) type EncoderTable<E, D> = [EncoderEntry<E, D>];

/// Per end state (in the order of the encoder table): whether a run ending there commits the
/// per-record transactions of its resources (routed to a sink, or dropped), or rolls them back
/// (a dead-letter state, no route).
pub(super) type Commits = [bool];

/// How a worker runs the records of a chunk: one after the other, or (`concurrency` above 1) all
/// of them handed to [`Machine::run_all`], which an async machine runs that many at a time.
#[derive(Clone, Copy, Debug)]
pub(super) struct Runs {
    pub(super) concurrency: usize,
    pub(super) ordered: bool,
}

/// Where a worker's chunks come from: the reader thread's channel, or the source itself.
pub(super) enum Chunks<'a, S: Source, E> {
    Channel(&'a Mutex<Receiver<ChunkIn<E, S::Item>>>),
    Source {
        source: &'a SharedSource<S>,
        permits: &'a Mutex<Receiver<Buffers<E, S::Item>>>,
        read: &'a AtomicU64,
    },
}

impl<S: Source, E> Clone for Chunks<'_, S, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Source, E> Copy for Chunks<'_, S, E> {}

impl<S: Source, E> Chunks<'_, S, E> {
    fn next(&self) -> Option<ChunkIn<E, S::Item>> {
        match self {
            Chunks::Channel(rx) => rx.lock().unwrap_or_else(PoisonError::into_inner).recv().ok(),
            Chunks::Source { source, permits, read } => {
                // A permit first, then the source: at most `in_flight` chunks exist at once. No
                // permit means the writer stopped.
                let buffers = permits.lock().unwrap_or_else(PoisonError::into_inner).recv().ok()?;
                source.next_chunk(buffers, read)
            }
        }
    }
}

pub(super) fn work_loop<M: Machine, S: Source<Item = M::Data>>(
    machine: &M,
    encoders: &EncoderTable<M::End, M::Data>,
    commits: &Commits,
    chunks: Chunks<'_, S, M::End>,
    done: SyncSender<ChunkOut<M::End, M::Data>>,
    runs: Runs,
) {
    while let Some(chunk) = chunks.next() {
        // The per-chunk transactions of the resources: committed once the chunk's records ran.
        let scope = ChunkScope::enter();
        let ChunkIn {
            seq,
            batch,
            end,
            mut buffers,
        } = chunk;
        let mut out = Out {
            slots: std::mem::take(&mut buffers.slots),
            others: std::mem::take(&mut buffers.others),
        };
        out.slots.reserve(batch.len());
        let bytes = &mut buffers.encoded;
        match batch {
            batch if runs.concurrency > 1 => run_together(machine, encoders, batch, runs, &mut out, bytes),
            Batch::Items(mut items) => {
                for item in items.drain(..) {
                    let done = match item {
                        Item::Malformed(m) => Done::Malformed(m),
                        Item::TooLarge(t) => Done::TooLarge(t),
                        Item::Poison(p) => Done::Poison(p),
                        Item::Record { data, line } => process(machine, encoders, commits, data, line, bytes),
                    };
                    out.push(done);
                }
                buffers.items = items;
            }
            Batch::Raw {
                bytes: mut raw_bytes,
                mut records,
                decode,
            } => {
                for record in records.drain(..) {
                    let (start, end, line) = match record {
                        RawRecord::Bytes { start, end, line } => (start, end, line),
                        RawRecord::TooLarge(t) => {
                            out.push(Done::TooLarge(t));
                            continue;
                        }
                        RawRecord::Poison(p) => {
                            out.push(Done::Poison(p));
                            continue;
                        }
                    };
                    let raw = &raw_bytes[start..end];
                    let done = match catch_unwind(|| decode(raw)) {
                        Ok(Ok(data)) => process(machine, encoders, commits, data, line, bytes),
                        Ok(Err(error)) => Done::Malformed(Malformed {
                            line,
                            error,
                            raw: String::from_utf8_lossy(raw.trim_ascii()).into_owned(),
                        }),
                        Err(payload) => Done::Panicked {
                            message: panic_message(&*payload),
                            line,
                        },
                    };
                    out.push(done);
                }
                raw_bytes.clear();
                buffers.bytes = raw_bytes;
                buffers.records = records;
            }
        }
        buffers.slots = out.slots;
        buffers.others = out.others;
        let failed = scope.finish(true).err();
        if done
            .send(ChunkOut {
                seq,
                end,
                buffers,
                failed,
            })
            .is_err()
        {
            // The writer stopped: reading on would only fill memory nobody writes.
            if let Chunks::Source { source, .. } = &chunks {
                source.stop();
            }
            return;
        }
    }
}

/// A chunk's outcomes as the worker lists them.
struct Out<E, D> {
    slots: Vec<Slot>,
    others: Vec<Done<E, D>>,
}

impl<E, D> Out<E, D> {
    fn push(&mut self, done: Done<E, D>) {
        match done {
            Done::Encoded { route, start, stop } => self.slots.push(Slot::Encoded { route, start, stop }),
            other => {
                self.slots.push(Slot::Other);
                self.others.push(other);
            }
        }
    }
}

/// The records of a chunk, decoded, run together through [`Machine::run_all`]: in input order
/// among the other items of the chunk, or (not `ordered`) each as its run ends.
fn run_together<M: Machine>(
    machine: &M,
    encoders: &EncoderTable<M::End, M::Data>,
    batch: Batch<M::Data>,
    runs: Runs,
    out: &mut Out<M::End, M::Data>,
    bytes: &mut Vec<u8>,
) {
    // The items in order; a record's place is filled when its run ends.
    let mut slots: Vec<Option<Done<M::End, M::Data>>> = Vec::new();
    let mut records = Vec::new();
    let mut lines = Vec::new();
    let mut record = |slots: &mut Vec<Option<Done<M::End, M::Data>>>, data, line| {
        slots.push(None);
        records.push(data);
        lines.push((slots.len() - 1, line));
    };
    match batch {
        Batch::Items(items) => {
            for item in items {
                match item {
                    Item::Malformed(m) => slots.push(Some(Done::Malformed(m))),
                    Item::TooLarge(t) => slots.push(Some(Done::TooLarge(t))),
                    Item::Poison(p) => slots.push(Some(Done::Poison(p))),
                    Item::Record { data, line } => record(&mut slots, data, line),
                }
            }
        }
        Batch::Raw {
            bytes,
            records: raw,
            decode,
        } => {
            for r in raw {
                let (start, end, line) = match r {
                    RawRecord::Bytes { start, end, line } => (start, end, line),
                    RawRecord::TooLarge(t) => {
                        slots.push(Some(Done::TooLarge(t)));
                        continue;
                    }
                    RawRecord::Poison(p) => {
                        slots.push(Some(Done::Poison(p)));
                        continue;
                    }
                };
                let raw = &bytes[start..end];
                match catch_unwind(|| decode(raw)) {
                    Ok(Ok(data)) => record(&mut slots, data, line),
                    Ok(Err(error)) => slots.push(Some(Done::Malformed(Malformed {
                        line,
                        error,
                        raw: String::from_utf8_lossy(raw.trim_ascii()).into_owned(),
                    }))),
                    Err(payload) => slots.push(Some(Done::Panicked {
                        message: panic_message(&*payload),
                        line,
                    })),
                }
            }
        }
    }
    machine.run_all(records, runs.concurrency, runs.ordered, &mut |i, result| {
        let Some(&(slot, line)) = lines.get(i) else {
            return;
        };
        let done = match result {
            Ok(result) => settle(encoders, result, line, bytes),
            Err(payload) => Done::Panicked {
                message: panic_message(&*payload),
                line,
            },
        };
        if runs.ordered {
            if let Some(place) = slots.get_mut(slot) {
                *place = Some(done);
            }
        } else {
            out.push(done);
        }
    });
    for done in slots.into_iter().flatten() {
        out.push(done);
    }
}

/// Encodes the outcome of a run for its sink; a panic in the encoder is the record's dead letter.
fn settle<E: EndState, D>(
    encoders: &EncoderTable<E, D>,
    result: RunResult<E, D>,
    line: u64,
    bytes: &mut Vec<u8>,
) -> Done<E, D> {
    caught(line, bytes, |bytes| encode(encoders, result, line, bytes))
}

/// What `f` gives, or, when it panics, the record's dead letter with its bytes taken back.
#[inline(always)]
fn caught<E, D>(line: u64, bytes: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>) -> Done<E, D>) -> Done<E, D> {
    let mark = bytes.len();
    match catch_unwind(AssertUnwindSafe(|| f(&mut *bytes))) {
        Ok(done) => done,
        Err(payload) => {
            bytes.truncate(mark);
            Done::Panicked {
                message: panic_message(&*payload),
                line,
            }
        }
    }
}

/// Runs the machine and encodes the outcome. A panic anywhere in user code (state functions, an
/// encoder) becomes a dead letter: a worker thread never dies, or the writer would wait forever for
/// its chunk.
///
/// The run is one [`RecordScope`]: the per-record transactions of the machine's resources commit
/// when it ends in an end state that commits ([`Commits`]), and roll back otherwise, or when a
/// function panics (the scope is dropped while unwinding).
fn process<M: Machine>(
    machine: &M,
    encoders: &EncoderTable<M::End, M::Data>,
    commits: &Commits,
    data: M::Data,
    line: u64,
    bytes: &mut Vec<u8>,
) -> Done<M::End, M::Data> {
    caught(line, bytes, |bytes| {
        let scope = RecordScope::enter();
        let result = machine.run(data);
        let result = finish_record(scope, result, encoders, commits);
        encode(encoders, result, line, bytes)
    })
}

/// Commits or rolls back the record's transactions as its outcome says; a commit that fails
/// makes the run a failure (a dead letter), its writes rolled back.
fn finish_record<E: EndState, D>(
    scope: RecordScope,
    result: RunResult<E, D>,
    encoders: &EncoderTable<E, D>,
    commits: &Commits,
) -> RunResult<E, D> {
    let commit = match &result {
        Ok(outcome) => encoders
            .iter()
            .position(|(e, _)| *e == outcome.end)
            .and_then(|i| commits.get(i))
            .copied()
            .unwrap_or(false),
        Err(_) => false,
    };
    match (scope.finish(commit), result) {
        (Err(e), Ok(outcome)) if commit => Err(Failure {
            error: RunError::Function(StateError {
                network: "",
                state: outcome.end.name(),
                function: "commit",
                error: crate::FnError::from(e),
            }),
            data: outcome.data,
        }),
        (_, result) => result,
    }
}

/// The outcome of a run, encoded for its end state's sink when that sink has an encoder.
#[inline(always)]
fn encode<E: EndState, D>(
    encoders: &EncoderTable<E, D>,
    result: RunResult<E, D>,
    line: u64,
    bytes: &mut Vec<u8>,
) -> Done<E, D> {
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(failure) => {
            return Done::Failed {
                error: failure.error,
                data: failure.data,
                line,
            };
        }
    };
    let route = encoders
        .iter()
        .position(|(e, _)| *e == outcome.end)
        .unwrap_or(usize::MAX);
    let mut rejected = None;
    if let Some((_, Some((_, encode)))) = encoders.get(route) {
        let start = bytes.len();
        match encode(&outcome.data, bytes) {
            Ok(()) => {
                let stop = bytes.len();
                return Done::Encoded { route, start, stop };
            }
            Err(why) => {
                bytes.truncate(start);
                rejected = Some(why);
            }
        }
    }
    Done::Ended {
        end: outcome.end,
        route,
        data: outcome.data,
        error: outcome.error,
        line,
        rejected,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    };
    format!("panicked while processing the record: {what}")
}

pub(super) fn run_error_state(e: &RunError) -> &'static str {
    match e {
        RunError::Function(e) => e.state,
        RunError::NoTransition { state, .. } | RunError::StepLimit { state, .. } => state,
        // Where the run was when it began compensating, else the compensation that failed.
        RunError::Compensation { cause, failed } => match cause {
            Some(cause) => run_error_state(cause),
            None => failed.first().map_or("", |f| f.state),
        },
    }
}
