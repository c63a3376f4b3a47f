//! In-memory sources and sinks: iterators, vectors, closures, and bounded channels that connect one
//! pipeline's output to another pipeline's input without touching disk.

use std::io;
use std::marker::PhantomData;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Item, Position, Sink, Source, WriteError};

/// A source over any iterator of records. It can resume from a checkpoint by skipping the records
/// an earlier run consumed (the iterator must yield the same records again).
pub struct IterSource<I> {
    iter: I,
    line: u64,
    name: Arc<str>,
}

impl<I> IterSource<I>
where
    I: Iterator + Send,
    I::Item: Send,
{
    /// Wraps an iterator (anything `IntoIterator`).
    pub fn new(iter: impl IntoIterator<IntoIter = I>) -> Self {
        IterSource {
            iter: iter.into_iter(),
            line: 0,
            name: Arc::from("iterator"),
        }
    }

    /// Names the source in dead letters (default `iterator`).
    pub fn named(mut self, name: &str) -> Self {
        self.name = Arc::from(name);
        self
    }
}

impl<I> Source for IterSource<I>
where
    I: Iterator + Send,
    I::Item: Send,
{
    type Item = I::Item;

    fn next_item(&mut self) -> io::Result<Option<Item<I::Item>>> {
        Ok(self.iter.next().map(|data| {
            self.line += 1;
            Item::Record { data, line: self.line }
        }))
    }

    fn name(&self) -> Arc<str> {
        self.name.clone()
    }

    fn position(&self) -> Option<Position> {
        Some(Position {
            offset: self.line,
            line: self.line,
        })
    }

    fn resume(&mut self, at: Position) -> io::Result<()> {
        while self.line < at.line {
            if self.iter.next().is_none() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the iterator ended before record {} of the checkpoint", at.line),
                ));
            }
            self.line += 1;
        }
        Ok(())
    }
}

/// A sink that collects records into a shared `Vec`; clone it before handing it to the pipeline to
/// read the records afterwards.
pub struct VecSink<T> {
    records: Arc<Mutex<Vec<T>>>,
}

impl<T> VecSink<T> {
    /// An empty sink.
    pub fn new() -> Self {
        VecSink {
            records: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Takes the records collected so far.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Default for VecSink<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for VecSink<T> {
    fn clone(&self) -> Self {
        VecSink {
            records: self.records.clone(),
        }
    }
}

impl<T: Clone + Send> Sink<T> for VecSink<T> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record.clone());
        Ok(())
    }

    /// The number of records held: restoring truncates to it.
    fn checkpoint(&mut self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn restore(&mut self, token: u64) -> io::Result<()> {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records.truncate(usize::try_from(token).unwrap_or(usize::MAX));
        Ok(())
    }
}

/// A sink that calls a closure for each record.
pub struct FnSink<F, T> {
    f: F,
    _record: PhantomData<fn(&T)>,
}

impl<F, T> FnSink<F, T>
where
    F: FnMut(&T) -> Result<(), WriteError> + Send,
{
    /// Wraps the closure.
    pub fn new(f: F) -> Self {
        FnSink {
            f,
            _record: PhantomData,
        }
    }
}

impl<F, T> Sink<T> for FnSink<F, T>
where
    F: FnMut(&T) -> Result<(), WriteError> + Send,
{
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        (self.f)(record)
    }
}

/// A sink that converts records before handing them to another sink: how the output of one
/// machine becomes the input type of the next.
pub struct MapSink<S, F, T> {
    inner: S,
    f: F,
    _record: PhantomData<fn(&T)>,
}

impl<S, F, T, U> MapSink<S, F, T>
where
    S: Sink<U>,
    F: FnMut(&T) -> U + Send,
{
    /// Applies `f` to each record, then writes the result to `inner`.
    pub fn new(inner: S, f: F) -> Self {
        MapSink {
            inner,
            f,
            _record: PhantomData,
        }
    }
}

impl<S, F, T, U> Sink<T> for MapSink<S, F, T>
where
    S: Sink<U>,
    F: FnMut(&T) -> U + Send,
{
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        let mapped = (self.f)(record);
        self.inner.write(&mapped)
    }
    fn path(&self) -> Option<&std::path::Path> {
        self.inner.path()
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

/// A bounded in-memory channel: the sink end goes into one pipeline, the source end feeds another
/// (running on another thread). When the channel is full the first pipeline waits, so the stages
/// run at the pace of the slower one and memory stays bounded.
///
/// The source ends when the first pipeline finishes; if it fails instead (its sink is dropped
/// without [`Sink::finish`]), the second pipeline's source fails too, so it does not finish its own
/// outputs as if the stream were complete.
pub fn channel<T: Send>(capacity: usize) -> (ChannelSink<T>, ChannelSource<T>) {
    let (tx, rx) = sync_channel(capacity.max(1));
    (
        ChannelSink { tx, _t: PhantomData },
        ChannelSource {
            rx,
            line: 0,
            name: Arc::from("channel"),
        },
    )
}

/// The sending end of [`channel`]. Writes clone the record.
pub struct ChannelSink<T> {
    tx: SyncSender<Option<T>>,
    _t: PhantomData<fn(&T)>,
}

impl<T: Clone + Send> Sink<T> for ChannelSink<T> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        self.tx
            .send(Some(record.clone()))
            .map_err(|_| WriteError::Io(receiver_gone()))
    }

    fn finish(&mut self) -> io::Result<()> {
        self.tx.send(None).map_err(|_| receiver_gone())
    }
}

fn receiver_gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the receiving stage stopped")
}

/// The receiving end of [`channel`].
pub struct ChannelSource<T> {
    rx: Receiver<Option<T>>,
    line: u64,
    name: Arc<str>,
}

impl<T> ChannelSource<T> {
    /// Names the source in dead letters (default `channel`).
    pub fn named(mut self, name: &str) -> Self {
        self.name = Arc::from(name);
        self
    }
}

impl<T: Send> Source for ChannelSource<T> {
    type Item = T;

    fn next_item(&mut self) -> io::Result<Option<Item<T>>> {
        match self.rx.recv() {
            Ok(Some(data)) => {
                self.line += 1;
                Ok(Some(Item::Record { data, line: self.line }))
            }
            Ok(None) => Ok(None),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the sending stage stopped before the end of its stream",
            )),
        }
    }

    fn name(&self) -> Arc<str> {
        self.name.clone()
    }
}
