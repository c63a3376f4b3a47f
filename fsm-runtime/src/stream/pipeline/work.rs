//! The workers: threads taking chunks, decoding raw records, running the machine and encoding
//! each outcome for its sink.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

use super::super::{Encoder, Item, Malformed, Poison, Position, TooLarge};
use super::read::{Batch, ChunkIn, RawRecord};
use crate::core::{Machine, RunError, StateError};

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
    pub(super) items: Vec<Done<E, D>>,
    /// Records encoded by the worker, back to back.
    pub(super) bytes: Vec<u8>,
    pub(super) end: Option<Position>,
}

/// Per end state: the sink it routes to and that sink's encoder, if the sink has one.
pub(super) type EncoderEntry<E, D> = (E, Option<(usize, Encoder<D>)>);
pub(super) type EncoderTable<E, D> = [EncoderEntry<E, D>];

pub(super) fn work_loop<M: Machine>(
    machine: &M,
    encoders: &EncoderTable<M::End, M::Data>,
    chunks: &Mutex<Receiver<ChunkIn<M::Data>>>,
    done: SyncSender<ChunkOut<M::End, M::Data>>,
) {
    // Chunks encode to similar sizes: start each buffer at the largest seen, not at zero.
    let mut bytes_hint = 0;
    loop {
        let chunk = {
            let rx = chunks.lock().unwrap_or_else(PoisonError::into_inner);
            match rx.recv() {
                Ok(c) => c,
                Err(_) => return,
            }
        };
        let mut out = ChunkOut {
            seq: chunk.seq,
            items: Vec::with_capacity(chunk.batch.len()),
            bytes: Vec::with_capacity(bytes_hint),
            end: chunk.end,
        };
        match chunk.batch {
            Batch::Items(items) => {
                for item in items {
                    let done = match item {
                        Item::Malformed(m) => Done::Malformed(m),
                        Item::TooLarge(t) => Done::TooLarge(t),
                        Item::Poison(p) => Done::Poison(p),
                        Item::Record { data, line } => process(machine, encoders, data, line, &mut out.bytes),
                    };
                    out.items.push(done);
                }
            }
            Batch::Raw { bytes, records, decode } => {
                for record in records {
                    let (start, end, line) = match record {
                        RawRecord::Bytes { start, end, line } => (start, end, line),
                        RawRecord::TooLarge(t) => {
                            out.items.push(Done::TooLarge(t));
                            continue;
                        }
                        RawRecord::Poison(p) => {
                            out.items.push(Done::Poison(p));
                            continue;
                        }
                    };
                    let raw = &bytes[start..end];
                    let done = match catch_unwind(|| decode(raw)) {
                        Ok(Ok(data)) => process(machine, encoders, data, line, &mut out.bytes),
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
                    out.items.push(done);
                }
            }
        }
        bytes_hint = bytes_hint.max(out.bytes.len());
        if done.send(out).is_err() {
            return;
        }
    }
}

/// Runs the machine and encodes the outcome. A panic anywhere in user code (state functions, an
/// encoder) becomes a dead letter: a worker thread never dies, or the writer would wait forever for
/// its chunk.
fn process<M: Machine>(
    machine: &M,
    encoders: &EncoderTable<M::End, M::Data>,
    data: M::Data,
    line: u64,
    bytes: &mut Vec<u8>,
) -> Done<M::End, M::Data> {
    let mark = bytes.len();
    match catch_unwind(AssertUnwindSafe(|| {
        run_and_encode(machine, encoders, data, line, &mut *bytes)
    })) {
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

fn run_and_encode<M: Machine>(
    machine: &M,
    encoders: &EncoderTable<M::End, M::Data>,
    data: M::Data,
    line: u64,
    bytes: &mut Vec<u8>,
) -> Done<M::End, M::Data> {
    let outcome = match machine.run(data) {
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
    }
}
