//! [`MemoryStore`]: records in a map in memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock};

use super::{RecordStore, SavedRun, StoreError, Versioned};

/// A store in memory: a map behind a lock. For tests, and for runs that share records within one
/// process. It keeps the positions of durable runs with their records, as the database stores do.
pub struct MemoryStore<D> {
    records: RwLock<HashMap<String, Stored<D>>>,
}

struct Stored<D> {
    record: Versioned<D>,
    run: Option<SavedRun>,
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

impl<D: Clone> MemoryStore<D> {
    fn write(&self, key: &str, data: &D, expected: u64, run: Option<&SavedRun>) -> Result<u64, StoreError> {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        let Some(stored) = records.get_mut(key) else {
            return Err(StoreError::NotFound { key: key.to_owned() });
        };
        if stored.record.version != expected {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
                expected,
                found: stored.record.version,
            });
        }
        stored.record.data = data.clone();
        stored.record.version = stored.record.version.saturating_add(1);
        if let Some(run) = run {
            stored.run = Some(run.clone());
        }
        Ok(stored.record.version)
    }
}

impl<D: Clone + Send + Sync> RecordStore<D> for MemoryStore<D> {
    fn load(&self, key: &str) -> Result<Versioned<D>, StoreError> {
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        records
            .get(key)
            .map(|s| s.record.clone())
            .ok_or_else(|| StoreError::NotFound { key: key.to_owned() })
    }

    fn save(&self, key: &str, data: &D, expected: u64) -> Result<u64, StoreError> {
        self.write(key, data, expected, None)
    }

    fn load_run(&self, key: &str) -> Result<(Versioned<D>, Option<SavedRun>), StoreError> {
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        records
            .get(key)
            .map(|s| (s.record.clone(), s.run.clone()))
            .ok_or_else(|| StoreError::NotFound { key: key.to_owned() })
    }

    fn save_run(&self, key: &str, data: &D, expected: u64, run: &SavedRun) -> Result<u64, StoreError> {
        self.write(key, data, expected, Some(run))
    }

    fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        let mut keys: Vec<String> = records
            .iter()
            .filter(|(_, s)| s.run.as_ref().is_some_and(|r| !r.is_finished()))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn insert(&self, key: &str, data: &D) -> Result<u64, StoreError> {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        if records.contains_key(key) {
            return Err(StoreError::Exists { key: key.to_owned() });
        }
        records.insert(
            key.to_owned(),
            Stored {
                record: Versioned {
                    data: data.clone(),
                    version: 1,
                },
                run: None,
            },
        );
        Ok(1)
    }
}
