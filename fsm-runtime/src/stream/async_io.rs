//! The async front door. The pipeline (machine, decoding, file writes) runs on tokio's blocking
//! pool, never on the executor's worker threads; async code feeds it and reads from it through
//! bounded channels, so back-pressure reaches the async producer too.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::{Item, Pipeline, Sink, Source, StreamError, Summary, WriteError};
use crate::core::Machine;

impl<M> Pipeline<'static, M>
where
    M: Machine + 'static,
    M::Data: 'static,
{
    /// Runs the pipeline on tokio's blocking pool and waits for it without blocking the executor.
    /// Use it for file sources and sinks from async code.
    pub async fn run_async<S>(self, source: S) -> Result<Summary, StreamError>
    where
        S: Source<Item = M::Data> + 'static,
    {
        tokio::task::spawn_blocking(move || self.run(source))
            .await
            .map_err(|e| StreamError::Panicked(e.to_string()))?
    }

    /// Processes an async stream of records. The stream is polled here (on the executor); records
    /// cross a bounded channel of `max_in_flight_records()` slots to the pipeline on the blocking
    /// pool, so a slow pipeline slows the stream down.
    pub async fn run_stream<St>(self, stream: St) -> Result<Summary, StreamError>
    where
        St: Stream<Item = M::Data> + Send,
    {
        let (tx, rx) = mpsc::channel(self.max_in_flight_records().max(1));
        let source = ReceiverSource {
            rx,
            line: 0,
            name: Arc::from("stream"),
        };
        let run = tokio::task::spawn_blocking(move || self.run(source));
        let mut stream = std::pin::pin!(stream);
        while let Some(record) = Next(stream.as_mut()).await {
            if tx.send(record).await.is_err() {
                // The pipeline stopped (a sink failed): its error is in `run`.
                break;
            }
        }
        drop(tx);
        run.await.map_err(|e| StreamError::Panicked(e.to_string()))?
    }
}

struct Next<'a, St: ?Sized>(Pin<&'a mut St>);

impl<St: Stream + ?Sized> Future for Next<'_, St> {
    type Output = Option<St::Item>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll_next(cx)
    }
}

struct ReceiverSource<T> {
    rx: mpsc::Receiver<T>,
    line: u64,
    name: Arc<str>,
}

impl<T: Send> Source for ReceiverSource<T> {
    type Item = T;

    fn next_item(&mut self) -> io::Result<Option<Item<T>>> {
        // Runs on the blocking pool, where blocking is allowed.
        Ok(self.rx.blocking_recv().map(|data| {
            self.line += 1;
            Item::Record { data, line: self.line }
        }))
    }

    fn name(&self) -> Arc<str> {
        self.name.clone()
    }
}

/// A sink that sends records into a bounded tokio channel, for async consumers (or as the source
/// of a next stage). Use it with [`Pipeline::run_async`] or [`Pipeline::run_stream`], whose writer
/// runs on the blocking pool: a full channel blocks the pipeline, never the executor.
pub struct TokioSink<T> {
    tx: mpsc::Sender<T>,
}

/// A bounded tokio channel: the sink goes into a pipeline, the receiver to async code.
pub fn tokio_channel<T: Send>(capacity: usize) -> (TokioSink<T>, mpsc::Receiver<T>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (TokioSink { tx }, rx)
}

impl<T: Clone + Send> Sink<T> for TokioSink<T> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        self.tx
            .blocking_send(record.clone())
            .map_err(|_| WriteError::Io(io::Error::new(io::ErrorKind::BrokenPipe, "the receiver was dropped")))
    }
}
