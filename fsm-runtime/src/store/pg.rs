//! [`PostgresStore`]: records as JSON in a PostgreSQL table.

use super::sql::{Statements, backend, decode, encode, inserted, saved, version_of, version_sql};
use super::{RecordStore, StoreError, Versioned};
use crate::resources::Postgres;
use std::marker::PhantomData;

/// Records as JSON in a table of a PostgreSQL database (the [`Postgres`] resource handle and its
/// pool), one row per key: `(key TEXT PRIMARY KEY, version BIGINT, data TEXT)`. The table is
/// created if missing. Saves are one `UPDATE ... WHERE key = $2 AND version = $3`, so concurrent
/// writers from any number of processes are serialised by the database.
pub struct PostgresStore<D> {
    db: Postgres,
    sql: Statements,
    _records: PhantomData<fn() -> D>,
}

impl<D> PostgresStore<D> {
    /// A store in `table` of `db`, creating the table if it does not exist.
    pub fn new(db: Postgres, table: &str) -> Result<Self, StoreError> {
        let sql = Statements::new(table, "$", "BIGINT")?;
        db.batch_execute(&sql.create).map_err(backend)?;
        Ok(PostgresStore {
            db,
            sql,
            _records: PhantomData,
        })
    }
}

impl<D: serde::Serialize + serde::de::DeserializeOwned> RecordStore<D> for PostgresStore<D> {
    fn load(&self, key: &str) -> Result<Versioned<D>, StoreError> {
        let rows = self.db.query(&self.sql.load, &[&key]).map_err(backend)?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::NotFound { key: key.to_owned() })?;
        let version: i64 = row.try_get(0).map_err(backend)?;
        let json: String = row.try_get(1).map_err(backend)?;
        Ok(Versioned {
            data: decode(key, &json)?,
            version: version_of(version),
        })
    }

    fn save(&self, key: &str, data: &D, expected: u64) -> Result<u64, StoreError> {
        let json = encode(key, data)?;
        let changed = self
            .db
            .execute(&self.sql.save, &[&json, &key, &version_sql(expected)])
            .map_err(backend)?;
        let found = if changed == 1 {
            None
        } else {
            let rows = self.db.query(&self.sql.version, &[&key]).map_err(backend)?;
            match rows.first() {
                Some(row) => Some(row.try_get::<_, i64>(0).map_err(backend)?),
                None => None,
            }
        };
        saved(key, expected, changed, found)
    }

    fn insert(&self, key: &str, data: &D) -> Result<u64, StoreError> {
        let json = encode(key, data)?;
        let changed = self.db.execute(&self.sql.insert, &[&key, &json]).map_err(backend)?;
        inserted(key, changed)
    }
}

impl<D> std::fmt::Debug for PostgresStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}
