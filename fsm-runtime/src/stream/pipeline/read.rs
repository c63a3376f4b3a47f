//! The reader: one thread pulling chunks of records (decoded items or raw lines) from the source,
//! one permit per chunk.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use super::super::{Decoder, Item, Poison, Position, Raw, Source, StreamError, TooLarge};

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

pub(super) struct ChunkIn<D> {
    pub(super) seq: u64,
    pub(super) batch: Batch<D>,
    pub(super) end: Option<Position>,
}

pub(super) fn read_loop<S: Source>(
    mut source: S,
    chunk_size: usize,
    permits: Receiver<()>,
    chunks: SyncSender<ChunkIn<S::Item>>,
    read: &AtomicU64,
) -> Result<(), StreamError> {
    let decoder = source.decoder();
    let mut seq = 0;
    loop {
        // A permit per chunk bounds the records in flight; no permit means the writer stopped.
        if permits.recv().is_err() {
            return Ok(());
        }
        let (batch, at_end) = match decoder {
            Some(decode) => read_raw(&mut source, chunk_size, decode),
            None => read_items(&mut source, chunk_size),
        }
        .map_err(|error| StreamError::Source {
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

fn read_items<S: Source>(source: &mut S, chunk_size: usize) -> io::Result<(Batch<S::Item>, bool)> {
    let mut items = Vec::with_capacity(chunk_size.min(PREALLOCATE_RECORDS));
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

fn read_raw<S: Source>(
    source: &mut S,
    chunk_size: usize,
    decode: Decoder<S::Item>,
) -> io::Result<(Batch<S::Item>, bool)> {
    let mut bytes = Vec::with_capacity(chunk_size.saturating_mul(128).min(PREALLOCATE_BYTES));
    let mut records = Vec::with_capacity(chunk_size.min(PREALLOCATE_RECORDS));
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
