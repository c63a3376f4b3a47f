//! Reading chunks of records from the source, one permit per chunk. A permit is the buffers of a
//! chunk the writer is done with: a steady run allocates no chunk buffer, and frees none on
//! another thread.
//!
//! Two ways to read. A source that decodes its records itself (a database cursor, a queue, an
//! iterator) gets a thread of its own, the reader (`read_loop`), so that its waits overlap the
//! workers' work. A source of raw records (lines of a file or of stdin, decoded by the workers) is
//! read by the workers themselves, in turns (`SharedSource`): splitting lines costs little next
//! to decoding them, and the bytes a worker reads are then still in its core's cache when it
//! decodes them, instead of crossing from the reader's core.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

use super::super::{Decoder, Item, Poison, Position, Raw, Source, StreamError, TooLarge};
use super::work::{Done, Slot};

/// At most this many records, and bytes, are allocated ahead for a chunk: a huge chunk size grows
/// its buffers as records arrive instead of reserving memory that may not exist.
const PREALLOCATE_RECORDS: usize = 1 << 16;
const PREALLOCATE_BYTES: usize = 16 << 20;

pub(super) enum Batch<D> {
    /// Decoded by the source.
    Items(Vec<Item<D>>),
    /// Undecoded records, back to back in `bytes`, decoded by the workers.
    Raw {
        bytes: Vec<u8>,
        records: Vec<RawRecord>,
        decode: Decoder<D>,
    },
}

pub(super) enum RawRecord {
    /// `bytes[start..end]` of the batch, from line `line`.
    Bytes { start: usize, end: usize, line: u64 },
    /// A line the source skipped as too long.
    TooLarge(TooLarge),
    /// A record the source gave up on.
    Poison(Poison),
}

impl<D> Batch<D> {
    pub(super) fn len(&self) -> usize {
        match self {
            Batch::Items(items) => items.len(),
            Batch::Raw { records, .. } => records.len(),
        }
    }
}

/// The buffers a chunk needs on its way through the pipeline, handed from the writer back to the
/// reader (the permit for the next chunk), filled by the reader, passed on by the workers, emptied by
/// the writer. They keep their capacity, up to a bound, so chunks after the first allocate nothing.
pub(super) struct Buffers<E, D> {
    /// Decoded records of a source that decodes itself.
    pub(super) items: Vec<Item<D>>,
    /// Raw records back to back, for the workers to decode.
    pub(super) bytes: Vec<u8>,
    pub(super) records: Vec<RawRecord>,
    /// What the workers made of each record: `slots` in input order, and the records that were
    /// not encoded, in the same order, in `others`.
    pub(super) slots: Vec<Slot>,
    pub(super) others: Vec<Done<E, D>>,
    /// Records the workers encoded for their sinks, back to back.
    pub(super) encoded: Vec<u8>,
}

impl<E, D> Buffers<E, D> {
    pub(super) fn new() -> Self {
        Buffers {
            items: Vec::new(),
            bytes: Vec::new(),
            records: Vec::new(),
            slots: Vec::new(),
            others: Vec::new(),
            encoded: Vec::new(),
        }
    }

    /// Empties the buffers for the next chunk, and gives back the memory of a chunk that was far
    /// larger than usual (a few huge records), so one such chunk does not hold it for the rest of
    /// the run.
    pub(super) fn recycle(&mut self) {
        fn keep<T>(v: &mut Vec<T>, most: usize) {
            v.clear();
            if v.capacity() > most {
                *v = Vec::new();
            }
        }
        keep(&mut self.items, PREALLOCATE_RECORDS);
        keep(&mut self.records, PREALLOCATE_RECORDS);
        keep(&mut self.slots, PREALLOCATE_RECORDS);
        keep(&mut self.others, PREALLOCATE_RECORDS);
        keep(&mut self.bytes, PREALLOCATE_BYTES);
        keep(&mut self.encoded, PREALLOCATE_BYTES);
    }
}

pub(super) struct ChunkIn<E, D> {
    pub(super) seq: u64,
    pub(super) batch: Batch<D>,
    pub(super) end: Option<Position>,
    /// The rest of the chunk's buffers (those `batch` does not hold), for the workers' output.
    pub(super) buffers: Buffers<E, D>,
}

pub(super) fn read_loop<S: Source, E>(
    mut source: S,
    chunk_size: usize,
    permits: &Mutex<Receiver<Buffers<E, S::Item>>>,
    chunks: SyncSender<ChunkIn<E, S::Item>>,
    read: &AtomicU64,
) -> Result<(), StreamError> {
    let mut seq = 0;
    loop {
        // A permit per chunk bounds the records in flight; no permit means the writer stopped.
        let Ok(mut buffers) = permits.lock().unwrap_or_else(PoisonError::into_inner).recv() else {
            return Ok(());
        };
        let (batch, at_end) =
            read_items(&mut source, chunk_size, &mut buffers).map_err(|error| StreamError::Source {
                source_name: source.name(),
                error,
            })?;
        let n = batch.len();
        if n > 0 {
            read.fetch_add(n as u64, Ordering::Relaxed);
            let chunk = ChunkIn {
                seq,
                batch,
                end: source.position(),
                buffers,
            };
            if chunks.send(chunk).is_err() {
                return Ok(());
            }
            seq += 1;
        }
        if at_end {
            return Ok(());
        }
    }
}

/// A source of raw records shared by the workers: each takes a permit, then the source, reads a
/// chunk, lets go of the source and processes the chunk.
pub(super) struct SharedSource<S: Source> {
    state: Mutex<Shared<S>>,
    decode: Decoder<S::Item>,
    chunk_size: usize,
}

struct Shared<S> {
    source: S,
    seq: u64,
    /// The source is exhausted, failed, or the run stops: no worker reads again.
    done: bool,
    error: Option<StreamError>,
}

impl<S: Source> SharedSource<S> {
    pub(super) fn new(source: S, decode: Decoder<S::Item>, chunk_size: usize) -> Self {
        SharedSource {
            state: Mutex::new(Shared {
                source,
                seq: 0,
                done: false,
                error: None,
            }),
            decode,
            chunk_size,
        }
    }

    /// The next chunk, read into `buffers`; `None` when there is nothing more to read (the end, or
    /// a failure of the source, kept for [`SharedSource::finish`]).
    pub(super) fn next_chunk<E>(
        &self,
        mut buffers: Buffers<E, S::Item>,
        read: &AtomicU64,
    ) -> Option<ChunkIn<E, S::Item>> {
        let mut shared = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if shared.done {
                return None;
            }
            let reading = catch_unwind(AssertUnwindSafe(|| {
                read_raw(&mut shared.source, self.chunk_size, self.decode, &mut buffers)
            }));
            let (batch, at_end) = match reading {
                Ok(Ok(read)) => read,
                Ok(Err(error)) => {
                    let source_name = shared.source.name();
                    shared.error = Some(StreamError::Source { source_name, error });
                    shared.done = true;
                    return None;
                }
                Err(_) => {
                    shared.error = Some(StreamError::Panicked(
                        "a worker reading the source (the source panicked)".to_string(),
                    ));
                    shared.done = true;
                    return None;
                }
            };
            shared.done = at_end;
            let n = batch.len();
            if n == 0 {
                // Nothing read: at the end (then `done`), or never (a chunk size of at least one
                // reads at least one record unless at the end).
                continue;
            }
            read.fetch_add(n as u64, Ordering::Relaxed);
            let seq = shared.seq;
            shared.seq += 1;
            return Some(ChunkIn {
                seq,
                batch,
                end: shared.source.position(),
                buffers,
            });
        }
    }

    /// Stops the reading (the writer stopped: nothing read now would be written).
    pub(super) fn stop(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).done = true;
    }

    /// The failure that ended the reading, if the source failed.
    pub(super) fn finish(self) -> Result<(), StreamError> {
        let shared = self.state.into_inner().unwrap_or_else(PoisonError::into_inner);
        shared.error.map_or(Ok(()), Err)
    }
}

fn read_items<S: Source, E>(
    source: &mut S,
    chunk_size: usize,
    buffers: &mut Buffers<E, S::Item>,
) -> io::Result<(Batch<S::Item>, bool)> {
    let mut items = std::mem::take(&mut buffers.items);
    items.reserve(chunk_size.min(PREALLOCATE_RECORDS));
    while items.len() < chunk_size {
        match source.next_item()? {
            Some(item) => items.push(item),
            None => return Ok((Batch::Items(items), true)),
        }
        if source.end_of_batch() {
            break;
        }
    }
    Ok((Batch::Items(items), false))
}

fn read_raw<S: Source, E>(
    source: &mut S,
    chunk_size: usize,
    decode: Decoder<S::Item>,
    buffers: &mut Buffers<E, S::Item>,
) -> io::Result<(Batch<S::Item>, bool)> {
    let mut bytes = std::mem::take(&mut buffers.bytes);
    bytes.reserve(chunk_size.saturating_mul(128).min(PREALLOCATE_BYTES));
    let mut records = std::mem::take(&mut buffers.records);
    records.reserve(chunk_size.min(PREALLOCATE_RECORDS));
    let mut at_end = false;
    while records.len() < chunk_size {
        let start = bytes.len();
        match source.next_raw(&mut bytes)? {
            Some(Raw::Record(line)) => records.push(RawRecord::Bytes {
                start,
                end: bytes.len(),
                line,
            }),
            Some(Raw::TooLarge(t)) => {
                // Nothing of the line is kept, whatever the source appended.
                bytes.truncate(start);
                records.push(RawRecord::TooLarge(t));
            }
            Some(Raw::Poison(p)) => {
                bytes.truncate(start);
                records.push(RawRecord::Poison(p));
            }
            None => {
                at_end = true;
                break;
            }
        }
        if source.end_of_batch() {
            break;
        }
    }
    Ok((Batch::Raw { bytes, records, decode }, at_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_buffers_are_empty_and_keep_a_usual_chunks_memory_only() {
        let mut b: Buffers<(), u64> = Buffers::new();
        b.bytes.extend_from_slice(&[1; 1000]);
        b.records.push(RawRecord::Bytes {
            start: 0,
            end: 10,
            line: 1,
        });
        b.encoded.reserve(PREALLOCATE_BYTES + 1);
        b.encoded.push(7);
        b.recycle();
        assert!(b.bytes.is_empty() && b.records.is_empty() && b.encoded.is_empty());
        // A usual chunk's capacity is kept for the next chunk...
        assert!(b.bytes.capacity() >= 1000);
        assert!(b.records.capacity() >= 1);
        // ... an unusually large one is given back.
        assert_eq!(b.encoded.capacity(), 0);
    }
}
