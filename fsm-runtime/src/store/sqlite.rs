//! [`SqliteStore`]: records as JSON in an SQLite table.

use super::sql::{Statements, backend, decode, decode_run, encode, inserted, saved, version_of, version_sql};
use super::{RecordStore, SavedRun, StoreError, Versioned};
use crate::resources::Sqlite;
use rusqlite::OptionalExtension;
use std::marker::PhantomData;

/// Records as JSON in a table of an SQLite database (the [`Sqlite`] resource handle), one row
/// per key: `(key TEXT PRIMARY KEY, version INTEGER, data TEXT, position TEXT, finished INTEGER)`.
/// The table is created if missing; a table of an older version, without the two columns of
/// durable runs (the run's position, saved with the record, and whether it is over), gets them.
///
/// Every save is one transaction. On a database file with SQLite's default rollback journal, that
/// is a sync to disk per save (about 1 ms each in `tests/benches/stores.rs`); in write-ahead-log
/// mode with `synchronous = NORMAL`, about 14 µs. Declare the resource with `wal: true` in its
/// `config` if that durability suits you, or set it on a handle of your own:
/// `db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use fsm_runtime::resources::Sqlite;
/// use fsm_runtime::store::{RecordStore, SqliteStore};
///
/// let store = SqliteStore::<Vec<u32>>::new(Sqlite::open(":memory:")?, "orders")?;
/// let v = store.insert("o-1", &vec![1])?;
/// assert_eq!(store.save("o-1", &vec![1, 2], v)?, v + 1);
/// assert_eq!(store.load("o-1")?.data, vec![1, 2]);
/// # Ok(())
/// # }
/// ```
pub struct SqliteStore<D> {
    db: Sqlite,
    sql: Statements,
    _records: PhantomData<fn() -> D>,
}

impl<D> SqliteStore<D> {
    /// A store in `table` of `db`, creating the table if it does not exist.
    pub fn new(db: Sqlite, table: &str) -> Result<Self, StoreError> {
        let sql = Statements::new(table, "?", "INTEGER")?;
        db.execute_batch(&sql.create).map_err(backend)?;
        let has = |db: &Sqlite| -> Result<bool, StoreError> {
            db.with(|conn| conn.query_row(&sql.has_position, [], |row| row.get::<_, i64>(0)))
                .map(|n| n > 0)
                .map_err(backend)
        };
        // Another process may add them at the same time: what counts is that they are there.
        if !has(&db)? && db.execute_batch(&sql.add_position).is_err() && !has(&db)? {
            return Err(StoreError::Backend(
                format!("cannot add the columns of durable runs to table `{table}`").into(),
            ));
        }
        Ok(SqliteStore {
            db,
            sql,
            _records: PhantomData,
        })
    }
}

impl<D: serde::Serialize + serde::de::DeserializeOwned> RecordStore<D> for SqliteStore<D> {
    fn load(&self, key: &str) -> Result<Versioned<D>, StoreError> {
        let row: Option<(i64, String)> = self
            .db
            .with(|conn| {
                conn.prepare_cached(&self.sql.load)?
                    .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(backend)?;
        let (version, json) = row.ok_or_else(|| StoreError::NotFound { key: key.to_owned() })?;
        Ok(Versioned {
            data: decode(key, &json)?,
            version: version_of(version),
        })
    }

    fn save(&self, key: &str, data: &D, expected: u64) -> Result<u64, StoreError> {
        self.write(key, data, expected, None)
    }

    fn load_run(&self, key: &str) -> Result<(Versioned<D>, Option<SavedRun>), StoreError> {
        let row: Option<(i64, String, Option<String>)> = self
            .db
            .with(|conn| {
                conn.prepare_cached(&self.sql.load_run)?
                    .query_row([key], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                    .optional()
            })
            .map_err(backend)?;
        let (version, json, run) = row.ok_or_else(|| StoreError::NotFound { key: key.to_owned() })?;
        let record = Versioned {
            data: decode(key, &json)?,
            version: version_of(version),
        };
        Ok((record, decode_run(key, run)?))
    }

    fn save_run(&self, key: &str, data: &D, expected: u64, run: &SavedRun) -> Result<u64, StoreError> {
        self.write(key, data, expected, Some(run))
    }

    fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        self.db
            .with(|conn| {
                let mut stmt = conn.prepare_cached(&self.sql.unfinished)?;
                let keys = stmt.query_map([], |row| row.get::<_, String>(0))?;
                keys.collect::<Result<Vec<_>, _>>()
            })
            .map_err(backend)
    }

    fn insert(&self, key: &str, data: &D) -> Result<u64, StoreError> {
        let json = encode(key, data)?;
        let changed = self
            .db
            .with(|conn| {
                conn.prepare_cached(&self.sql.insert)?
                    .execute(rusqlite::params![key, json])
            })
            .map_err(backend)?;
        inserted(key, changed as u64)
    }
}

impl<D: serde::Serialize> SqliteStore<D> {
    /// A save, with the run's position when there is one.
    fn write(&self, key: &str, data: &D, expected: u64, run: Option<&SavedRun>) -> Result<u64, StoreError> {
        let json = encode(key, data)?;
        // The update and the read of the version that refused it run under one lock of the
        // connection, so a conflict names the version that won.
        let (changed, found) = self
            .db
            .with(|conn| {
                let changed = match run {
                    None => conn.prepare_cached(&self.sql.save)?.execute(rusqlite::params![
                        json,
                        key,
                        version_sql(expected)
                    ])?,
                    Some(run) => conn.prepare_cached(&self.sql.save_run)?.execute(rusqlite::params![
                        json,
                        key,
                        version_sql(expected),
                        run.encode(),
                        i64::from(run.is_finished())
                    ])?,
                };
                let found: Option<i64> = if changed == 1 {
                    None
                } else {
                    conn.prepare_cached(&self.sql.version)?
                        .query_row([key], |row| row.get(0))
                        .optional()?
                };
                Ok((changed as u64, found))
            })
            .map_err(backend)?;
        saved(key, expected, changed, found)
    }
}

impl<D> std::fmt::Debug for SqliteStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}
