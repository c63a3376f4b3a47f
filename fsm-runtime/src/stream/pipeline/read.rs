//! The reader: one thread pulling chunks of records (decoded items or raw lines) from the source,
//! one permit per chunk.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use super::super::{Decoder, Item, Position, Source, StreamError};

pub(super) enum Batch<D> {
    /// Decoded by the source.
    Items(Vec<Item<D>>),
    /// Undecoded records, back to back in `bytes`, decoded by the workers: (start, end, line).
    Raw {
        bytes: Vec<u8>,
        records: Vec<(usize, usize, u64)>,
        decode: Decoder<D>,
    },
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
    let mut items = Vec::with_capacity(chunk_size);
    while items.len() < chunk_size {
        match source.next_item()? {
            Some(item) => items.push(item),
            None => return Ok((Batch::Items(items), true)),
        }
    }
    Ok((Batch::Items(items), false))
}

fn read_raw<S: Source>(
    source: &mut S,
    chunk_size: usize,
    decode: Decoder<S::Item>,
) -> io::Result<(Batch<S::Item>, bool)> {
    let mut bytes = Vec::with_capacity(chunk_size * 128);
    let mut records = Vec::with_capacity(chunk_size);
    let mut at_end = false;
    while records.len() < chunk_size {
        let start = bytes.len();
        match source.next_raw(&mut bytes)? {
            Some(line) => records.push((start, bytes.len(), line)),
            None => {
                at_end = true;
                break;
            }
        }
    }
    Ok((Batch::Raw { bytes, records, decode }, at_end))
}
