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

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::{Failure, FnError, Machine, Outcome, RunError, RunResult, StateError};

#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
pub use pg::PostgresStore;
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
    fn save(&self, key: &str, data: &D, expected: u64) -> Result<u64, StoreError>;

    /// Adds a record under a new key, at version 1; [`StoreError::Exists`] when the key is taken.
    fn insert(&self, key: &str, data: &D) -> Result<u64, StoreError>;
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
    /// The database failed.
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
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
            StoreError::Backend(e) => write!(f, "store: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Backend(e) => Some(&**e),
            _ => None,
        }
    }
}

/// A store in memory: a map behind a lock. For tests, and for runs that share records within one
/// process.
pub struct MemoryStore<D> {
    records: RwLock<HashMap<String, Versioned<D>>>,
}

impl<D> MemoryStore<D> {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore {
            records: RwLock::new(HashMap::new()),
        }
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<D> Default for MemoryStore<D> {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl<D> fmt::Debug for MemoryStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore").field("records", &self.len()).finish()
    }
}

impl<D: Clone + Send + Sync> RecordStore<D> for MemoryStore<D> {
    fn load(&self, key: &str) -> Result<Versioned<D>, StoreError> {
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        records
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { key: key.to_owned() })
    }

    fn save(&self, key: &str, data: &D, expected: u64) -> Result<u64, StoreError> {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        let Some(stored) = records.get_mut(key) else {
            return Err(StoreError::NotFound { key: key.to_owned() });
        };
        if stored.version != expected {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
                expected,
                found: stored.version,
            });
        }
        stored.data = data.clone();
        stored.version = stored.version.saturating_add(1);
        Ok(stored.version)
    }

    fn insert(&self, key: &str, data: &D) -> Result<u64, StoreError> {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        if records.contains_key(key) {
            return Err(StoreError::Exists { key: key.to_owned() });
        }
        records.insert(
            key.to_owned(),
            Versioned {
                data: data.clone(),
                version: 1,
            },
        );
        Ok(1)
    }
}

/// A table name the database stores accept: letters, digits and `_`, not starting with a digit,
/// so it can be spliced into SQL.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn check_table(table: &str) -> Result<(), StoreError> {
    let ok = table
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && table.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(StoreError::Backend(
            format!("`{table}` is not a table name (letters, digits and `_`, not starting with a digit)").into(),
        ))
    }
}

/// The SQL of a database store over one table, with the backend's parameter style (`?1` or `$1`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
struct Statements {
    create: String,
    load: String,
    save: String,
    insert: String,
    version: String,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl Statements {
    /// For `table` (checked), `param` names the n-th parameter, `int` is the version's type.
    fn new(table: &str, param: &str, int: &str) -> Result<Self, StoreError> {
        check_table(table)?;
        let [p1, p2, p3] = [1, 2, 3].map(|n| format!("{param}{n}"));
        Ok(Statements {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, version {int} NOT NULL, data TEXT NOT NULL)"
            ),
            load: format!("SELECT version, data FROM {table} WHERE key = {p1}"),
            save: format!("UPDATE {table} SET data = {p1}, version = version + 1 WHERE key = {p2} AND version = {p3}"),
            insert: format!(
                "INSERT INTO {table} (key, version, data) VALUES ({p1}, 1, {p2}) ON CONFLICT (key) DO NOTHING"
            ),
            version: format!("SELECT version FROM {table} WHERE key = {p1}"),
        })
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A version as the databases store it (a signed 64-bit integer).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn version_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn version_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The outcome of an `UPDATE ... WHERE version = ?` that changed `changed` rows, `found` being
/// the version then in the table (read only when nothing changed).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn saved(key: &str, expected: u64, changed: u64, found: Option<i64>) -> Result<u64, StoreError> {
    match (changed, found) {
        (1, _) => Ok(expected.saturating_add(1)),
        (_, Some(found)) => Err(StoreError::Conflict {
            key: key.to_owned(),
            expected,
            found: version_of(found),
        }),
        (_, None) => Err(StoreError::NotFound { key: key.to_owned() }),
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn inserted(key: &str, changed: u64) -> Result<u64, StoreError> {
    if changed == 1 {
        Ok(1)
    } else {
        Err(StoreError::Exists { key: key.to_owned() })
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn decode<D: serde::de::DeserializeOwned>(key: &str, json: &str) -> Result<D, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Codec {
        key: key.to_owned(),
        reason: format!("cannot decode the stored JSON: {e}"),
    })
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn encode<D: serde::Serialize>(key: &str, data: &D) -> Result<String, StoreError> {
    serde_json::to_string(data).map_err(|e| StoreError::Codec {
        key: key.to_owned(),
        reason: format!("cannot encode as JSON: {e}"),
    })
}

/// A run's hold on its record in a store: generated code commits through it after every
/// `reference` state and rolls back by reloading. Not public API.
#[doc(hidden)]
pub struct StoreSlot<D> {
    store: Arc<dyn RecordStore<D>>,
    key: String,
    version: u64,
}

/// The function name a store failure is reported under, in place of a state function's.
pub const STORE_FUNCTION: &str = "<store>";

impl<D> StoreSlot<D> {
    /// Loads the record under `key`; the slot and the record.
    pub fn load(store: Arc<dyn RecordStore<D>>, key: String) -> Result<(Self, D), StoreError> {
        let Versioned { data, version } = store.load(&key)?;
        Ok((StoreSlot { store, key, version }, data))
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The version the run last loaded or saved.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Saves `data` at the version the run holds. On a conflict, reloads the record into `data`
    /// (the run goes on with what the other writer saved) and reports the conflict.
    fn commit(&mut self, data: &mut D) -> Result<(), (&'static str, FnError)> {
        match self.store.save(&self.key, data, self.version) {
            Ok(version) => {
                self.version = version;
                Ok(())
            }
            Err(conflict @ StoreError::Conflict { .. }) => {
                self.reload(data)?;
                Err((STORE_FUNCTION, FnError::with_source("optimistic locking", conflict)))
            }
            Err(e) => Err((STORE_FUNCTION, FnError::with_source("saving the record", e))),
        }
    }

    /// Puts the stored record back into `data`.
    fn reload(&mut self, data: &mut D) -> Result<(), (&'static str, FnError)> {
        match self.store.load(&self.key) {
            Ok(Versioned { data: stored, version }) => {
                *data = stored;
                self.version = version;
                Ok(())
            }
            Err(e) => Err((
                STORE_FUNCTION,
                FnError::with_source("reloading the record to roll back", e),
            )),
        }
    }
}

impl<D> fmt::Debug for StoreSlot<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSlot")
            .field("key", &self.key)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Before a `reference` state's functions: a copy of the record to roll back to when the run
/// has no store (it then behaves as `copy`); with a store, none (the store holds the last commit).
#[doc(hidden)]
#[inline]
pub fn store_snapshot<D: Clone>(slot: &Option<StoreSlot<D>>, data: &D) -> Option<D> {
    match slot {
        Some(_) => None,
        None => Some(data.clone()),
    }
}

/// After a `reference` state's functions: with a store, commit on success (a conflict reloads
/// and fails the state) or roll back by reloading on failure; without, put `saved` back on failure.
#[doc(hidden)]
#[inline]
pub fn store_settle<D>(
    slot: &mut Option<StoreSlot<D>>,
    data: &mut D,
    saved: Option<D>,
    result: Result<(), (&'static str, FnError)>,
) -> Result<(), (&'static str, FnError)> {
    match (slot, result) {
        (Some(slot), Ok(())) => slot.commit(data),
        (Some(slot), Err((function, error))) => match slot.reload(data) {
            Ok(()) => Err((function, error)),
            // The record may be half-changed and the store cannot give it back: say both.
            Err((_, reload)) => Err((
                STORE_FUNCTION,
                FnError::new(format!("`{function}` failed ({error}), then {reload}")),
            )),
        },
        (None, Ok(())) => Ok(()),
        (None, Err(failed)) => {
            if let Some(saved) = saved {
                *data = saved;
            }
            Err(failed)
        }
    }
}

/// A generated data-driven machine with `reference` states: it runs a record it loads from a
/// store by key (`run_stored`). [`ByKey`] turns it into a [`Machine`] over keys for the streaming
/// pipeline.
pub trait StoredMachine: Machine {
    /// Loads the record under `key` and runs it to an end state; `Err` when it cannot be loaded.
    fn run_stored(
        &self,
        store: Arc<dyn RecordStore<Self::Data>>,
        key: String,
    ) -> Result<RunResult<Self::End, Self::Data>, StoreError>;

    /// Network and name of the start state, where a record that cannot be loaded is reported.
    fn start_state(&self) -> (&'static str, &'static str);
}

/// A record by its key, as a pipeline of a [`ByKey`] machine reads it (`{"key": "order-17"}`: the
/// record is loaded from the store) and writes it (the key, and the record as the run left it:
/// absent when it could not be loaded).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Keyed<D> {
    /// The record's key in the store.
    pub key: String,
    /// The record: ignored on input, the run's result on output.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub record: Option<D>,
}

impl<D> Keyed<D> {
    /// A key, without its record.
    pub fn new(key: impl Into<String>) -> Self {
        Keyed {
            key: key.into(),
            record: None,
        }
    }
}

/// A `reference` machine over keys: each item names a record in `store`, which the run loads,
/// works on (saving it after each `reference` state) and hands on with its key. So a stream of keys
/// (a queue of order ids, a JSONL file of keys) flows through the pipeline, with one sink per end
/// state and the dead letters as usual; a key whose record cannot be loaded is a failed run
/// (function `<store>`, at the start state), so it goes to the dead-letter sink with the reason.
///
/// ```ignore
/// let by_key = ByKey::new(Orders::new(Fns), store.clone());
/// Pipeline::new(&by_key).route("shipped", shipped_sink).dead_letter(dead).run(JsonlSource::<Keyed<Order>>::open("keys.jsonl")?)?;
/// ```
pub struct ByKey<M: StoredMachine> {
    machine: M,
    store: Arc<dyn RecordStore<M::Data>>,
}

impl<M: StoredMachine> ByKey<M> {
    /// `machine` over the records of `store`.
    pub fn new(machine: M, store: Arc<dyn RecordStore<M::Data>>) -> Self {
        ByKey { machine, store }
    }

    /// The machine.
    pub fn machine(&self) -> &M {
        &self.machine
    }
}

impl<M: StoredMachine> fmt::Debug for ByKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByKey").finish_non_exhaustive()
    }
}

impl<M: StoredMachine> Machine for ByKey<M> {
    type Data = Keyed<M::Data>;
    type End = M::End;

    fn run(&self, item: Keyed<M::Data>) -> RunResult<M::End, Keyed<M::Data>> {
        let Keyed { key, .. } = item;
        match self.machine.run_stored(self.store.clone(), key.clone()) {
            Ok(Ok(out)) => Ok(Outcome {
                end: out.end,
                data: Keyed {
                    key,
                    record: Some(out.data),
                },
                error: out.error,
                transitions: out.transitions,
                history: out.history,
            }),
            Ok(Err(failure)) => Err(Failure {
                error: failure.error,
                data: Keyed {
                    key,
                    record: Some(failure.data),
                },
            }),
            Err(error) => {
                let (network, state) = self.machine.start_state();
                Err(Failure {
                    error: RunError::Function(StateError {
                        network,
                        state,
                        function: STORE_FUNCTION,
                        error: FnError::with_source("loading the record", error),
                    }),
                    data: Keyed { key, record: None },
                })
            }
        }
    }
}
