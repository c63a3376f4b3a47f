//! The writer: the calling thread, putting chunks back in input order and writing each record to
//! its sink or the dead-letter sink, with checkpoints, progress reports and health checks.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use super::super::checkpoint::{Checkpoint, FileId, Setup};
use super::super::file::canonical_path;
use super::super::summary::per_sec;
use super::super::{
    Committed, DeadLetter, DeadLetterReason, Position, Progress, Source, StreamError, Summary, WriteError,
};
use super::read::Buffers;
use super::work::{ChunkOut, Done, Slot, run_error_state};
use super::{BoxCommit, BoxSink, DEAD_LETTER_KEY, HealthFn, ProgressFn, Target};
use crate::core::EndState;

pub(super) struct CheckpointState {
    path: PathBuf,
    every: u64,
    last: u64,
    setup: Setup,
}

pub(super) struct Writer<'a, E, D> {
    pub(super) table: Vec<(E, Target)>,
    pub(super) sinks: Vec<(String, BoxSink<'a, D>)>,
    pub(super) dead_letter: Option<BoxSink<'a, DeadLetter<D>>>,
    pub(super) source_name: Arc<str>,
    /// Per end state, in `E::ALL` order.
    pub(super) written: Vec<u64>,
    pub(super) dead: [u64; DeadLetterReason::ALL.len()],
    pub(super) dropped: u64,
    /// Items handled by this run.
    pub(super) processed: u64,
    /// Items handled by the interrupted runs this one resumes.
    pub(super) processed_before: u64,
    pub(super) started: Instant,
    pub(super) progress: Option<(Duration, ProgressFn<'a>)>,
    pub(super) last_progress: Instant,
    pub(super) health: Option<(Duration, HealthFn<'a>)>,
    pub(super) last_health: Instant,
    pub(super) checkpoint: Option<CheckpointState>,
    pub(super) commit: Option<BoxCommit<'a>>,
    /// The source's acknowledger ([`Source::acknowledger`]), committed after each chunk once
    /// the chunk is durable.
    pub(super) ack: Option<BoxCommit<'a>>,
}

impl<'a, E: EndState, D> Writer<'a, E, D> {
    fn sink_error(&self, index: Option<usize>, error: io::Error) -> StreamError {
        let route = match index {
            Some(i) => self.sinks[i].0.clone(),
            None => DEAD_LETTER_KEY.to_string(),
        };
        StreamError::Sink { route, error }
    }

    pub(super) fn write_loop(
        &mut self,
        done: Receiver<ChunkOut<E, D>>,
        permits: SyncSender<Buffers<E, D>>,
        ordered: bool,
    ) -> Result<(), StreamError> {
        let mut pending: BTreeMap<u64, ChunkOut<E, D>> = BTreeMap::new();
        let mut next = 0u64;
        while let Ok(chunk) = done.recv() {
            if ordered {
                pending.insert(chunk.seq, chunk);
                while let Some(chunk) = pending.remove(&next) {
                    let buffers = self.write_chunk(chunk)?;
                    next += 1;
                    // The reader may have finished: then nobody needs the permit.
                    let _ = permits.send(buffers);
                }
            } else {
                let buffers = self.write_chunk(chunk)?;
                let _ = permits.send(buffers);
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

    /// Writes a chunk; gives back its buffers, emptied, for the next one.
    fn write_chunk(&mut self, chunk: ChunkOut<E, D>) -> Result<Buffers<E, D>, StreamError> {
        let ChunkOut {
            end,
            mut buffers,
            failed,
            ..
        } = chunk;
        if let Some(e) = failed {
            return Err(StreamError::Commit {
                store: "a resource's per-chunk transaction".to_string(),
                error: std::io::Error::other(e),
            });
        }
        let mut slots = std::mem::take(&mut buffers.slots);
        let mut others = std::mem::take(&mut buffers.others);
        let bytes = std::mem::take(&mut buffers.encoded);
        // Records the workers encoded for the same sink lie back to back in `bytes`: one write
        // for each such run.
        let mut run: Option<(usize, usize, usize)> = None;
        let mut rest = others.drain(..);
        for slot in slots.drain(..) {
            if let Slot::Encoded { route, start, stop } = slot
                && let Some(&(_, Target::Sink(sink))) = self.table.get(route)
            {
                match &mut run {
                    Some((s, _, run_stop)) if *s == sink && *run_stop == start => *run_stop = stop,
                    _ => {
                        self.write_run(run.take(), &bytes)?;
                        run = Some((sink, start, stop));
                    }
                }
                self.written[route] += 1;
                self.processed += 1;
                continue;
            }
            let done = match slot {
                Slot::Encoded { route, start, stop } => Done::Encoded { route, start, stop },
                Slot::Other => match rest.next() {
                    Some(done) => done,
                    None => return Err(StreamError::Panicked("a chunk lost a record".to_string())),
                },
            };
            // A record written another way (a dead letter, mostly) ends the run only if it goes
            // to the run's sink: each sink still gets its records in input order, and a chunk's
            // records for one sink stay one write however many dead letters lie between them.
            if let Some((s, ..)) = run
                && self.sink_of(&done) == Some(s)
            {
                self.write_run(run.take(), &bytes)?;
            }
            self.write_one(done, &bytes)?;
            self.processed += 1;
        }
        drop(rest);
        self.write_run(run.take(), &bytes)?;
        if self.commit.is_some() {
            let state = self.committed(end.unwrap_or_default());
            if let Some(store) = self.commit.as_mut() {
                store.commit(&state).map_err(|error| StreamError::Commit {
                    store: store.name(),
                    error,
                })?;
            }
        }
        // A source waiting for acknowledgements has a checkpoint taken after every chunk.
        if let Some(cp) = &self.checkpoint
            && (self.processed - cp.last >= cp.every || self.ack.is_some())
        {
            let position = end.unwrap_or_default();
            self.store_checkpoint(position)?;
        }
        if self.ack.is_some() {
            if self.commit.is_none() && self.checkpoint.is_none() {
                self.make_durable()?;
            }
            self.acknowledge(end.unwrap_or_default())?;
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
        buffers.slots = slots;
        buffers.others = others;
        buffers.encoded = bytes;
        buffers.recycle();
        Ok(buffers)
    }

    /// The sink (of `sinks`) a record that the workers did not encode is written to, if any (else
    /// it is a dead letter or dropped).
    fn sink_of(&self, done: &Done<E, D>) -> Option<usize> {
        match done {
            Done::Encoded { route, .. } | Done::Ended { route, .. } => match self.table.get(*route) {
                Some(&(_, Target::Sink(i))) => Some(i),
                _ => None,
            },
            _ => None,
        }
    }

    /// Makes what every sink wrote durable ([`Sink::checkpoint`](super::super::Sink::checkpoint)),
    /// for a source that is acknowledged with neither a commit store nor a checkpoint.
    pub(super) fn make_durable(&mut self) -> Result<(), StreamError> {
        for i in 0..self.sinks.len() {
            if let Err(e) = self.sinks[i].1.checkpoint() {
                return Err(self.sink_error(Some(i), e));
            }
        }
        if let Some(sink) = self.dead_letter.as_mut()
            && let Err(e) = sink.checkpoint()
        {
            return Err(self.sink_error(None, e));
        }
        Ok(())
    }

    /// Tells the source that everything up to `position` is durable.
    pub(super) fn acknowledge(&mut self, position: Position) -> Result<(), StreamError> {
        let state = self.committed(position);
        if let Some(ack) = self.ack.as_mut() {
            ack.commit(&state).map_err(|error| StreamError::Commit {
                store: ack.name(),
                error,
            })?;
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
                    Target::Sink(i) => {
                        match Self::write_to(&mut self.sinks[i].1, &data, &self.source_name, line, rejected) {
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
                        }
                    }
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
            Done::TooLarge(t) => {
                let message = format!(
                    "the line is {} bytes, more than the maximum record size of {} bytes: skipped unread",
                    t.bytes, t.limit
                );
                self.dead_letter(DeadLetterReason::TooLarge, message, t.line, None, None, None)
            }
            Done::Poison(p) => {
                let message = format!(
                    "delivered {} times, more than the source allows: given up on unprocessed (it may crash its worker)",
                    p.deliveries
                );
                self.dead_letter(DeadLetterReason::Poison, message, p.line, None, None, Some(p.raw))
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

    fn write_to(
        sink: &mut BoxSink<'_, D>,
        data: &D,
        source: &str,
        line: u64,
        rejected: Option<String>,
    ) -> Result<(), WriteError> {
        match rejected {
            None => sink.write_from(data, source, line),
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

    pub(super) fn summary(&self, read: u64, read_this_run: u64, elapsed: Duration) -> Summary {
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
            tokens: None,
        }
    }

    pub(super) fn finish(&mut self) -> Result<(), StreamError> {
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
    pub(super) fn open_checkpoint<S: Source>(
        &mut self,
        path: PathBuf,
        every: u64,
        source: &mut S,
    ) -> Result<u64, StreamError> {
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

    /// Resumes after the last chunk `store` committed for this job, if any. Returns the records
    /// read by earlier runs.
    pub(super) fn open_commit<S: Source>(
        &mut self,
        mut store: BoxCommit<'a>,
        source: &mut S,
    ) -> Result<u64, StreamError> {
        let commit_error = |store: &BoxCommit<'a>, error: io::Error| StreamError::Commit {
            store: store.name(),
            error,
        };
        let mismatch =
            |store: &BoxCommit<'a>, what: String| commit_error(store, io::Error::new(io::ErrorKind::InvalidData, what));
        if source.position().is_none() {
            return Err(StreamError::Config(format!(
                "source `{}` cannot report its position, so its chunks cannot be committed with it",
                source.name()
            )));
        }
        let read_before = match store.load().map_err(|e| commit_error(&store, e))? {
            None => 0,
            Some(cp) => {
                for (name, n) in &cp.written {
                    let Some(i) = self.table.iter().position(|(e, _)| e.name() == name) else {
                        return Err(mismatch(
                            &store,
                            format!("unknown end state `{name}` in the saved position"),
                        ));
                    };
                    self.written[i] = *n;
                }
                for (name, n) in &cp.dead {
                    let Some(r) = DeadLetterReason::ALL.iter().find(|r| r.as_str() == name) else {
                        return Err(mismatch(
                            &store,
                            format!("unknown dead-letter reason `{name}` in the saved position"),
                        ));
                    };
                    self.dead[r.index()] = *n;
                }
                source.resume(cp.position).map_err(|error| StreamError::Source {
                    source_name: source.name(),
                    error,
                })?;
                self.dropped = cp.dropped;
                self.processed_before = cp.read;
                cp.read
            }
        };
        self.commit = Some(store);
        Ok(read_before)
    }

    fn committed(&self, position: Position) -> Committed {
        Committed {
            position,
            read: self.processed_before + self.processed,
            written: self
                .table
                .iter()
                .zip(&self.written)
                .filter(|(_, n)| **n > 0)
                .map(|((e, _), n)| (e.name().to_string(), *n))
                .collect(),
            dead: DeadLetterReason::ALL
                .iter()
                .zip(&self.dead)
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| (r.as_str().to_string(), *n))
                .collect(),
            dropped: self.dropped,
        }
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
