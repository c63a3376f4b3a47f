//! Transactions declared on database resources (`transaction:` in the definition): which
//! writes a record's functions make through a [`Sqlite`](super::Sqlite) or
//! [`Postgres`](super::Postgres) handle commit together, and when.
//!
//! A handle with a [`Transaction`] mode opens its transaction lazily, at its first use inside the
//! matching scope on the calling thread, and keeps it (with the connection it runs on) for that
//! thread until the scope ends:
//!
//! - [`Transaction::PerRecord`]: the scope is a [`RecordScope`], which a pipeline worker enters
//!   around each record's run. It commits when the run ends in an end state that the pipeline
//!   routes to a sink (or drops), and rolls back when the run ends in a dead-letter state, is not
//!   routed, fails, or panics (the scope is dropped while unwinding).
//! - [`Transaction::PerChunk`]: the scope is a [`ChunkScope`], which a pipeline worker enters
//!   around each chunk; it commits when the chunk's last record has run, before the chunk's
//!   outputs are written.
//! - [`Transaction::Manual`]: the functions call `begin()`, `commit()` and `rollback()` on the
//!   handle; a transaction still open when its record's scope ends is rolled back.
//!
//! Outside its scope (setup code before a run, a handle in manual mode without `begin()`), a call
//! runs on its own in autocommit mode, as without `transaction:`, but never inside another
//! thread's open transaction.
//!
//! Scopes are per thread: the run of a record must stay on one thread, as a synchronous machine's
//! does. (A pipeline with `concurrency` runs many records on one thread at once: it enters no
//! record scope, so its per-record handles run in autocommit mode.)

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use super::ResourceError;

/// When the writes a database resource's handle makes commit (`transaction:` of the resource).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transaction {
    /// One transaction per record's run: committed if the run ends in a success end state,
    /// rolled back if it ends in a dead-letter state, fails or panics.
    PerRecord,
    /// One transaction per chunk of a pipeline, committed when the chunk's records have run.
    PerChunk,
    /// The functions begin, commit and roll back transactions themselves through the handle.
    Manual,
}

impl Transaction {
    /// The YAML spelling: `per_record`, `per_chunk`, `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transaction::PerRecord => "per_record",
            Transaction::PerChunk => "per_chunk",
            Transaction::Manual => "manual",
        }
    }
}

/// Which scope an open transaction belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Record,
    Chunk,
    Manual,
}

/// A transaction a handle holds open on this thread, finished when its scope ends.
pub(crate) trait OpenTransaction {
    /// The handle's identity (the address of the state its clones share).
    fn handle(&self) -> usize;
    /// Commits (`commit`) or rolls back, and gives the connection back.
    fn finish(self: Box<Self>, commit: bool) -> Result<(), ResourceError>;
    /// For the handle to reach its connection (the PostgreSQL handle's).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    fn as_any(&mut self) -> &mut dyn Any;
}

#[derive(Default)]
struct Open {
    /// Depth of nested record and chunk scopes: only the outermost one finishes.
    records: u32,
    chunks: u32,
    open: Vec<(Level, Box<dyn OpenTransaction>)>,
}

thread_local! {
    static OPEN: RefCell<Open> = RefCell::default();
}

/// The scope in which a handle of `mode` opens a transaction now on this thread, if any.
pub(crate) fn scope_of(mode: Transaction) -> Option<Level> {
    OPEN.with(|o| {
        let o = o.borrow();
        match mode {
            Transaction::PerRecord if o.records > 0 => Some(Level::Record),
            Transaction::PerChunk if o.chunks > 0 => Some(Level::Chunk),
            _ => None,
        }
    })
}

/// Keeps `tx` open until its scope ends.
pub(crate) fn register(level: Level, tx: Box<dyn OpenTransaction>) {
    OPEN.with(|o| o.borrow_mut().open.push((level, tx)));
}

/// Takes the transaction handle `handle` holds open on this thread out of the registry (to use
/// its connection without holding the registry, or to finish it).
pub(crate) fn take(handle: usize) -> Option<(Level, Box<dyn OpenTransaction>)> {
    OPEN.with(|o| {
        let mut o = o.borrow_mut();
        let i = o.open.iter().position(|(_, tx)| tx.handle() == handle)?;
        Some(o.open.remove(i))
    })
}

/// Whether `handle` holds a transaction open on this thread.
pub(crate) fn is_open(handle: usize) -> bool {
    OPEN.with(|o| o.borrow().open.iter().any(|(_, tx)| tx.handle() == handle))
}

/// Leaves a scope of `level`; when it was the outermost, finishes its transactions (and, for a
/// record, the manual transactions still open, always rolled back). The first failure is
/// returned; after a failed commit the remaining transactions are rolled back.
fn leave(level: Level, commit: bool) -> Result<(), ResourceError> {
    let finished: Vec<(Level, Box<dyn OpenTransaction>)> = OPEN.with(|o| {
        let mut o = o.borrow_mut();
        let depth = match level {
            Level::Record => &mut o.records,
            Level::Chunk => &mut o.chunks,
            Level::Manual => return Vec::new(),
        };
        *depth = depth.saturating_sub(1);
        if *depth > 0 || o.open.is_empty() {
            // The common case, a record that opened nothing: no allocation, nothing to finish.
            return Vec::new();
        }
        let (mine, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut o.open)
            .into_iter()
            .partition(|(l, _)| *l == level || (level == Level::Record && *l == Level::Manual));
        o.open = kept;
        mine
    });
    let mut result = Ok(());
    for (l, tx) in finished {
        let commit = commit && l != Level::Manual && result.is_ok();
        if let Err(e) = tx.finish(commit)
            && result.is_ok()
        {
            result = Err(e);
        }
    }
    result
}

fn enter(level: Level) {
    OPEN.with(|o| {
        let mut o = o.borrow_mut();
        match level {
            Level::Record => o.records += 1,
            Level::Chunk => o.chunks += 1,
            Level::Manual => {}
        }
    });
}

/// The run of one record, for the handles declared `transaction: per_record`: what they write
/// while it is entered on this thread is one transaction per handle, committed by
/// [`RecordScope::finish`]`(true)` and rolled back by `finish(false)` or when the scope is
/// dropped unfinished (a panic unwinding through it included). A pipeline enters one around
/// every record; outside a pipeline, enter one around [`Machine::run`](crate::Machine::run):
///
/// ```ignore
/// let scope = RecordScope::enter();
/// let result = machine.run(order);
/// scope.finish(matches!(&result, Ok(o) if o.end == OrderEnd::Done))?;
/// ```
///
/// Scopes nest; only the outermost finishes the transactions (a user's scope around a
/// pipeline's does nothing more). Not `Send`: a scope belongs to its thread.
#[must_use = "a scope dropped at once rolls back what its record wrote"]
pub struct RecordScope {
    finished: bool,
    _thread: PhantomData<*const ()>,
}

impl RecordScope {
    /// Enters the scope of a record on this thread.
    pub fn enter() -> Self {
        enter(Level::Record);
        RecordScope {
            finished: false,
            _thread: PhantomData,
        }
    }

    /// Ends the scope: commits every per-record transaction opened in it (`commit`), or rolls
    /// them back; a manual transaction still open is rolled back either way. A failed commit is
    /// the error (the record's writes are then rolled back, as far as the failed handle goes;
    /// handles committed before it stay committed).
    pub fn finish(mut self, commit: bool) -> Result<(), ResourceError> {
        self.finished = true;
        leave(Level::Record, commit)
    }
}

impl Drop for RecordScope {
    fn drop(&mut self) {
        if !self.finished {
            let _ = leave(Level::Record, false);
        }
    }
}

/// A chunk of a pipeline, for the handles declared `transaction: per_chunk`: as
/// [`RecordScope`], for all the records a worker runs between [`ChunkScope::enter`] and
/// [`ChunkScope::finish`].
#[must_use = "a scope dropped at once rolls back what its chunk wrote"]
pub struct ChunkScope {
    finished: bool,
    _thread: PhantomData<*const ()>,
}

impl ChunkScope {
    /// Enters the scope of a chunk on this thread.
    pub fn enter() -> Self {
        enter(Level::Chunk);
        ChunkScope {
            finished: false,
            _thread: PhantomData,
        }
    }

    /// Ends the scope: commits (`commit`) or rolls back every per-chunk transaction opened in it.
    pub fn finish(mut self, commit: bool) -> Result<(), ResourceError> {
        self.finished = true;
        leave(Level::Chunk, commit)
    }
}

impl Drop for ChunkScope {
    fn drop(&mut self) {
        if !self.finished {
            let _ = leave(Level::Chunk, false);
        }
    }
}

/// The error of `begin`/`commit`/`rollback` on a handle that is not `transaction: manual`.
pub(crate) fn not_manual(what: &str, mode: Option<Transaction>) -> ResourceError {
    let declared = match mode {
        Some(mode) => format!("it is declared `transaction: {}`", mode.as_str()),
        None => "it declares no `transaction`".to_string(),
    };
    ResourceError::Config {
        key: "transaction",
        reason: format!("{what} needs `transaction: manual` on the resource; {declared}"),
    }
}

/// The error of `commit`/`rollback` without a transaction open.
pub(crate) fn none_open(what: &str) -> ResourceError {
    ResourceError::Config {
        key: "transaction",
        reason: format!("{what}: no transaction of this resource is open on this thread (call `begin()` first)"),
    }
}

/// The error of `begin` with a transaction open.
pub(crate) fn already_open() -> ResourceError {
    ResourceError::Config {
        key: "transaction",
        reason: "begin: a transaction of this resource is open already on this thread".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe {
        id: usize,
        log: std::rc::Rc<RefCell<Vec<(usize, bool)>>>,
    }

    impl OpenTransaction for Probe {
        fn handle(&self) -> usize {
            self.id
        }
        fn finish(self: Box<Self>, commit: bool) -> Result<(), ResourceError> {
            self.log.borrow_mut().push((self.id, commit));
            Ok(())
        }
        fn as_any(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[test]
    fn only_the_outermost_scope_finishes_and_manual_ones_roll_back() {
        let log = std::rc::Rc::new(RefCell::new(Vec::new()));
        let outer = RecordScope::enter();
        assert_eq!(scope_of(Transaction::PerRecord), Some(Level::Record));
        assert_eq!(scope_of(Transaction::PerChunk), None);
        register(
            Level::Record,
            Box::new(Probe {
                id: 1,
                log: log.clone(),
            }),
        );
        register(
            Level::Manual,
            Box::new(Probe {
                id: 2,
                log: log.clone(),
            }),
        );
        let inner = RecordScope::enter();
        inner.finish(true).unwrap();
        assert!(log.borrow().is_empty());
        assert!(is_open(1));
        outer.finish(true).unwrap();
        assert_eq!(*log.borrow(), [(1, true), (2, false)]);
        assert!(!is_open(1));
        assert_eq!(scope_of(Transaction::PerRecord), None);
    }

    #[test]
    fn a_dropped_scope_rolls_back() {
        let log = std::rc::Rc::new(RefCell::new(Vec::new()));
        {
            let _chunk = ChunkScope::enter();
            register(
                Level::Chunk,
                Box::new(Probe {
                    id: 3,
                    log: log.clone(),
                }),
            );
        }
        assert_eq!(*log.borrow(), [(3, false)]);
    }
}
