//! The pipeline: reader thread, worker threads, and the writer (the calling thread).

use std::collections::BTreeMap;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::checkpoint::{Checkpoint, FileId, Setup};
use super::file::canonical_path;
use super::summary::per_sec;
use super::{
    DeadLetter, DeadLetterReason, Decoder, Encoder, Item, Malformed, Position, Progress, Sink, Source, StreamError,
    Summary, WriteError,
};
use crate::core::{EndState, Machine, RunError, StateError};
use crate::resources::{HealthError, ResourceSet};

const DEAD_LETTER_KEY: &str = "*dead-letter*";
const DEFAULT_KEY: &str = "*default*";

type BoxSink<'a, T> = Box<dyn Sink<T> + 'a>;
type ProgressFn<'a> = Box<dyn FnMut(&Progress) + Send + 'a>;
type HealthFn<'a> = Box<dyn FnMut() -> Result<(), HealthError> + Send + 'a>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Sink(usize),
    DeadLetter,
    Drop,
    Unrouted,
}

enum RouteSpec {
    Sink(usize),
    DeadLetter,
    Drop,
}

/// Runs a [`Machine`] over a [`Source`], routing each record by the end state it reaches.
///
/// Built with chained calls, then [`Pipeline::run`] (blocking) or, with the `tokio` feature,
/// `run_async` / `run_stream`. Defaults: chunks of 1000 records, one worker, input order kept,
/// `2 × workers + 2` chunks in flight, no checkpoint, no progress callback, no health check.
///
/// Records that reach an end state with no route go to the [default sink](Pipeline::default_sink)
/// if there is one, else to the dead-letter sink (reason `unrouted`). Without a
/// [dead-letter sink](Pipeline::dead_letter), dead letters are counted and discarded.
pub struct Pipeline<'a, M: Machine> {
    machine: M,
    sinks: Vec<(String, BoxSink<'a, M::Data>)>,
    routes: Vec<(String, RouteSpec)>,
    default_sink: Option<usize>,
    dead_letter: Option<BoxSink<'a, DeadLetter<M::Data>>>,
    chunk_size: usize,
    workers: usize,
    in_flight: Option<usize>,
    ordered: bool,
    progress: Option<(Duration, ProgressFn<'a>)>,
    health: Option<(Duration, HealthFn<'a>)>,
    checkpoint: Option<(PathBuf, u64)>,
}

impl<'a, M: Machine> Pipeline<'a, M> {
    /// A pipeline for `machine` (pass `&machine` to keep it, or an `Arc`).
    pub fn new(machine: M) -> Self {
        Pipeline {
            machine,
            sinks: Vec::new(),
            routes: Vec::new(),
            default_sink: None,
            dead_letter: None,
            chunk_size: 1000,
            workers: 1,
            in_flight: None,
            ordered: true,
            progress: None,
            health: None,
            checkpoint: None,
        }
    }

    /// Records ending in end state `state` (its YAML name) go to `sink`.
    pub fn route(mut self, state: &str, sink: impl Sink<M::Data> + 'a) -> Self {
        self.routes.push((state.to_string(), RouteSpec::Sink(self.sinks.len())));
        self.sinks.push((state.to_string(), Box::new(sink)));
        self
    }

    /// Records ending in end state `state` go to the dead-letter sink (reason `error_state`, with
    /// the error that led there if the run followed an `on_error` arc).
    pub fn dead_letter_state(mut self, state: &str) -> Self {
        self.routes.push((state.to_string(), RouteSpec::DeadLetter));
        self
    }

    /// Records ending in end state `state` are counted as dropped and written nowhere.
    pub fn drop_state(mut self, state: &str) -> Self {
        self.routes.push((state.to_string(), RouteSpec::Drop));
        self
    }

    /// Records ending in an end state without a route go to `sink`.
    pub fn default_sink(mut self, sink: impl Sink<M::Data> + 'a) -> Self {
        self.default_sink = Some(self.sinks.len());
        self.sinks.push((DEFAULT_KEY.to_string(), Box::new(sink)));
        self
    }

    /// Where malformed input, failed runs, panics, error end states and rejected records go.
    pub fn dead_letter(mut self, sink: impl Sink<DeadLetter<M::Data>> + 'a) -> Self {
        self.dead_letter = Some(Box::new(sink));
        self
    }

    /// Records per chunk (at least 1): the unit of work handed to a worker.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = n.max(1);
        self
    }

    /// Worker threads running the machine (at least 1).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Chunks that may exist at once between the reader and the writer (at least 1); with the chunk
    /// size this bounds memory, see [`Pipeline::max_in_flight_records`].
    pub fn in_flight_chunks(mut self, n: usize) -> Self {
        self.in_flight = Some(n.max(1));
        self
    }

    /// Writes chunks as soon as they are processed instead of in input order. Faster when chunks
    /// take uneven time; incompatible with checkpoints.
    pub fn unordered(mut self) -> Self {
        self.ordered = false;
        self
    }

    /// Calls `f` with a [`Progress`] report at most every `interval` (checked after each chunk)
    /// and once at the end. It runs on the writer thread: keep it quick.
    pub fn on_progress(mut self, interval: Duration, f: impl FnMut(&Progress) + Send + 'a) -> Self {
        self.progress = Some((interval, Box::new(f)));
        self
    }

    /// Calls `check` at most every `interval` (checked after each chunk, on the writer thread);
    /// when it fails, the run stops with [`StreamError::Unhealthy`], as it stops when a sink
    /// fails (no output is moved to its final name; with a checkpoint, running again resumes).
    /// To only log a failure, return `Ok(())` from `check` after logging it.
    pub fn health_check(
        mut self,
        interval: Duration,
        check: impl FnMut() -> Result<(), HealthError> + Send + 'a,
    ) -> Self {
        self.health = Some((interval, Box::new(check)));
        self
    }

    /// Watches the resources of a machine (`machine.resources()`, a generated
    /// `<Machine>Resources`) during the run: every resource that declares a
    /// `health_check_interval` is checked at that interval, as [`Pipeline::health_check`]
    /// checks (after each chunk, so at most as often as chunks are written). Resources without
    /// an interval are not checked; when none declares one, this does nothing.
    pub fn watch_health<R: ResourceSet>(self, resources: &'a R) -> Self {
        let watched = resources.watched();
        let Some(every) = watched.iter().map(|w| w.interval).min() else {
            return self;
        };
        let start = Instant::now();
        let mut due: Vec<_> = watched.into_iter().map(|w| (start + w.interval, w)).collect();
        self.health_check(every, move || {
            let now = Instant::now();
            let mut unhealthy = HealthError::new();
            for (next, w) in &mut due {
                if *next <= now {
                    unhealthy.check(w.name, w.handle.health());
                    *next = now + w.interval;
                }
            }
            unhealthy.into_result()
        })
    }

    /// Checkpoints to `path` about every `every_records` records: outputs are fsynced and their
    /// lengths stored with the source's position, so a killed run started again with the same
    /// pipeline resumes where the last checkpoint was taken, without losing or duplicating
    /// records (outputs are truncated back to the checkpoint). The file is removed when the run
    /// succeeds. Needs a resumable source and sinks (plain files, iterators, vectors) and input
    /// order.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>, every_records: u64) -> Self {
        self.checkpoint = Some((path.into(), every_records.max(1)));
        self
    }

    fn in_flight_chunks_or_default(&self) -> usize {
        self.in_flight.unwrap_or(2 * self.workers + 2)
    }

    /// The most records that exist at once inside the pipeline (read but not yet written), whatever
    /// the input size and sink speed: in-flight chunks × chunk size.
    pub fn max_in_flight_records(&self) -> usize {
        self.in_flight_chunks_or_default().saturating_mul(self.chunk_size)
    }

    /// Runs to the end of `source`, on the calling thread (the writer) plus one reader thread and
    /// the workers. Returns the summary, or the I/O error that stopped the run; on error no output
    /// file is moved to its final name.
    pub fn run<S>(self, mut source: S) -> Result<Summary, StreamError>
    where
        S: Source<Item = M::Data>,
    {
        let started = Instant::now();
        let in_flight = self.in_flight_chunks_or_default();
        let Pipeline {
            machine,
            sinks,
            routes,
            default_sink,
            dead_letter,
            chunk_size,
            workers,
            ordered,
            progress,
            health,
            checkpoint,
            ..
        } = self;
        let table = route_table::<M::End>(&routes, default_sink)?;
        distinct_files(
            &source,
            &sinks,
            dead_letter.as_ref(),
            checkpoint.as_ref().map(|(p, _)| p),
        )?;
        // What the workers need to route and encode: per end state, its sink's encoder if any.
        let encoders: Vec<EncoderEntry<M::End, M::Data>> = table
            .iter()
            .map(|&(e, target)| match target {
                Target::Sink(i) => (e, sinks[i].1.encoder().map(|enc| (i, enc))),
                _ => (e, None),
            })
            .collect();
        let source_name = source.name();
        let mut writer = Writer::<M::End, M::Data> {
            table,
            sinks,
            dead_letter,
            source_name: source_name.clone(),
            written: vec![0; M::End::ALL.len()],
            dead: [0; DeadLetterReason::ALL.len()],
            dropped: 0,
            processed: 0,
            processed_before: 0,
            started,
            progress,
            last_progress: started,
            health,
            last_health: started,
            checkpoint: None,
        };
        let mut read_before = 0;
        if let Some((path, every)) = checkpoint {
            if !ordered {
                return Err(StreamError::Config(
                    "a checkpoint needs input order: remove `unordered()`".to_string(),
                ));
            }
            read_before = writer.open_checkpoint(path, every, &mut source)?;
        }

        let read = AtomicU64::new(0);
        let (permit_tx, permit_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            // Cannot fail: the receiver is alive and the capacity is exactly `in_flight`.
            let _ = permit_tx.send(());
        }
        let (chunk_tx, chunk_rx) = sync_channel::<ChunkIn<M::Data>>(in_flight);
        let chunk_rx = Mutex::new(chunk_rx);
        let (done_tx, done_rx) = sync_channel::<ChunkOut<M::End, M::Data>>(in_flight);

        let (read_result, write_result, worker_panicked) = thread::scope(|s| {
            let read = &read;
            let reader = s.spawn(move || read_loop(source, chunk_size, permit_rx, chunk_tx, read));
            let machine = &machine;
            let chunk_rx = &chunk_rx;
            let encoders = &encoders[..];
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    let done_tx = done_tx.clone();
                    s.spawn(move || work_loop(machine, encoders, chunk_rx, done_tx))
                })
                .collect();
            drop(done_tx);
            let write_result = writer.write_loop(done_rx, permit_tx, ordered);
            let read_result = reader.join();
            let worker_panicked = handles.into_iter().map(|h| h.join()).any(|r| r.is_err());
            (read_result, write_result, worker_panicked)
        });

        let read_this_run = read.load(Ordering::Relaxed);
        match read_result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(StreamError::Panicked(
                    "the reader thread (a source panicked)".to_string(),
                ));
            }
        }
        if worker_panicked {
            return Err(StreamError::Panicked("a worker thread".to_string()));
        }
        write_result?;
        let summary = writer.summary(read_before + read_this_run, read_this_run, started.elapsed());
        if summary.read != writer.processed_before + writer.processed {
            return Err(StreamError::Panicked(format!(
                "records lost: {} read, {} processed",
                summary.read,
                writer.processed_before + writer.processed
            )));
        }
        writer.finish()?;
        Ok(summary)
    }
}

fn route_table<E: EndState>(
    routes: &[(String, RouteSpec)],
    default_sink: Option<usize>,
) -> Result<Vec<(E, Target)>, StreamError> {
    for (i, (name, _)) in routes.iter().enumerate() {
        if !E::ALL.iter().any(|e| e.name() == name) {
            let known: Vec<&str> = E::ALL.iter().map(|e| e.name()).collect();
            return Err(StreamError::Config(format!(
                "`{name}` is not an end state of the machine (end states: {})",
                known.join(", ")
            )));
        }
        if routes[..i].iter().any(|(n, _)| n == name) {
            return Err(StreamError::Config(format!("end state `{name}` is routed twice")));
        }
    }
    Ok(E::ALL
        .iter()
        .map(|&e| {
            let target = match routes.iter().find(|(n, _)| n == e.name()) {
                Some((_, RouteSpec::Sink(i))) => Target::Sink(*i),
                Some((_, RouteSpec::DeadLetter)) => Target::DeadLetter,
                Some((_, RouteSpec::Drop)) => Target::Drop,
                None => default_sink.map_or(Target::Unrouted, Target::Sink),
            };
            (e, target)
        })
        .collect())
}

/// Refuses a run in which the input, an output, the dead letters or the checkpoint share a file.
fn distinct_files<S: Source, D, L>(
    source: &S,
    sinks: &[(String, BoxSink<'_, D>)],
    dead_letter: Option<&BoxSink<'_, L>>,
    checkpoint: Option<&PathBuf>,
) -> Result<(), StreamError> {
    let mut files: Vec<(String, &std::path::Path)> = Vec::new();
    files.extend(source.path().map(|p| ("the input".to_string(), p)));
    for (key, sink) in sinks {
        files.extend(sink.path().map(|p| (sink_role(key), p)));
    }
    files.extend(
        dead_letter
            .and_then(|s| s.path())
            .map(|p| (sink_role(DEAD_LETTER_KEY), p)),
    );
    files.extend(checkpoint.map(|p| ("the checkpoint".to_string(), p.as_path())));
    let roles: Vec<(&str, &std::path::Path)> = files.iter().map(|(r, p)| (r.as_str(), *p)).collect();
    super::distinct_files(&roles).map_err(|e| StreamError::Config(e.to_string()))
}

fn sink_role(key: &str) -> String {
    match key {
        DEAD_LETTER_KEY => "the dead letters".to_string(),
        DEFAULT_KEY => "the default sink".to_string(),
        _ => format!("the output of `{key}`"),
    }
}

enum Batch<D> {
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
    fn len(&self) -> usize {
        match self {
            Batch::Items(items) => items.len(),
            Batch::Raw { records, .. } => records.len(),
        }
    }
}

struct ChunkIn<D> {
    seq: u64,
    batch: Batch<D>,
    end: Option<Position>,
}

enum Done<E, D> {
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
        error: Option<StateError>,
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
}

struct ChunkOut<E, D> {
    seq: u64,
    items: Vec<Done<E, D>>,
    /// Records encoded by the worker, back to back.
    bytes: Vec<u8>,
    end: Option<Position>,
}

fn read_loop<S: Source>(
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

/// Per end state: the sink it routes to and that sink's encoder, if the sink has one.
type EncoderEntry<E, D> = (E, Option<(usize, Encoder<D>)>);
type EncoderTable<E, D> = [EncoderEntry<E, D>];

fn work_loop<M: Machine>(
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
                        Item::Record { data, line } => process(machine, encoders, data, line, &mut out.bytes),
                    };
                    out.items.push(done);
                }
            }
            Batch::Raw { bytes, records, decode } => {
                for (start, end, line) in records {
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

fn run_error_state(e: &RunError) -> &'static str {
    match e {
        RunError::Function(e) => e.state,
        RunError::NoTransition { state, .. } | RunError::StepLimit { state, .. } => state,
    }
}

struct CheckpointState {
    setup: Setup,
    path: PathBuf,
    every: u64,
    last: u64,
}

struct Writer<'a, E, D> {
    table: Vec<(E, Target)>,
    sinks: Vec<(String, BoxSink<'a, D>)>,
    dead_letter: Option<BoxSink<'a, DeadLetter<D>>>,
    source_name: Arc<str>,
    /// Per end state, in `E::ALL` order.
    written: Vec<u64>,
    dead: [u64; DeadLetterReason::ALL.len()],
    dropped: u64,
    /// Items handled by this run.
    processed: u64,
    /// Items handled by the interrupted runs this one resumes.
    processed_before: u64,
    started: Instant,
    progress: Option<(Duration, ProgressFn<'a>)>,
    last_progress: Instant,
    health: Option<(Duration, HealthFn<'a>)>,
    last_health: Instant,
    checkpoint: Option<CheckpointState>,
}

impl<E: EndState, D> Writer<'_, E, D> {
    fn sink_error(&self, index: Option<usize>, error: io::Error) -> StreamError {
        let route = match index {
            Some(i) => self.sinks[i].0.clone(),
            None => DEAD_LETTER_KEY.to_string(),
        };
        StreamError::Sink { route, error }
    }

    fn write_loop(
        &mut self,
        done: Receiver<ChunkOut<E, D>>,
        permits: SyncSender<()>,
        ordered: bool,
    ) -> Result<(), StreamError> {
        let mut pending: BTreeMap<u64, ChunkOut<E, D>> = BTreeMap::new();
        let mut next = 0u64;
        while let Ok(chunk) = done.recv() {
            if ordered {
                pending.insert(chunk.seq, chunk);
                while let Some(chunk) = pending.remove(&next) {
                    self.write_chunk(chunk)?;
                    next += 1;
                    // The reader may have finished: then nobody needs the permit.
                    let _ = permits.send(());
                }
            } else {
                self.write_chunk(chunk)?;
                let _ = permits.send(());
            }
        }
        if !pending.is_empty() {
            return Err(StreamError::Panicked(format!(
                "{} chunk(s) never reached the writer",
                pending.len()
            )));
        }
        Ok(())
    }

    fn write_chunk(&mut self, chunk: ChunkOut<E, D>) -> Result<(), StreamError> {
        let ChunkOut { items, bytes, end, .. } = chunk;
        // Records the workers encoded for the same sink lie back to back in `bytes`: one write
        // for each such run.
        let mut run: Option<(usize, usize, usize)> = None;
        for done in items {
            if let Done::Encoded { route, start, stop } = &done
                && let Some(&(_, Target::Sink(sink))) = self.table.get(*route)
            {
                match &mut run {
                    Some((s, _, run_stop)) if *s == sink && *run_stop == *start => *run_stop = *stop,
                    _ => {
                        self.write_run(run.take(), &bytes)?;
                        run = Some((sink, *start, *stop));
                    }
                }
                self.written[*route] += 1;
                self.processed += 1;
                continue;
            }
            self.write_run(run.take(), &bytes)?;
            self.write_one(done, &bytes)?;
            self.processed += 1;
        }
        self.write_run(run.take(), &bytes)?;
        if let Some(cp) = &self.checkpoint
            && self.processed - cp.last >= cp.every
        {
            let position = end.unwrap_or_default();
            self.store_checkpoint(position)?;
        }
        if let Some((interval, _)) = &self.progress {
            let now = Instant::now();
            if now.duration_since(self.last_progress) >= *interval {
                self.last_progress = now;
                self.report(false);
            }
        }
        if let Some((interval, check)) = &mut self.health {
            let now = Instant::now();
            if now.duration_since(self.last_health) >= *interval {
                self.last_health = now;
                check().map_err(StreamError::Unhealthy)?;
            }
        }
        Ok(())
    }

    fn write_one(&mut self, done: Done<E, D>, bytes: &[u8]) -> Result<(), StreamError> {
        match done {
            Done::Encoded { route, start, stop } => match self.table.get(route) {
                Some(&(_, Target::Sink(sink))) => {
                    self.write_run(Some((sink, start, stop)), bytes)?;
                    self.written[route] += 1;
                    Ok(())
                }
                _ => Err(StreamError::Panicked("an encoded record without a sink".to_string())),
            },
            Done::Ended {
                end,
                route,
                data,
                error,
                line,
                rejected,
            } => {
                let Some(index) = (route < self.table.len()).then_some(route) else {
                    // Unreachable for a correct `EndState::ALL`; never lose the record anyway.
                    let message = format!("end state `{}` is missing from its `EndState::ALL`", end.name());
                    return self.dead_letter(
                        DeadLetterReason::Unrouted,
                        message,
                        line,
                        Some(end.name()),
                        Some(data),
                        None,
                    );
                };
                match self.table[index].1 {
                    Target::Sink(i) => match Self::write_to(&mut self.sinks[i].1, &data, rejected) {
                        Ok(()) => {
                            self.written[index] += 1;
                            Ok(())
                        }
                        Err(WriteError::Rejected(why)) => {
                            let message = format!("the sink of `{}` rejected the record: {why}", end.name());
                            self.dead_letter(
                                DeadLetterReason::Rejected,
                                message,
                                line,
                                Some(end.name()),
                                Some(data),
                                None,
                            )
                        }
                        Err(WriteError::Io(e)) => Err(self.sink_error(Some(i), e)),
                    },
                    Target::DeadLetter => {
                        let message = match error {
                            Some(e) => e.to_string(),
                            None => format!("the run ended in end state `{}`", end.name()),
                        };
                        self.dead_letter(
                            DeadLetterReason::ErrorState,
                            message,
                            line,
                            Some(end.name()),
                            Some(data),
                            None,
                        )
                    }
                    Target::Drop => {
                        self.dropped += 1;
                        Ok(())
                    }
                    Target::Unrouted => {
                        let message = format!("end state `{}` has no route and there is no default sink", end.name());
                        self.dead_letter(
                            DeadLetterReason::Unrouted,
                            message,
                            line,
                            Some(end.name()),
                            Some(data),
                            None,
                        )
                    }
                }
            }
            Done::Failed { error, data, line } => {
                let state = run_error_state(&error);
                self.dead_letter(
                    DeadLetterReason::Failed,
                    error.to_string(),
                    line,
                    Some(state),
                    Some(data),
                    None,
                )
            }
            Done::Panicked { message, line } => {
                self.dead_letter(DeadLetterReason::Panicked, message, line, None, None, None)
            }
            Done::Malformed(m) => {
                self.dead_letter(DeadLetterReason::Malformed, m.error, m.line, None, None, Some(m.raw))
            }
        }
    }

    fn write_run(&mut self, run: Option<(usize, usize, usize)>, bytes: &[u8]) -> Result<(), StreamError> {
        let Some((sink, start, stop)) = run else {
            return Ok(());
        };
        match self.sinks[sink].1.write_encoded(&bytes[start..stop]) {
            Ok(()) => Ok(()),
            // Bytes of several records: a rejection cannot be pinned on one, so it is the sink's failure.
            Err(WriteError::Rejected(why)) => Err(self.sink_error(Some(sink), io::Error::other(why))),
            Err(WriteError::Io(e)) => Err(self.sink_error(Some(sink), e)),
        }
    }

    fn write_to(sink: &mut BoxSink<'_, D>, data: &D, rejected: Option<String>) -> Result<(), WriteError> {
        match rejected {
            None => sink.write(data),
            Some(why) => Err(WriteError::Rejected(why)),
        }
    }

    fn dead_letter(
        &mut self,
        reason: DeadLetterReason,
        message: String,
        line: u64,
        state: Option<&'static str>,
        record: Option<D>,
        raw: Option<String>,
    ) -> Result<(), StreamError> {
        self.dead[reason.index()] += 1;
        let Some(sink) = self.dead_letter.as_mut() else {
            return Ok(());
        };
        let mut letter = DeadLetter {
            reason,
            message,
            source: self.source_name.clone(),
            line,
            state,
            record,
            raw,
        };
        match sink.write(&letter) {
            Ok(()) => Ok(()),
            Err(WriteError::Rejected(why)) if letter.record.is_some() => {
                // Keep the reason and the location even if the record itself cannot be encoded.
                letter.record = None;
                letter.message = format!("{} (record not shown: {why})", letter.message);
                match sink.write(&letter) {
                    Ok(()) => Ok(()),
                    Err(WriteError::Rejected(why)) => Err(self.sink_error(None, io::Error::other(why))),
                    Err(WriteError::Io(e)) => Err(self.sink_error(None, e)),
                }
            }
            Err(WriteError::Rejected(why)) => Err(self.sink_error(None, io::Error::other(why))),
            Err(WriteError::Io(e)) => Err(self.sink_error(None, e)),
        }
    }

    fn report(&mut self, done: bool) {
        let elapsed = self.started.elapsed();
        let progress = Progress {
            records: self.processed_before + self.processed,
            errors: self.dead.iter().sum(),
            elapsed,
            records_per_sec: per_sec(self.processed, elapsed),
            done,
        };
        if let Some((_, f)) = &mut self.progress {
            f(&progress);
        }
    }

    fn summary(&self, read: u64, read_this_run: u64, elapsed: Duration) -> Summary {
        Summary {
            read,
            written: self
                .table
                .iter()
                .zip(&self.written)
                .filter(|(_, n)| **n > 0)
                .map(|((e, _), n)| (e.name(), *n))
                .collect(),
            dead_lettered: DeadLetterReason::ALL
                .iter()
                .zip(&self.dead)
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| (*r, *n))
                .collect(),
            dropped: self.dropped,
            elapsed,
            read_this_run,
        }
    }

    fn finish(&mut self) -> Result<(), StreamError> {
        for i in 0..self.sinks.len() {
            if let Err(e) = self.sinks[i].1.finish() {
                return Err(self.sink_error(Some(i), e));
            }
        }
        if let Some(sink) = self.dead_letter.as_mut()
            && let Err(e) = sink.finish()
        {
            return Err(self.sink_error(None, e));
        }
        if let Some(cp) = &self.checkpoint {
            match std::fs::remove_file(&cp.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(StreamError::Checkpoint {
                        path: cp.path.clone(),
                        error,
                    });
                }
            }
        }
        if self.progress.is_some() {
            self.report(true);
        }
        Ok(())
    }

    /// Resumes from the checkpoint at `path` if there is one, else takes an initial one (which also
    /// proves that the source and every sink can checkpoint before any record is read). Returns the
    /// records read by earlier runs.
    fn open_checkpoint<S: Source>(&mut self, path: PathBuf, every: u64, source: &mut S) -> Result<u64, StreamError> {
        let cp_error = |error: io::Error| StreamError::Checkpoint {
            path: path.clone(),
            error,
        };
        let mismatch = |what: String| cp_error(io::Error::new(io::ErrorKind::InvalidData, what));
        let mut setup = self.setup(source);
        let read_before = match Checkpoint::load(&path).map_err(cp_error)? {
            Some(cp) => {
                if let Err(why) = cp
                    .setup
                    .check(&setup, source.path())
                    .map_err(|error| StreamError::Source {
                        source_name: source.name(),
                        error,
                    })?
                {
                    return Err(mismatch(format!(
                        "{why}; to start over, delete `{}` (or run with the input and settings it was taken with)",
                        path.display()
                    )));
                }
                setup = cp.setup.clone();
                let keys = self.sink_keys();
                if cp.sinks.len() != keys.len() || keys.iter().any(|k| !cp.sinks.contains_key(k)) {
                    let theirs: Vec<&String> = cp.sinks.keys().collect();
                    return Err(mismatch(format!(
                        "it was taken with sinks {theirs:?}, this pipeline has {keys:?}"
                    )));
                }
                for i in 0..self.sinks.len() {
                    let token = cp.sinks[&self.sinks[i].0];
                    if let Err(e) = self.sinks[i].1.restore(token) {
                        return Err(self.sink_error(Some(i), e));
                    }
                }
                if let Some(sink) = self.dead_letter.as_mut() {
                    let token = cp.sinks[DEAD_LETTER_KEY];
                    if let Err(e) = sink.restore(token) {
                        return Err(self.sink_error(None, e));
                    }
                }
                source.resume(cp.position).map_err(|error| StreamError::Source {
                    source_name: source.name(),
                    error,
                })?;
                for (name, n) in &cp.written {
                    let Some(i) = self.table.iter().position(|(e, _)| e.name() == name) else {
                        return Err(mismatch(format!("unknown end state `{name}`")));
                    };
                    self.written[i] = *n;
                }
                for (name, n) in &cp.dead {
                    let Some(r) = DeadLetterReason::ALL.iter().find(|r| r.as_str() == name) else {
                        return Err(mismatch(format!("unknown dead-letter reason `{name}`")));
                    };
                    self.dead[r.index()] = *n;
                }
                self.dropped = cp.dropped;
                self.processed_before = cp.read;
                cp.read
            }
            None => {
                if let Some(input) = source.path() {
                    setup.input_file = FileId::of(input).map_err(|error| StreamError::Source {
                        source_name: source.name(),
                        error,
                    })?;
                }
                0
            }
        };
        if source.position().is_none() {
            return Err(StreamError::Config(format!(
                "source `{}` cannot report its position, so it cannot be checkpointed",
                source.name()
            )));
        }
        self.checkpoint = Some(CheckpointState {
            setup,
            path,
            every,
            last: 0,
        });
        if read_before == 0 {
            let position = source.position().unwrap_or_default();
            self.store_checkpoint(position)?;
        }
        Ok(read_before)
    }

    /// What a checkpoint of this run records about its input and settings (the input file's
    /// identity is added by `open_checkpoint`).
    fn setup<S: Source>(&self, source: &S) -> Setup {
        let name = |p: &std::path::Path| canonical_path(p).to_string_lossy().into_owned();
        let routes = self
            .table
            .iter()
            .map(|(e, target)| {
                let to = match target {
                    Target::Sink(i) => self.sinks[*i].0.clone(),
                    Target::DeadLetter => "dead-letter".to_string(),
                    Target::Drop => "drop".to_string(),
                    Target::Unrouted => "unrouted".to_string(),
                };
                (e.name().to_string(), to)
            })
            .collect();
        let mut files: BTreeMap<String, String> = self
            .sinks
            .iter()
            .filter_map(|(k, s)| s.path().map(|p| (k.clone(), name(p))))
            .collect();
        if let Some(p) = self.dead_letter.as_ref().and_then(|s| s.path()) {
            files.insert(DEAD_LETTER_KEY.to_string(), name(p));
        }
        Setup {
            input: source.path().map_or_else(|| source.name().to_string(), name),
            input_file: None,
            routes,
            files,
        }
    }

    fn sink_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.sinks.iter().map(|(k, _)| k.clone()).collect();
        if self.dead_letter.is_some() {
            keys.push(DEAD_LETTER_KEY.to_string());
        }
        keys.sort();
        keys
    }

    fn store_checkpoint(&mut self, position: Position) -> Result<(), StreamError> {
        let mut sinks = BTreeMap::new();
        for i in 0..self.sinks.len() {
            match self.sinks[i].1.checkpoint() {
                Ok(token) => {
                    sinks.insert(self.sinks[i].0.clone(), token);
                }
                Err(e) => return Err(self.sink_error(Some(i), e)),
            }
        }
        if let Some(sink) = self.dead_letter.as_mut() {
            match sink.checkpoint() {
                Ok(token) => {
                    sinks.insert(DEAD_LETTER_KEY.to_string(), token);
                }
                Err(e) => return Err(self.sink_error(None, e)),
            }
        }
        let cp = Checkpoint {
            setup: self.checkpoint.as_ref().map(|s| s.setup.clone()).unwrap_or_default(),
            position,
            read: self.processed_before + self.processed,
            dropped: self.dropped,
            written: self
                .table
                .iter()
                .zip(&self.written)
                .map(|((e, _), n)| (e.name().to_string(), *n))
                .collect(),
            dead: DeadLetterReason::ALL
                .iter()
                .zip(&self.dead)
                .map(|(r, n)| (r.as_str().to_string(), *n))
                .collect(),
            sinks,
        };
        let Some(state) = self.checkpoint.as_mut() else {
            return Ok(());
        };
        cp.store(&state.path).map_err(|error| StreamError::Checkpoint {
            path: state.path.clone(),
            error,
        })?;
        state.last = self.processed;
        Ok(())
    }
}

#[allow(dead_code)]
fn assert_send<T: Send>() {}

/// A pipeline with owned parts can move to another thread (the async front door relies on it).
#[allow(dead_code)]
fn pipeline_is_send<M: Machine + 'static>() {
    assert_send::<Pipeline<'static, M>>();
}
