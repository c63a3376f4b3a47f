//! [`Sqlite`]: an embedded SQLite database (rusqlite, bundled).

use super::tx::{self, Level, OpenTransaction};
use super::{Health, Resource, ResourceError, SqliteConfig, Transaction};
use rusqlite::{Connection, Params, Row};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

/// An SQLite database: one connection, behind a mutex, shared by the clones of the handle.
///
/// One connection, not a pool: SQLite lets one writer in at a time whatever the number of
/// connections, a `:memory:` database exists only on the connection that made it, and a
/// statement takes microseconds, so parallel workers mostly queue for the database rather than
/// the mutex. [`Sqlite::with`] gives the connection itself for transactions and prepared
/// statements; the mutex is held while the closure runs.
///
/// With a [`Transaction`] mode (`transaction:` of the declaration, [`Sqlite::transaction`]),
/// the connection belongs to one thread at a time from the first call inside a record's (or
/// chunk's) scope until the scope ends, in one transaction (`BEGIN IMMEDIATE`): parallel workers
/// never interleave their statements in one transaction; a worker whose record uses the
/// database waits until the record holding it has committed or rolled back (SQLite lets one
/// writer in at a time anyway). The lock is one for all SQLite handles with a mode, so that
/// workers holding transactions of two handles can never wait for each other in a circle. See
/// [`transaction`](super::Transaction).
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
    mode: Option<Transaction>,
}

/// Which thread holds the transactions of SQLite handles, and how many calls or transactions of
/// it hold them. One lock for every handle with a [`Transaction`] mode, not one per handle: a
/// worker holding a per-chunk transaction of one handle for the whole chunk, and the per-record
/// transaction of another for one record, would otherwise wait for a worker that holds them the
/// other way round, for ever. With one lock no such cycle can form; the price is that the
/// transactions of two SQLite files do not run in parallel either (SQLite lets one writer into a
/// file at a time anyway).
struct Owner {
    holder: Mutex<(Option<ThreadId>, usize)>,
    freed: Condvar,
}

static OWNER: Owner = Owner {
    holder: Mutex::new((None, 0)),
    freed: Condvar::new(),
};

impl Owner {
    /// Waits until no other thread holds the lock, and takes it (once more, if this thread does).
    fn acquire(&self, me: ThreadId) {
        let mut holder = self.holder.lock().unwrap_or_else(PoisonError::into_inner);
        while holder.0.is_some_and(|h| h != me) {
            holder = self.freed.wait(holder).unwrap_or_else(PoisonError::into_inner);
        }
        holder.0 = Some(me);
        holder.1 += 1;
    }

    fn release(&self) {
        let mut holder = self.holder.lock().unwrap_or_else(PoisonError::into_inner);
        holder.1 = holder.1.saturating_sub(1);
        if holder.1 == 0 {
            holder.0 = None;
            self.freed.notify_all();
        }
    }
}

/// Releases the lock when dropped (a panic in the caller's closure included).
struct Held;

impl Drop for Held {
    fn drop(&mut self) {
        OWNER.release();
    }
}

/// The transaction a thread holds open on a [`Sqlite`] handle.
struct SqliteOpen {
    db: Option<Sqlite>,
}

impl SqliteOpen {
    fn end(db: &Sqlite, commit: bool) -> Result<(), ResourceError> {
        let _held = Held;
        db.locked(|conn| {
            if conn.is_autocommit() {
                // SQLite rolled it back itself (a failed statement with `RAISE(ROLLBACK)`, a
                // full disk): nothing is left to commit.
                return if commit {
                    Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                        Some("the transaction was rolled back by SQLite before its commit".into()),
                    ))
                } else {
                    Ok(())
                };
            }
            if commit {
                match conn.execute_batch("COMMIT") {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        if !conn.is_autocommit() {
                            let _ = conn.execute_batch("ROLLBACK");
                        }
                        Err(e)
                    }
                }
            } else {
                conn.execute_batch("ROLLBACK")
            }
        })
    }
}

impl OpenTransaction for SqliteOpen {
    fn handle(&self) -> usize {
        self.db.as_ref().map_or(0, Sqlite::key)
    }

    fn finish(mut self: Box<Self>, commit: bool) -> Result<(), ResourceError> {
        match self.db.take() {
            Some(db) => SqliteOpen::end(&db, commit),
            None => Ok(()),
        }
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl Drop for SqliteOpen {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            let _ = SqliteOpen::end(&db, false);
        }
    }
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
        let db = match config.transaction {
            Some(mode) => db.transaction(mode),
            None => db,
        };
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
        Ok(Sqlite::from_parts(conn, path.into()))
    }

    fn from_parts(conn: Connection, path: Arc<str>) -> Self {
        Sqlite {
            conn: Arc::new(Mutex::new(conn)),
            path,
            mode: None,
        }
    }

    /// The handle with transactions of `mode` (what `transaction:` of the declaration sets).
    #[must_use]
    pub fn transaction(mut self, mode: Transaction) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The transaction mode, if any.
    pub fn transaction_mode(&self) -> Option<Transaction> {
        self.mode
    }

    fn key(&self) -> usize {
        Arc::as_ptr(&self.conn) as usize
    }

    /// Begins a transaction that the calling thread holds until [`Sqlite::commit`] or
    /// [`Sqlite::rollback`] (`transaction: manual` only): every call of this thread on the
    /// handle runs in it, other threads wait for it to end. Inside a pipeline, a transaction
    /// still open when the record's run ends is rolled back.
    pub fn begin(&self) -> Result<(), ResourceError> {
        if self.mode != Some(Transaction::Manual) {
            return Err(tx::not_manual("begin", self.mode));
        }
        if tx::is_open(self.key()) {
            return Err(tx::already_open());
        }
        self.open_transaction(std::thread::current().id(), Level::Manual)
    }

    /// Commits the transaction [`Sqlite::begin`] opened on this thread.
    pub fn commit(&self) -> Result<(), ResourceError> {
        self.end_manual("commit", true)
    }

    /// Rolls back the transaction [`Sqlite::begin`] opened on this thread.
    pub fn rollback(&self) -> Result<(), ResourceError> {
        self.end_manual("rollback", false)
    }

    /// Whether the calling thread holds a transaction of this handle open.
    pub fn in_transaction(&self) -> bool {
        self.mode.is_some() && tx::is_open(self.key())
    }

    fn end_manual(&self, what: &str, commit: bool) -> Result<(), ResourceError> {
        if self.mode != Some(Transaction::Manual) {
            return Err(tx::not_manual(what, self.mode));
        }
        match tx::take(self.key()) {
            Some((_, open)) => open.finish(commit),
            None => Err(tx::none_open(what)),
        }
    }

    /// Takes the connection for this thread and begins its transaction, kept open in the scope
    /// `level`.
    fn open_transaction(&self, me: ThreadId, level: Level) -> Result<(), ResourceError> {
        OWNER.acquire(me);
        if let Err(e) = self.locked(|conn| conn.execute_batch("BEGIN IMMEDIATE")) {
            OWNER.release();
            return Err(e);
        }
        tx::register(level, Box::new(SqliteOpen { db: Some(self.clone()) }));
        Ok(())
    }

    fn locked<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, ResourceError> {
        // A panic in another user's closure poisons the mutex but leaves the connection usable.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(f(&mut conn)?)
    }

    /// A handle over a connection you opened yourself.
    pub fn from_connection(conn: Connection) -> Self {
        let path = conn.path().filter(|p| !p.is_empty()).unwrap_or(":memory:").into();
        Sqlite::from_parts(conn, path)
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
    ///
    /// With a [`Transaction`] mode, the call runs in the calling thread's open transaction
    /// (opened now when the call is the first of its record or chunk), or, outside one, on its
    /// own once no other thread's transaction holds the connection.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, ResourceError> {
        let Some(mode) = self.mode else {
            return self.locked(f);
        };
        if tx::is_open(self.key()) {
            return self.locked(f);
        }
        let me = std::thread::current().id();
        match tx::scope_of(mode) {
            Some(level) => {
                self.open_transaction(me, level)?;
                self.locked(f)
            }
            None => {
                OWNER.acquire(me);
                let _held = Held;
                self.locked(f)
            }
        }
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
