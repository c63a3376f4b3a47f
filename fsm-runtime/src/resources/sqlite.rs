//! [`Sqlite`]: an embedded SQLite database (rusqlite, bundled).

use super::{Health, Resource, ResourceError, SqliteConfig};
use rusqlite::{Connection, Params, Row};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// An SQLite database: one connection, behind a mutex, shared by the clones of the handle.
///
/// One connection, not a pool: SQLite lets one writer in at a time whatever the number of
/// connections, a `:memory:` database exists only on the connection that made it, and a
/// statement takes microseconds, so parallel workers mostly queue for the database rather than
/// the mutex. [`Sqlite::with`] gives the connection itself for transactions and prepared
/// statements; the mutex is held while the closure runs.
///
/// ```
/// # fn main() -> Result<(), fsm_runtime::resources::ResourceError> {
/// use fsm_runtime::resources::Sqlite;
/// let db = Sqlite::open(":memory:")?;
/// db.execute_batch("CREATE TABLE seen (id INTEGER)")?;
/// db.execute("INSERT INTO seen (id) VALUES (?1)", [7])?;
/// let n: i64 = db.query_row("SELECT count(*) FROM seen", [], |row| row.get(0))?;
/// assert_eq!(n, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sqlite {
    conn: Arc<Mutex<Connection>>,
    path: Arc<str>,
}

impl Resource for Sqlite {
    type Config = SqliteConfig;

    fn from_config(config: &SqliteConfig) -> Result<Self, ResourceError> {
        if config.path.is_empty() {
            return Err(ResourceError::Config {
                key: "path",
                reason: "is empty (use `:memory:` for a database in memory)".into(),
            });
        }
        let db = Sqlite::open(&super::expand_env("path", &config.path)?)?;
        if let Some(ms) = config.busy_timeout_ms {
            db.with(|conn| conn.busy_timeout(Duration::from_millis(ms)))?;
        }
        if config.wal {
            db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        }
        // A file that is not a database, or locked for longer than the busy timeout, shows now.
        db.health()?;
        Ok(db)
    }
}

impl Sqlite {
    /// Opens (creating it if missing) the database file at `path`, or a database in memory for
    /// `":memory:"`.
    pub fn open(path: &str) -> Result<Self, ResourceError> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()?
        } else {
            Connection::open(path)?
        };
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
            path: path.into(),
        })
    }

    /// A handle over a connection you opened yourself.
    pub fn from_connection(conn: Connection) -> Self {
        let path = conn.path().filter(|p| !p.is_empty()).unwrap_or(":memory:").into();
        Sqlite {
            conn: Arc::new(Mutex::new(conn)),
            path,
        }
    }

    /// The database file, or `:memory:`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Runs `f` with the connection (for transactions, prepared statements, anything rusqlite
    /// does). Other users of the handle wait until it returns.
    ///
    /// Migrations before the first run, for example: a schema version in `PRAGMA user_version`,
    /// each migration applied once, in order, in one transaction with its version bump (run it
    /// again, and nothing changes).
    ///
    /// ```
    /// # fn main() -> Result<(), fsm_runtime::resources::ResourceError> {
    /// use fsm_runtime::resources::Sqlite;
    /// const MIGRATIONS: &[&str] = &[
    ///     "CREATE TABLE carts (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)",
    ///     "ALTER TABLE carts ADD COLUMN paid_at TEXT",
    /// ];
    /// fn migrate(db: &Sqlite) -> Result<(), fsm_runtime::resources::ResourceError> {
    ///     db.with(|conn| {
    ///         let done: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    ///         for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
    ///             let tx = conn.transaction()?;
    ///             tx.execute_batch(sql)?;
    ///             tx.pragma_update(None, "user_version", i as i64 + 1)?;
    ///             tx.commit()?;
    ///         }
    ///         Ok(())
    ///     })
    /// }
    /// let db = Sqlite::open(":memory:")?;
    /// migrate(&db)?;
    /// migrate(&db)?;
    /// db.execute("INSERT INTO carts (total, paid_at) VALUES (?1, ?2)", (12, "today"))?;
    /// let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    /// assert_eq!(version, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, ResourceError> {
        // A panic in another user's closure poisons the mutex but leaves the connection usable.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(f(&mut conn)?)
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize, ResourceError> {
        self.with(|conn| conn.execute(sql, params))
    }

    /// Runs several statements separated by `;` (no parameters).
    pub fn execute_batch(&self, sql: &str) -> Result<(), ResourceError> {
        self.with(|conn| conn.execute_batch(sql))
    }

    /// The first row of a query, mapped by `f`.
    pub fn query_row<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, ResourceError> {
        self.with(|conn| conn.query_row(sql, params, f))
    }

    /// Every row of a query, each mapped by `f`.
    pub fn query_map<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        mut f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, ResourceError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params, |row| f(row))?;
            rows.collect()
        })
    }
}

impl Sqlite {
    /// Whether the database can be read: its schema is read (`SELECT count(*) FROM
    /// sqlite_schema`), which fails when another connection holds a lock longer than the busy
    /// timeout, or the file is not a database. (`SELECT 1` would not touch the file.)
    pub fn health(&self) -> Result<(), ResourceError> {
        self.with(|conn| conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())))
    }
}

impl Health for Sqlite {
    fn health(&self) -> Result<(), ResourceError> {
        Sqlite::health(self)
    }
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
