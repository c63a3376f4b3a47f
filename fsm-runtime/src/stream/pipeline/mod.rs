//! The pipeline: the reader thread (`read`), the worker threads (`work`), and the writer, the
//! calling thread (`write`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::thread;
use std::time::{Duration, Instant};

use self::read::{Buffers, ChunkIn, SharedSource, read_loop};
use self::work::{ChunkOut, Chunks, EncoderEntry, Runs, work_loop};
use self::write::Writer;
use super::{ChunkCommit, DeadLetter, DeadLetterReason, Progress, Sink, Source, StreamError, Summary};
use crate::core::{EndState, EndStateRef, Machine};
use crate::resources::{HealthError, ResourceSet, TokenMeter, TokenUsage};

mod read;
mod work;
mod write;

const DEAD_LETTER_KEY: &str = "*dead-letter*";
const DEFAULT_KEY: &str = "*default*";
/// The most chunks in flight, whatever `in_flight_chunks` or `workers` ask: each is a channel slot
/// allocated up front, and more workers than chunks would have nothing to do.
const MAX_IN_FLIGHT_CHUNKS: usize = 4096;

type BoxSink<'a, T> = Box<dyn Sink<T> + 'a>;
type ProgressFn<'a> = Box<dyn FnMut(&Progress) + Send + 'a>;
type HealthFn<'a> = Box<dyn FnMut() -> Result<(), HealthError> + Send + 'a>;
type BoxCommit<'a> = Box<dyn ChunkCommit + 'a>;

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
    concurrency: usize,
    in_flight: Option<usize>,
    ordered: bool,
    progress: Option<(Duration, ProgressFn<'a>)>,
    health: Option<(Duration, HealthFn<'a>)>,
    checkpoint: Option<(PathBuf, u64)>,
    commit: Option<BoxCommit<'a>>,
    /// Token meters whose growth during the run the summary reports (none: no work for tokens).
    meters: Vec<TokenMeter>,
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
            concurrency: 1,
            in_flight: None,
            ordered: true,
            progress: None,
            health: None,
            checkpoint: None,
            commit: None,
            meters: Vec::new(),
        }
    }

    /// Records ending in end state `state` go to `sink`. `state` is the machine's end enum
    /// (`route(OrderEnd::Done, sink)`: a typo is a compile error), or its YAML name as text
    /// (`route("done", sink)`, for names read from configuration: an unknown name is a
    /// `StreamError::Config` before anything is read).
    pub fn route(mut self, state: impl EndStateRef<M::End>, sink: impl Sink<M::Data> + 'a) -> Self {
        let state = state.end_name().into_owned();
        self.routes.push((state.clone(), RouteSpec::Sink(self.sinks.len())));
        self.sinks.push((state, Box::new(sink)));
        self
    }

    /// Records ending in end state `state` (the end enum or its name, as for [`route`]) go to
    /// the dead-letter sink (reason `error_state`, with the error that led there if the run
    /// followed an `on_error` arc).
    ///
    /// [`route`]: Pipeline::route
    pub fn dead_letter_state(mut self, state: impl EndStateRef<M::End>) -> Self {
        self.routes.push((state.end_name().into_owned(), RouteSpec::DeadLetter));
        self
    }

    /// Records ending in end state `state` (the end enum or its name, as for [`route`]) are
    /// counted as dropped and written nowhere.
    ///
    /// [`route`]: Pipeline::route
    pub fn drop_state(mut self, state: impl EndStateRef<M::End>) -> Self {
        self.routes.push((state.end_name().into_owned(), RouteSpec::Drop));
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

    /// Worker threads running the machine (at least 1, at most one per chunk in flight). If the
    /// system cannot start them all, the run goes on with those it started.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Records each worker keeps in flight at once (at least 1; the default): for a machine with
    /// async functions, run through [`Concurrent`](super::Concurrent), whose runs wait on the
    /// network rather than on a thread. Each worker runs the records of its chunk on a tokio
    /// runtime of its own (current-thread), `n` at a time, so a pipeline has up to
    /// `workers × n` runs in flight, and at most a chunk's worth per worker: set
    /// [`chunk_size`](Pipeline::chunk_size) to `n` or more. Output order is kept unless
    /// [`unordered`](Pipeline::unordered); back-pressure (chunks in flight) and dead letters are
    /// as without it. A synchronous machine runs its records one after the other whatever `n`.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Chunks that may exist at once between the reader and the writer (1 to 4096); with the
    /// chunk size this bounds memory, see [`Pipeline::max_in_flight_records`].
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

    /// Commits each chunk through `store`: what the sinks wrote for the chunk and the source's
    /// position after it, in one transaction (see [`ChunkCommit`]). A run started again resumes
    /// after the last committed chunk, and a chunk whose commit failed is read again: with
    /// sinks that write into the store's transaction (the database sinks of the same target)
    /// every record is written exactly once. Needs a resumable source and input order, and
    /// replaces [`Pipeline::checkpoint`] (a run with both is refused).
    ///
    /// The job's position stays in the store when the run succeeds: the same run started
    /// again reads only what the source gained since (rows with a greater key).
    pub fn commit_chunks(mut self, store: impl ChunkCommit + 'a) -> Self {
        self.commit = Some(Box::new(store));
        self
    }

    fn in_flight_chunks_or_default(&self) -> usize {
        self.in_flight
            .unwrap_or_else(|| self.workers.saturating_mul(2).saturating_add(2))
            .min(MAX_IN_FLIGHT_CHUNKS)
    }

    /// Reports in [`Summary::tokens`] the tokens `meter` counts while the pipeline runs: an LLM
    /// handle's (`AsyncLlm::tokens`, feature `llm-async`), which counts every
    /// call of the handle and its clones, so a pipeline that shares its handle with other work
    /// counts that work too. Give several meters and the summary has their sum. Without one the
    /// summary's `tokens` is `None` and the pipeline does nothing for tokens.
    pub fn count_tokens(mut self, meter: TokenMeter) -> Self {
        self.meters.push(meter);
        self
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
        let tokens_before: Option<TokenUsage> =
            (!self.meters.is_empty()).then(|| self.meters.iter().map(TokenMeter::total).sum());
        let in_flight = self.in_flight_chunks_or_default();
        let Pipeline {
            machine,
            sinks,
            routes,
            default_sink,
            dead_letter,
            chunk_size,
            workers,
            concurrency,
            ordered,
            progress,
            health,
            checkpoint,
            commit,
            meters,
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
        let commits: Vec<bool> = table
            .iter()
            .map(|(_, target)| matches!(target, Target::Sink(_) | Target::Drop))
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
            commit: None,
            ack: None,
        };
        let ack = source.acknowledger();
        let acknowledged = ack.is_some();
        if acknowledged && !ordered {
            return Err(StreamError::Config(format!(
                "source `{source_name}` is acknowledged in input order: remove `unordered()`"
            )));
        }
        let mut read_before = 0;
        if let Some(store) = commit {
            if !ordered {
                return Err(StreamError::Config(
                    "committing chunks needs input order: remove `unordered()`".to_string(),
                ));
            }
            if checkpoint.is_some() {
                return Err(StreamError::Config(
                    "a run commits its chunks or checkpoints to a file, not both".to_string(),
                ));
            }
            read_before = writer.open_commit(store, &mut source)?;
        }
        if let Some((path, every)) = checkpoint {
            if !ordered {
                return Err(StreamError::Config(
                    "a checkpoint needs input order: remove `unordered()`".to_string(),
                ));
            }
            read_before = writer.open_checkpoint(path, every, &mut source)?;
        }
        if acknowledged && writer.commit.is_none() && writer.checkpoint.is_none() {
            if let Some((key, _)) = writer.sinks.iter().find(|(_, s)| s.path().is_some()) {
                return Err(StreamError::Config(format!(
                    "source `{source_name}` is acknowledged once its records are durable, and {} is a file, which is \
                     durable only when the run ends: add a checkpoint (it is then taken after every chunk)",
                    sink_role(key)
                )));
            }
            if writer.dead_letter.as_ref().is_some_and(|s| s.path().is_some()) {
                return Err(StreamError::Config(format!(
                    "source `{source_name}` is acknowledged once its records are durable, and the dead letters go \
                     to a file, which is durable only when the run ends: add a checkpoint (it is then taken after \
                     every chunk)"
                )));
            }
            // Every sink must be able to make its writes durable: found out before reading.
            writer.make_durable()?;
        }
        writer.ack = ack;

        let read = AtomicU64::new(0);
        // A permit is the buffers of a chunk: they go round reader, worker, writer, reader.
        let (permit_tx, permit_rx) = sync_channel::<Buffers<M::End, M::Data>>(in_flight);
        for _ in 0..in_flight {
            // Cannot fail: the receiver is alive and the capacity is exactly `in_flight`.
            let _ = permit_tx.send(Buffers::new());
        }
        let permit_rx = Mutex::new(permit_rx);
        let (chunk_tx, chunk_rx) = sync_channel::<ChunkIn<M::End, M::Data>>(in_flight);
        let chunk_rx = Mutex::new(chunk_rx);
        let (done_tx, done_rx) = sync_channel::<ChunkOut<M::End, M::Data>>(in_flight);
        // Raw records (lines) are read by the workers; a source that decodes has a thread.
        let (threaded, shared) = match source.decoder() {
            Some(decode) => (None, Some(SharedSource::new(source, decode, chunk_size))),
            None => (Some(source), None),
        };

        let runs = Runs { concurrency, ordered };
        let scoped = thread::scope(|s| {
            let machine = &machine;
            let encoders = &encoders[..];
            let commits = &commits[..];
            let read = &read;
            let chunks = match &shared {
                Some(source) => Chunks::Source {
                    source,
                    permits: &permit_rx,
                    read,
                },
                None => Chunks::Channel(&chunk_rx),
            };
            // Workers first: if the system refuses threads, run with those it gave (more workers
            // than chunks in flight would idle anyway), and refuse to start without any.
            let mut handles = Vec::new();
            for i in 0..workers.min(in_flight) {
                let done_tx = done_tx.clone();
                match thread::Builder::new()
                    .name(format!("fsm-worker-{i}"))
                    .spawn_scoped(s, move || work_loop(machine, encoders, commits, chunks, done_tx, runs))
                {
                    Ok(h) => handles.push(h),
                    Err(e) if handles.is_empty() => {
                        return Err(StreamError::Config(format!("cannot start a worker thread: {e}")));
                    }
                    Err(_) => break,
                }
            }
            drop(done_tx);
            let permit_rx = &permit_rx;
            // On failure the closure, and the chunk sender in it, is dropped: the workers stop.
            let reader = match threaded {
                Some(source) => Some(
                    thread::Builder::new()
                        .name("fsm-reader".to_string())
                        .spawn_scoped(s, move || read_loop(source, chunk_size, permit_rx, chunk_tx, read))
                        .map_err(|e| StreamError::Config(format!("cannot start the reader thread: {e}")))?,
                ),
                None => {
                    drop(chunk_tx);
                    None
                }
            };
            let write_result = writer.write_loop(done_rx, permit_tx, ordered);
            let read_result = reader.map_or(Ok(Ok(())), |r| r.join());
            let worker_panicked = handles.into_iter().map(|h| h.join()).any(|r| r.is_err());
            Ok((read_result, write_result, worker_panicked))
        });
        let (read_result, write_result, worker_panicked) = scoped?;
        let read_result = match (read_result, shared) {
            (Ok(Ok(())), Some(shared)) => Ok(shared.finish()),
            (result, _) => result,
        };

        let read_this_run = read.load(Ordering::Relaxed);
        let stopped = match read_result {
            Ok(Ok(())) if worker_panicked => Err(StreamError::Panicked("a worker thread".to_string())),
            Ok(Ok(())) => write_result,
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StreamError::Panicked(
                "the reader thread (a source panicked)".to_string(),
            )),
        };
        if let Err(e) = stopped {
            // Whatever the writer had begun of a chunk is not committed.
            if let Some(store) = writer.commit.as_mut() {
                store.rollback();
            }
            if let Some(ack) = writer.ack.as_mut() {
                ack.rollback();
            }
            return Err(e);
        }
        let mut summary = writer.summary(read_before + read_this_run, read_this_run, started.elapsed());
        summary.tokens = tokens_before.map(|before| meters.iter().map(TokenMeter::total).sum::<TokenUsage>() - before);
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

#[allow(dead_code)]
fn assert_send<T: Send>() {}

/// A pipeline with owned parts can move to another thread (the async front door relies on it).
#[allow(dead_code)]
fn pipeline_is_send<M: Machine + 'static>() {
    assert_send::<Pipeline<'static, M>>();
}
