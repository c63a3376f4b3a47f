//! [`PostgresStore`]: records as JSON in a PostgreSQL table.

use super::sql::{Statements, backend, decode, decode_run, encode, inserted, saved, version_of, version_sql};
use super::{RecordStore, SavedRun, StoreError, Versioned};
use crate::resources::{PgAttempt, Postgres, ResourceError, pg_outcome_unknown};
use std::marker::PhantomData;

/// Records as JSON in a table of a PostgreSQL database (the [`Postgres`] resource handle and its
/// pool), one row per key: `(key TEXT PRIMARY KEY, version BIGINT, data TEXT, position TEXT,
/// finished INTEGER)`. The table is created if missing; a table of an older version, without the
/// two columns of durable runs (the run's position, saved with the record, and whether it is
/// over), gets them. Saves are one `UPDATE ... WHERE key = $2 AND version = $3`, so concurrent
/// writers from any number of processes are serialised by the database.
///
/// A save or insert whose connection is lost before the answer (the session terminated, the
/// network reset) may have been committed all the same. The store then reads the row back on a new
/// connection: the new version with the JSON it wrote means the write landed (`Ok`); the version
/// it expected means it did not (the error), and a retry applies it once. When the database cannot
/// be asked, or the row moved on further since, the error is [`StoreError::Unknown`].
pub struct PostgresStore<D> {
    db: Postgres,
    sql: Statements,
    /// The version and JSON of a key, waiting for a transaction that holds the row to end.
    read_back: String,
    _records: PhantomData<fn() -> D>,
}

impl<D> PostgresStore<D> {
    /// A store in `table` of `db`, creating the table if it does not exist.
    pub fn new(db: Postgres, table: &str) -> Result<Self, StoreError> {
        let sql = Statements::new(table, "$", "BIGINT")?;
        db.batch_execute(&sql.create).map_err(backend)?;
        let has: i64 = match db.query(&sql.has_position, &[]).map_err(backend)?.first() {
            Some(row) => row.try_get(0).map_err(backend)?,
            None => 0,
        };
        if has == 0 {
            db.batch_execute(&sql.add_position).map_err(backend)?;
        }
        let read_back = format!("SELECT version, data FROM {table} WHERE key = $1 FOR SHARE");
        Ok(PostgresStore {
            db,
            sql,
            read_back,
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
        self.write(key, data, expected, None)
    }

    fn load_run(&self, key: &str) -> Result<(Versioned<D>, Option<SavedRun>), StoreError> {
        let rows = self.db.query(&self.sql.load_run, &[&key]).map_err(backend)?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::NotFound { key: key.to_owned() })?;
        let version: i64 = row.try_get(0).map_err(backend)?;
        let json: String = row.try_get(1).map_err(backend)?;
        let run: Option<String> = row.try_get(2).map_err(backend)?;
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
        let rows = self.db.query(&self.sql.unfinished, &[]).map_err(backend)?;
        rows.iter()
            .map(|row| row.try_get::<_, String>(0).map_err(backend))
            .collect()
    }

    fn insert(&self, key: &str, data: &D) -> Result<u64, StoreError> {
        let json = encode(key, data)?;
        match self
            .db
            .attempt(|client| client.execute(&self.sql.insert, &[&key, &json]))
        {
            Ok(changed) => inserted(key, changed),
            Err(failed) => self.after_failed_write(key, &json, 0, failed),
        }
    }
}

impl<D: serde::Serialize> PostgresStore<D> {
    /// A save, with the run's position when there is one.
    fn write(&self, key: &str, data: &D, expected: u64, run: Option<&SavedRun>) -> Result<u64, StoreError> {
        let json = encode(key, data)?;
        let version = version_sql(expected);
        let changed = match run {
            None => self
                .db
                .attempt(|client| client.execute(&self.sql.save, &[&json, &key, &version])),
            Some(run) => {
                let (text, finished) = (run.encode(), i32::from(run.is_finished()));
                self.db
                    .attempt(|client| client.execute(&self.sql.save_run, &[&json, &key, &version, &text, &finished]))
            }
        }
        .or_else(|failed| self.after_failed_write(key, &json, expected, failed).map(|_| 1))?;
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
}

impl<D> PostgresStore<D> {
    /// After a write of `json` under `key` failed, expecting version `expected` (0 for an
    /// insert): the new version if it landed all the same, else the error. Only a lost connection
    /// leaves the outcome open: the row is then read back, on a new connection if need be (`FOR SHARE` waits
    /// for the write's transaction, if its session still lives, to end).
    fn after_failed_write(&self, key: &str, json: &str, expected: u64, failed: PgAttempt) -> Result<u64, StoreError> {
        let error = match failed {
            PgAttempt::NotSent(e) => return Err(backend(e)),
            PgAttempt::Sent(e) if !pg_outcome_unknown(&e) => return Err(backend(ResourceError::Postgres(e))),
            PgAttempt::Sent(e) => ResourceError::Postgres(e),
        };
        let found = self
            .db
            .read(|client| match client.query(&self.read_back, &[&key])?.first() {
                Some(row) => Ok(Some((row.try_get::<_, i64>(0)?, row.try_get::<_, String>(1)?))),
                None => Ok(None),
            });
        let unknown = |why: String| StoreError::Unknown {
            key: key.to_owned(),
            source: format!("{error}; {why}").into(),
        };
        let found = match found {
            Ok(found) => found.map(|(version, stored)| (version_of(version), stored)),
            Err(e) => return Err(unknown(format!("reading the record back failed too: {e}"))),
        };
        let landed = expected.saturating_add(1);
        match found {
            // Our JSON at the version our write gives: it was committed.
            Some((version, stored)) if version == landed && stored == json => Ok(landed),
            // Unchanged (a save) or absent (an insert): it was not.
            Some((version, _)) if version == expected => Err(backend(error)),
            None if expected == 0 => Err(backend(error)),
            None => Err(StoreError::NotFound { key: key.to_owned() }),
            // Another writer won from the same version: ours cannot have.
            Some((1, _)) if expected == 0 => Err(StoreError::Exists { key: key.to_owned() }),
            Some((version, _)) if version == landed => Err(StoreError::Conflict {
                key: key.to_owned(),
                expected,
                found: version,
            }),
            Some((version, _)) => Err(unknown(format!(
                "the record is at version {version} now, beyond the {landed} the write would have made"
            ))),
        }
    }
}

impl<D> std::fmt::Debug for PostgresStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}
