//! [`MemoryStore`]: records in a map in memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock};

use super::{RecordStore, StoreError, Versioned};

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
