//! Streaming: push a stream of records through a machine, chunked, in parallel and back-pressured,
//! with one sink per end state and a dead-letter sink for everything that went wrong.
//!
//! ```text
//! Source ──> reader ──chunks──> K workers (Machine::run) ──> reorder ──> writer ──> Sink per end state
//!              ▲                                                              └──> dead-letter sink
//!              └──────────── permits: at most `in_flight` chunks exist at once ◄──┘
//! ```
//!
//! - A [`Source`] yields typed records (or [`Malformed`] lines, which are dead-lettered with file and
//!   line, never fatal). A [`Sink`] receives typed records. Both traits are public: add your own.
//! - Memory is bounded: the reader needs a permit per chunk and the writer gives it back once the
//!   chunk is written, so at most [`Pipeline::max_in_flight_records`] records exist at once, however
//!   large the input and however slow the sink (a slow sink slows the source down).
//! - Output order is input order by default (chunks carry sequence numbers); [`Pipeline::unordered`]
//!   writes chunks as they finish.
//! - The [`Summary`] always satisfies `read == written + dead_lettered + dropped`.
//! - Only I/O errors of sources, sinks and checkpoints stop a run ([`StreamError`]); a bad record,
//!   a failing function, even a panicking one, is dead-lettered and the stream goes on.
//!
//! ```
//! use fsm_runtime::stream::{IterSource, Pipeline, VecSink};
//! use fsm_runtime::{EndState, Failure, Machine, Outcome, StateName};
//!
//! #[derive(Clone, Copy, Debug, PartialEq, Eq)]
//! enum End { Even, Odd }
//! impl StateName for End {
//!     fn name(&self) -> &'static str { match self { End::Even => "even", End::Odd => "odd" } }
//! }
//! impl EndState for End { const ALL: &'static [Self] = &[End::Even, End::Odd]; }
//!
//! struct Parity;
//! impl Machine for Parity {
//!     type Data = u64;
//!     type End = End;
//!     fn run(&self, n: u64) -> Result<Outcome<End, u64>, Failure<u64>> {
//!         let end = if n % 2 == 0 { End::Even } else { End::Odd };
//!         Ok(Outcome { end, data: n, error: None, transitions: 1, history: Vec::new() })
//!     }
//! }
//!
//! let even = VecSink::new();
//! let summary = Pipeline::new(&Parity)
//!     .route("even", even.clone())
//!     .drop_state("odd")
//!     .chunk_size(4)
//!     .run(IterSource::new(0..10u64))?;
//! assert_eq!(even.take(), vec![0, 2, 4, 6, 8]);
//! assert_eq!(summary.read, 10);
//! assert!(summary.is_balanced());
//! # Ok::<(), fsm_runtime::stream::StreamError>(())
//! ```

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::core::{Failure, Machine, Outcome};

mod checkpoint;
mod commit;
mod file;
mod memory;
mod pipeline;
mod summary;

#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "tokio")]
mod async_io;
#[cfg(feature = "tokio")]
mod concurrent;
#[cfg(feature = "csv")]
mod csv_io;
#[cfg(feature = "jsonl")]
mod jsonl;
#[cfg(feature = "progress")]
pub mod progress;

#[cfg(feature = "tokio")]
pub use self::async_io::{TokioSink, tokio_channel};
pub use self::commit::{ChunkCommit, Committed};
#[cfg(feature = "tokio")]
pub use self::concurrent::Concurrent;
#[cfg(feature = "csv")]
pub use self::csv_io::{CsvSink, CsvSource};
pub use self::file::{AtomicFile, InputFile, OutputFile, distinct_files};
#[cfg(feature = "jsonl")]
pub use self::jsonl::{DEFAULT_MAX_RECORD_BYTES, JsonCodec, JsonlSink, JsonlSource};
pub use self::memory::{ChannelSink, ChannelSource, FnSink, IterSource, MapSink, VecSink, channel};
#[cfg(feature = "nats")]
pub use self::nats::{JetStream, NatsConsumer, NatsDeadLetterSink, NatsSink, NatsSource, NatsUrl, Published};
pub use self::pipeline::Pipeline;
#[cfg(feature = "postgres")]
pub use self::postgres::{
    PostgresDeadLetterSink, PostgresJsonSink, PostgresSink, PostgresSource, PostgresTarget, create_serialized,
};
#[cfg(feature = "sqlite")]
pub use self::sqlite::{SqliteDeadLetterSink, SqliteSink, SqliteSource, SqliteTarget};

pub use self::summary::{DeadLetter, DeadLetterReason, Progress, Summary};

/// A machine shared by reference count, e.g. to move a pipeline into the async front door.
impl<M: Machine + ?Sized> Machine for Arc<M> {
    type Data = M::Data;
    type End = M::End;
    fn run(&self, data: Self::Data) -> Result<Outcome<Self::End, Self::Data>, Failure<Self::Data>> {
        (**self).run(data)
    }
    fn run_all(
        &self,
        records: Vec<Self::Data>,
        concurrency: usize,
        ordered: bool,
        done: &mut crate::core::RunDone<'_, Self>,
    ) {
        (**self).run_all(records, concurrency, ordered, done)
    }
}

/// One item a [`Source`] yields: a record, or a line that could not be decoded.
#[derive(Debug)]
pub enum Item<T> {
    /// A decoded record and its 1-based line (or record number) in the source.
    Record {
        /// The record.
        data: T,
        /// Line in a file, or position in an iterator, starting at 1.
        line: u64,
    },
    /// A line that could not be decoded; it goes to the dead-letter sink.
    Malformed(Malformed),
    /// A line longer than the source's maximum record size, skipped unread; it goes to the
    /// dead-letter sink (reason `too_large`).
    TooLarge(TooLarge),
    /// A record the source gives up on unprocessed (delivered too often); it goes to the
    /// dead-letter sink (reason `poison`).
    Poison(Poison),
}

/// A record a source gives up on without processing it: a message broker redelivered it more
/// often than the source allows, as happens when it makes its worker crash every time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Poison {
    /// The record's line (for a stream: its sequence number).
    pub line: u64,
    /// How often it was delivered, this time included.
    pub deliveries: u64,
    /// The record as received (invalid UTF-8 replaced).
    pub raw: String,
}

/// A line a source skipped because it is longer than its maximum record size: it was read past
/// in bounded memory, never held whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// 1-based line in the source.
    pub line: u64,
    /// The line's length in bytes (without its line end).
    pub bytes: u64,
    /// The source's maximum record size in bytes.
    pub limit: u64,
}

/// What [`Source::next_raw`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Raw {
    /// A record's bytes were appended to the buffer; this is its 1-based line.
    Record(u64),
    /// A line too long to read; nothing was appended.
    TooLarge(TooLarge),
    /// A record the source gives up on; nothing was appended.
    Poison(Poison),
}

/// A line of input that could not be decoded into a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// 1-based line (or record number) in the source.
    pub line: u64,
    /// Why decoding failed.
    pub error: String,
    /// The line as read (invalid UTF-8 replaced).
    pub raw: String,
}

/// Where a source stands: enough to resume reading after the last item returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Bytes consumed (of the decompressed stream, for gzip input).
    pub offset: u64,
    /// Lines (or records) consumed.
    pub line: u64,
}

/// Decodes one record from its bytes (a line of a file); the error becomes a [`Malformed`].
pub type Decoder<T> = fn(&[u8]) -> Result<T, String>;

/// Encodes one record, appending its bytes (e.g. a JSON line) to the buffer.
pub type Encoder<T> = fn(&T, &mut Vec<u8>) -> Result<(), String>;

/// A stream of records: a file, stdin, an iterator, a channel, or your own (database cursor, queue).
///
/// Runs on the pipeline's reader thread, hence `Send`. A source whose records are lines decoded by
/// a pure function can hand the decoding to the workers, where it runs in parallel: it returns a
/// [`Decoder`] from [`Source::decoder`] and implements [`Source::next_raw`]. Such a source has no
/// reader thread: the workers call `next_raw` in turns (one at a time), each for the chunk it
/// then decodes and runs.
pub trait Source: Send {
    /// The record type.
    type Item: Send;

    /// The next item; `Ok(None)` at the end. An `Err` is an I/O failure of the source itself and
    /// stops the run; a record that cannot be decoded is an `Ok(Some(Item::Malformed(..)))`.
    fn next_item(&mut self) -> io::Result<Option<Item<Self::Item>>>;

    /// A name for dead letters and messages: the file path, `stdin`, `iterator`.
    fn name(&self) -> Arc<str>;

    /// The file read, if the source reads one: the pipeline refuses to write it (see
    /// [`distinct_files`]), and a checkpoint records which file it is, so that it never resumes
    /// another input.
    fn path(&self) -> Option<&std::path::Path> {
        None
    }

    /// The decoder the workers apply to what [`Source::next_raw`] returns, for sources that read
    /// undecoded records. When it is `Some`, the pipeline calls `next_raw` instead of `next_item`.
    fn decoder(&self) -> Option<Decoder<Self::Item>> {
        None
    }

    /// Appends the bytes of the next record, undecoded, to `buf` and returns its line
    /// ([`Raw::Record`]), or reports a line too long to read ([`Raw::TooLarge`], nothing appended);
    /// `Ok(None)` at the end. Only called when [`Source::decoder`] is `Some`.
    fn next_raw(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Raw>> {
        let _ = buf;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this source has no raw records",
        ))
    }

    /// The position after the last item returned, if the source can resume from one.
    fn position(&self) -> Option<Position> {
        None
    }

    /// Continues reading at a position returned by [`Source::position`] in an earlier run.
    fn resume(&mut self, at: Position) -> io::Result<()> {
        let _ = at;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("source `{}` cannot resume from a checkpoint", self.name()),
        ))
    }

    /// Whether the chunk being filled is to be handed on after the item just returned instead of
    /// being filled up to the chunk size. A source that waits for records (a message broker)
    /// says so at the end of each batch it received, so that what it has is processed now.
    fn end_of_batch(&self) -> bool {
        false
    }

    /// For a source that must be told what is safely written (a message broker redelivers what
    /// it is not told about): a [`ChunkCommit`] that the pipeline commits once the output of
    /// everything up to a position is durable, with that position (one the source returned from
    /// [`Source::position`]), and rolls back when the run stops with an error. Called once,
    /// before reading; [`ChunkCommit::load`] is not called (the source keeps its position).
    ///
    /// When there is one, a chunk is made durable before the next is written: by the pipeline's
    /// [commit store](Pipeline::commit_chunks), by its [checkpoint](Pipeline::checkpoint)
    /// (taken after every chunk), or else by [`Sink::checkpoint`] on every sink after every
    /// chunk (which files refuse: an output file appears only when the run ends, so it needs a
    /// checkpoint to be durable before then). Input order is needed.
    fn acknowledger(&mut self) -> Option<Box<dyn ChunkCommit>> {
        None
    }
}

/// Why a [`Sink`] did not take a record.
#[derive(Debug)]
pub enum WriteError {
    /// This record cannot be written (e.g. it cannot be encoded); it goes to the dead-letter sink
    /// and the stream goes on.
    Rejected(String),
    /// The sink itself failed (disk full, broken pipe): the run stops with this error.
    Io(io::Error),
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Rejected(m) => write!(f, "record rejected: {m}"),
            WriteError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Rejected(_) => None,
            WriteError::Io(e) => Some(e),
        }
    }
}

/// Where records go: a file, stdout, a `Vec`, a channel into another pipeline, or your own.
///
/// All sinks of a pipeline are driven by one writer thread (the caller's), in output order. A sink
/// that writes bytes can have the workers encode records in parallel: it returns an [`Encoder`]
/// from [`Sink::encoder`], and receives the encoded bytes in [`Sink::write_encoded`].
pub trait Sink<T>: Send {
    /// Writes one record.
    fn write(&mut self, record: &T) -> Result<(), WriteError>;

    /// Writes one record and where it came from: the source's name and the record's line there
    /// (a file's line, a table's key, a stream's sequence number). The pipeline calls this for
    /// records it did not have encoded; a sink that derives something from the origin (a message
    /// ID by which a broker drops replays) implements it, the others keep this default, which
    /// calls [`Sink::write`].
    fn write_from(&mut self, record: &T, source: &str, line: u64) -> Result<(), WriteError> {
        let _ = (source, line);
        self.write(record)
    }

    /// The file written, if the sink writes one: the pipeline refuses a run in which two roles
    /// share a file (see [`distinct_files`]), and a checkpoint records it.
    fn path(&self) -> Option<&std::path::Path> {
        None
    }

    /// An encoder the workers may run; the bytes then reach [`Sink::write_encoded`] instead of
    /// records reaching [`Sink::write`]. An encoder error rejects the record (dead letter).
    fn encoder(&self) -> Option<Encoder<T>> {
        None
    }

    /// Writes bytes produced by [`Sink::encoder`], for one or more records (the pipeline joins
    /// records encoded back to back). An error here stops the run, a rejection included.
    fn write_encoded(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let _ = bytes;
        Err(WriteError::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            "this sink takes no encoded records",
        )))
    }

    /// Makes everything written so far durable and returns a token for this point (for files: the
    /// byte length), stored in the pipeline's checkpoint. Sinks that cannot do this return
    /// [`io::ErrorKind::Unsupported`], and a pipeline with a checkpoint refuses to start.
    fn checkpoint(&mut self) -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this sink cannot checkpoint",
        ))
    }

    /// Returns to a point returned by [`Sink::checkpoint`] in an earlier, interrupted run, dropping
    /// whatever was written after it. Called before any write.
    fn restore(&mut self, token: u64) -> io::Result<()> {
        let _ = token;
        Err(io::Error::new(io::ErrorKind::Unsupported, "this sink cannot resume"))
    }

    /// Called once after the last record of a successful run: flush, and for files, move the output
    /// to its final name. Not called when the run fails.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<T, S: Sink<T> + ?Sized> Sink<T> for Box<S> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        (**self).write(record)
    }
    fn write_from(&mut self, record: &T, source: &str, line: u64) -> Result<(), WriteError> {
        (**self).write_from(record, source, line)
    }
    fn path(&self) -> Option<&std::path::Path> {
        (**self).path()
    }
    fn encoder(&self) -> Option<Encoder<T>> {
        (**self).encoder()
    }
    fn write_encoded(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        (**self).write_encoded(bytes)
    }
    fn checkpoint(&mut self) -> io::Result<u64> {
        (**self).checkpoint()
    }
    fn restore(&mut self, token: u64) -> io::Result<()> {
        (**self).restore(token)
    }
    fn finish(&mut self) -> io::Result<()> {
        (**self).finish()
    }
}

/// What stops a run. Bad records never do; only I/O failures, a configuration mistake, or a broken
/// checkpoint.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// The source failed to read.
    Source {
        /// The source's name.
        source_name: Arc<str>,
        /// The I/O error.
        error: io::Error,
    },
    /// A sink failed to write, checkpoint or finish.
    Sink {
        /// The end state the sink is routed from, or `dead-letter`.
        route: String,
        /// The I/O error.
        error: io::Error,
    },
    /// The checkpoint file could not be read, written, or does not match this pipeline.
    Checkpoint {
        /// The checkpoint file.
        path: std::path::PathBuf,
        /// What went wrong.
        error: io::Error,
    },
    /// Committing a chunk ([`Pipeline::commit_chunks`]) failed, or its saved position could not
    /// be read: the chunk's writes were rolled back (or landed, as the next run reads back).
    Commit {
        /// The store's name ([`ChunkCommit::name`]).
        store: String,
        /// What went wrong.
        error: io::Error,
    },
    /// The pipeline's configuration is wrong (e.g. a route names no end state of the machine).
    Config(String),
    /// A pipeline thread panicked outside user code (a bug).
    Panicked(String),
    /// A health check of the pipeline ([`Pipeline::health_check`],
    /// [`Pipeline::watch_health`]) failed: the resources the machine needs are not usable.
    Unhealthy(crate::resources::HealthError),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Source { source_name, error } => write!(f, "reading `{source_name}` failed: {error}"),
            StreamError::Sink { route, error } if route == "*dead-letter*" => {
                write!(f, "the dead-letter sink failed: {error}")
            }
            StreamError::Sink { route, error } => write!(f, "the sink of `{route}` failed: {error}"),
            StreamError::Checkpoint { path, error } => {
                write!(f, "checkpoint `{}`: {error}", path.display())
            }
            StreamError::Commit { store, error } => write!(f, "committing a chunk to {store} failed: {error}"),
            StreamError::Config(m) => write!(f, "pipeline configuration: {m}"),
            StreamError::Panicked(m) => write!(f, "a pipeline thread panicked: {m}"),
            StreamError::Unhealthy(e) => write!(f, "stopped: {e}"),
        }
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Source { error, .. }
            | StreamError::Sink { error, .. }
            | StreamError::Checkpoint { error, .. }
            | StreamError::Commit { error, .. } => Some(error),
            StreamError::Unhealthy(e) => Some(e),
            StreamError::Config(_) | StreamError::Panicked(_) => None,
        }
    }
}
