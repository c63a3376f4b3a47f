//! Exactly once into a database: the sinks of a run write into one transaction per chunk, and the
//! source's position is saved in that same transaction, so a run started again resumes after the
//! last committed chunk, whatever happened to the one before ([`ChunkCommit`]).

use std::collections::BTreeMap;
use std::io;

use super::Position;

/// What a run had done when its last chunk was committed: the source's position after the chunk
/// and the counts so far. Saved with the chunk's writes; loaded by the next run of the same job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// Where the source stood after the chunk (for database sources: the chunk's last key).
    pub position: Position,
    /// Items read so far, by this run and the runs it resumes.
    pub read: u64,
    /// Records written so far, per end state.
    pub written: BTreeMap<String, u64>,
    /// Records dead-lettered so far, per reason ([`DeadLetterReason::as_str`](super::DeadLetterReason::as_str)).
    pub dead: BTreeMap<String, u64>,
    /// Records dropped so far.
    pub dropped: u64,
}

/// A store that commits, at the end of each chunk, everything the run's sinks wrote during the
/// chunk together with the source's position, in one transaction: the sinks of a database
/// (`SqliteTarget`, `PostgresTarget`) and their position table. Given to
/// [`Pipeline::commit_chunks`](super::Pipeline::commit_chunks).
///
/// The pipeline calls [`ChunkCommit::load`] once before reading, to resume after the last commit
/// of an earlier run of the job, and [`ChunkCommit::commit`] after the last record of each chunk
/// was handed to the sinks. When the run stops with an error, [`ChunkCommit::rollback`] drops
/// what was written since the last commit.
pub trait ChunkCommit: Send {
    /// A name for messages: the database and the job.
    fn name(&self) -> String;

    /// What the last commit of this job saved, if there was one.
    fn load(&mut self) -> io::Result<Option<Committed>>;

    /// Makes the writes since the last commit durable together with `state`, atomically: both
    /// or neither. An error stops the run; what the commit would have made durable then is
    /// either all there (the commit landed) or none of it, and the next run reads which.
    fn commit(&mut self, state: &Committed) -> io::Result<()>;

    /// Drops everything written since the last commit: the run is stopping with an error.
    fn rollback(&mut self) {}
}

impl<C: ChunkCommit + ?Sized> ChunkCommit for Box<C> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn load(&mut self) -> io::Result<Option<Committed>> {
        (**self).load()
    }
    fn commit(&mut self, state: &Committed) -> io::Result<()> {
        (**self).commit(state)
    }
    fn rollback(&mut self) {
        (**self).rollback();
    }
}
