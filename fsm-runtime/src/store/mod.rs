//! Record stores for the `reference` data mode: the record stays in a store under a key, a run
//! loads it when it starts, and every `reference` state commits its changes back with
//! optimistic locking.
//!
//! A store keeps a version per key. [`RecordStore::save`] writes only if the stored version is
//! still the one the run loaded, and returns the new version; if another writer got there first,
//! it fails with [`StoreError::Conflict`] and writes nothing. Nothing is locked while a run
//! works, so runs of different keys never wait for each other, and runs of the same key find out
//! at commit time.
//!
//! A durable run (generated `resume_stored`, `start_durable`) also saves its position with the
//! record, in the same write ([`RecordStore::save_run`], a [`SavedRun`]), so that it can be
//! continued after a crash; [`RecordStore::unfinished`] lists the keys to continue.
//!
//! Three stores come with the runtime: [`MemoryStore`] (no feature), `SqliteStore` (feature
//! `sqlite`) and `PostgresStore` (feature `postgres`); the database ones keep the record as JSON
//! (serde). Any type implementing [`RecordStore`] works.
//!
//! ```
//! use fsm_runtime::store::{MemoryStore, RecordStore, StoreError};
//!
//! let store = MemoryStore::new();
//! let v1 = store.insert("order-1", &vec![1, 2])?;
//! let loaded = store.load("order-1")?;
//! assert_eq!((loaded.data, loaded.version), (vec![1, 2], v1));
//!
//! let v2 = store.save("order-1", &vec![1, 2, 3], v1)?;
//! // A writer that still holds the first version is refused.
//! let stale = store.save("order-1", &vec![9], v1);
//! assert!(matches!(stale, Err(StoreError::Conflict { expected, found, .. }) if expected == v1 && found == v2));
//! # Ok::<(), StoreError>(())
//! ```

use std::fmt;
use std::sync::Arc;

mod by_key;
mod memory;
#[cfg(feature = "postgres")]
mod pg;
mod position;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use by_key::{ByKey, Keyed, StoredMachine};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use pg::PostgresStore;
pub use position::{SAVED_RUN_FORMAT, SavedPhase, SavedRun, StatePath};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// A record and the version it had in the store when it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<D> {
    /// The record.
    pub data: D,
    /// Its version: 1 when inserted, one more at every save.
    pub version: u64,
}

/// Where records of type `D` live in the `reference` data mode, keyed by strings, each with a
/// version for optimistic locking.
///
/// Implementations must make `save` atomic: compare the stored version with `expected` and write
/// in one step (a `WHERE version = ?` update, a compare-and-swap), so two writers that loaded the
/// same version cannot both succeed.
pub trait RecordStore<D>: Send + Sync {
    /// The record under `key` and its version; [`StoreError::NotFound`] when there is none.
    fn load(&self, key: &str) -> Result<Versioned<D>, StoreError>;

    /// Writes `data` under `key` if its stored version is still `expected`; the new version.
    /// [`StoreError::Conflict`] (nothing written) when another writer saved it since,
    /// [`StoreError::NotFound`] when the key is gone.
    ///
    /// `Ok` means the record was written and any other error that it was not, even when the
    /// connection to a database was lost before its answer: the store then reads the record back
    /// to find out. When it cannot, the error is [`StoreError::Unknown`].
    fn save(&self, key: &str, data: &D, expected: u64) -> Result<u64, StoreError>;

    /// Adds a record under a new key, at version 1; [`StoreError::Exists`] when the key is taken.
    /// As for `save`, a lost answer is found out, or [`StoreError::Unknown`].
    fn insert(&self, key: &str, data: &D) -> Result<u64, StoreError>;

    /// The record under `key`, its version, and the position of its durable run saved with it:
    /// `None` for a record no durable run saved (a new one, or one written before durable runs).
    /// [`StoreError::Position`] when the saved position cannot be read.
    ///
    /// The default, for a store that keeps no positions: the record, without one.
    fn load_run(&self, key: &str) -> Result<(Versioned<D>, Option<SavedRun>), StoreError> {
        Ok((self.load(key)?, None))
    }

    /// As [`save`](RecordStore::save), writing `run` (the run's position) with the record, in
    /// the same write: both land or neither does.
    ///
    /// The default, for a store that keeps no positions: [`StoreError::Unsupported`].
    fn save_run(&self, key: &str, data: &D, expected: u64, run: &SavedRun) -> Result<u64, StoreError> {
        let _ = (key, data, expected, run);
        Err(StoreError::Unsupported("saving a run's position with its record"))
    }

    /// The keys whose durable run is saved unfinished (neither finished nor failed), in key
    /// order: what to resume after a crash. Records no durable run saved are not among them.
    ///
    /// The default, for a store that keeps no positions: [`StoreError::Unsupported`].
    fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        Err(StoreError::Unsupported("listing unfinished runs"))
    }
}

impl<D, S: RecordStore<D> + ?Sized> RecordStore<D> for Arc<S> {
    fn load(&self, key: &str) -> Result<Versioned<D>, StoreError> {
        (**self).load(key)
    }
    fn save(&self, key: &str, data: &D, expected: u64) -> Result<u64, StoreError> {
        (**self).save(key, data, expected)
    }
    fn insert(&self, key: &str, data: &D) -> Result<u64, StoreError> {
        (**self).insert(key, data)
    }
    fn load_run(&self, key: &str) -> Result<(Versioned<D>, Option<SavedRun>), StoreError> {
        (**self).load_run(key)
    }
    fn save_run(&self, key: &str, data: &D, expected: u64, run: &SavedRun) -> Result<u64, StoreError> {
        (**self).save_run(key, data, expected, run)
    }
    fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        (**self).unfinished()
    }
}

/// Why a store could not load or save a record.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// No record under the key.
    NotFound {
        /// The key.
        key: String,
    },
    /// `insert` of a key that already has a record.
    Exists {
        /// The key.
        key: String,
    },
    /// Optimistic locking refused a save: the record changed since it was loaded.
    Conflict {
        /// The key.
        key: String,
        /// The version the writer loaded.
        expected: u64,
        /// The version in the store.
        found: u64,
    },
    /// The stored record could not be encoded or decoded (JSON for the database stores).
    Codec {
        /// The key.
        key: String,
        /// What went wrong.
        reason: String,
    },
    /// The position a durable run saved with the record cannot be read (corrupted, written by
    /// a runtime of another format version), or names a state the machine does not have (its
    /// definition changed since): the run cannot be resumed from it.
    Position {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store does not do what was asked (a store of your own that keeps no run positions,
    /// asked to save one).
    Unsupported(&'static str),
    /// The database failed.
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A save or insert lost its connection before the database answered, and the store could not
    /// find out afterwards whether it was applied (the database did not answer again, or the
    /// record changed further since). The record may or may not hold what was written: do not
    /// write it again blindly. A run that gets this error saves nothing more.
    Unknown {
        /// The key.
        key: String,
        /// The failure of the write.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound { key } => write!(f, "no record under key `{key}`"),
            StoreError::Exists { key } => write!(f, "a record already exists under key `{key}`"),
            StoreError::Conflict { key, expected, found } => write!(
                f,
                "the record under key `{key}` changed since it was loaded (version {expected}, now {found})"
            ),
            StoreError::Codec { key, reason } => write!(f, "the record under key `{key}`: {reason}"),
            StoreError::Position { key, reason } => {
                write!(f, "the run position saved with the record under key `{key}`: {reason}")
            }
            StoreError::Unsupported(what) => write!(f, "this store does not support {what}"),
            StoreError::Backend(e) => write!(f, "store: {e}"),
            StoreError::Unknown { key, source } => write!(
                f,
                "the write of the record under key `{key}` may or may not have been applied: the connection was lost before the answer ({source}), and the store could not find out"
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Backend(e) | StoreError::Unknown { source: e, .. } => Some(&**e),
            _ => None,
        }
    }
}

/// The function name a store failure is reported under, in place of a state function's.
pub const STORE_FUNCTION: &str = "<store>";

/// The function name the failure of a resumed durable run is reported under: the run failed (or
/// was compensating after a failure) before it was resumed, and its store kept the message.
pub const RESUMED_FUNCTION: &str = "<resumed>";
