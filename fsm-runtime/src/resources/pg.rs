//! [`Postgres`]: a PostgreSQL server, through a small pool of synchronous connections.

use super::tx::{self, Level, OpenTransaction};
use super::{Health, PostgresConfig, Resource, ResourceError, Transaction};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Row};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub(crate) mod tls;

/// A PostgreSQL database: a fixed pool of connections (`pool_size`, default 1), all opened with
/// the handle so a wrong URL or password shows when the resources open, not at the first record.
///
/// A call takes a connection from the pool for as long as it runs, waiting when all are in use;
/// parallel workers therefore run up to `pool_size` statements at once. A connection the server
/// closed is opened again before use.
///
/// TLS is as libpq's `sslmode` in the URL says (`?sslmode=require`, or `sslmode=require` among
/// `key=value` settings): `disable` (plain), `prefer` (the default: TLS when the server offers
/// it), `require` (TLS or fail), `verify-ca` and `verify-full` (the certificate checked, and the
/// host name with `verify-full`). `sslrootcert=PATH` names a PEM file of the roots to check the
/// server's certificate against (a private CA, a self-signed server); `verify-*` without it
/// check against the Mozilla roots. Under `prefer` and `require` a certificate is checked only
/// when `sslrootcert` is given, as libpq does. rustls, no OpenSSL.
///
/// With a time limit (`timeout_seconds`, [`PostgresConfig::timeout_ms`]), connecting, each
/// statement (the server's `statement_timeout`, set for the handle's connections) and the wait
/// for a free connection ([`ResourceError::Timeout`]) are limited by it.
///
/// With a [`Transaction`] mode (`transaction:` of the declaration, [`Postgres::transaction`]),
/// the first call inside a record's (or chunk's) scope takes a connection of the pool, begins a
/// transaction on it, and keeps it for the calling thread until the scope ends: each parallel
/// worker has a connection and a transaction of its own (so `pool_size` should be at least the
/// number of workers, or workers wait for a connection). See [`transaction`](super::Transaction).
#[derive(Clone)]
pub struct Postgres {
    pool: Arc<Pool>,
    mode: Option<Transaction>,
}

struct Pool {
    idle: Mutex<Vec<Client>>,
    returned: Condvar,
    /// To reconnect a connection the server closed; `None` for a handle over a given client.
    connect: Option<tls::Connect>,
    size: usize,
    /// The longest wait for a free connection.
    wait: Option<Duration>,
}

impl Pool {
    fn put_back(&self, client: Client) {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(client);
        self.returned.notify_one();
    }
}

/// The transaction a thread holds open on a [`Postgres`] handle, with its connection.
struct PgOpen {
    pool: Arc<Pool>,
    client: Option<Client>,
}

impl PgOpen {
    fn end(&mut self, commit: bool) -> Result<(), ResourceError> {
        let Some(mut client) = self.client.take() else {
            return Ok(());
        };
        let result = if commit {
            client.batch_execute("COMMIT").map_err(|e| {
                if outcome_unknown(&e) {
                    ResourceError::OutcomeUnknown(Box::new(ResourceError::Postgres(e)))
                } else {
                    ResourceError::Postgres(e)
                }
            })
        } else {
            // A connection that was lost rolled back on the server.
            let _ = client.batch_execute("ROLLBACK");
            Ok(())
        };
        if result.is_err() && !client.is_closed() {
            let _ = client.batch_execute("ROLLBACK");
        }
        self.pool.put_back(client);
        result
    }
}

impl OpenTransaction for PgOpen {
    fn handle(&self) -> usize {
        Arc::as_ptr(&self.pool) as usize
    }

    fn finish(mut self: Box<Self>, commit: bool) -> Result<(), ResourceError> {
        self.end(commit)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl Drop for PgOpen {
    fn drop(&mut self) {
        let _ = self.end(false);
    }
}

impl Resource for Postgres {
    type Config = PostgresConfig;

    fn from_config(config: &PostgresConfig) -> Result<Self, ResourceError> {
        let url = config.url.resolve()?;
        let db = Postgres::connect_with(&url, config.pool_size, config.timeout_ms.map(Duration::from_millis))?;
        Ok(match config.transaction {
            Some(mode) => db.transaction(mode),
            None => db,
        })
    }
}

impl Postgres {
    /// One connection to `url` (`postgres://user:password@host:5432/db?sslmode=require`, or
    /// `host=... user=... sslmode=...`).
    pub fn connect(url: &str) -> Result<Self, ResourceError> {
        Postgres::connect_pool(url, 1)
    }

    /// `size` connections to `url` (at least one).
    pub fn connect_pool(url: &str, size: usize) -> Result<Self, ResourceError> {
        Postgres::connect_with(url, size, None)
    }

    /// `size` connections to `url`, with a time limit of connecting, of each statement and of
    /// waiting for a free connection (`None`: no limit).
    pub fn connect_with(url: &str, size: usize, timeout: Option<Duration>) -> Result<Self, ResourceError> {
        if size == 0 {
            return Err(ResourceError::Config {
                key: "pool_size",
                reason: "must be at least 1".into(),
            });
        }
        let mut connect = tls::Connect::parse(url)?;
        let config = connect.config_mut();
        if let Some(limit) = timeout {
            config.connect_timeout(limit);
            // For the server, 0 would mean no limit: at least 1 ms.
            let ms = limit.as_millis().max(1);
            let options = match config.get_options() {
                Some(given) if !given.trim().is_empty() => format!("{given} -c statement_timeout={ms}"),
                _ => format!("-c statement_timeout={ms}"),
            };
            config.options(&options);
        }
        let clients = (0..size).map(|_| connect.connect()).collect::<Result<Vec<_>, _>>()?;
        Ok(Postgres::pool(clients, Some(connect), timeout))
    }

    /// A handle over a client you connected yourself (TLS, custom settings).
    pub fn from_client(client: Client) -> Self {
        Postgres::pool(vec![client], None, None)
    }

    fn pool(clients: Vec<Client>, connect: Option<tls::Connect>, wait: Option<Duration>) -> Self {
        Postgres {
            pool: Arc::new(Pool {
                size: clients.len(),
                idle: Mutex::new(clients),
                returned: Condvar::new(),
                connect,
                wait,
            }),
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
        Arc::as_ptr(&self.pool) as usize
    }

    /// Begins a transaction on a connection of the pool that the calling thread keeps until
    /// [`Postgres::commit`] or [`Postgres::rollback`] (`transaction: manual` only): every call
    /// of this thread on the handle runs in it. Inside a pipeline, a transaction still open when
    /// the record's run ends is rolled back.
    pub fn begin(&self) -> Result<(), ResourceError> {
        if self.mode != Some(Transaction::Manual) {
            return Err(tx::not_manual("begin", self.mode));
        }
        if tx::is_open(self.key()) {
            return Err(tx::already_open());
        }
        self.open(Level::Manual)
    }

    /// Commits the transaction [`Postgres::begin`] opened on this thread.
    pub fn commit(&self) -> Result<(), ResourceError> {
        self.end_manual("commit", true)
    }

    /// Rolls back the transaction [`Postgres::begin`] opened on this thread.
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

    /// Takes a connection of the pool for this thread and begins a transaction on it, kept open
    /// in the scope `level`.
    fn open(&self, level: Level) -> Result<(), ResourceError> {
        let mut lease = self.lease()?;
        let mut client = lease.client.take().ok_or_else(|| ResourceError::Config {
            key: "pool_size",
            reason: "the pool has no connection".into(),
        })?;
        drop(lease);
        let mut open = PgOpen {
            pool: self.pool.clone(),
            client: None,
        };
        if client.is_closed()
            && let Some(connect) = &self.pool.connect
        {
            match connect.connect() {
                Ok(c) => client = c,
                Err(e) => {
                    self.pool.put_back(client);
                    return Err(e.into());
                }
            }
        }
        let begun = client.batch_execute("BEGIN");
        open.client = Some(client);
        begun?;
        tx::register(level, Box::new(open));
        Ok(())
    }

    /// Runs `f` on the connection of the transaction this thread holds open on the handle.
    fn in_open<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>) -> Option<Result<T, Attempt>> {
        // Out of the registry while `f` runs (it may use other handles). When `f` panics, the
        // transaction is dropped here, which rolls it back and gives the connection back.
        let (level, mut open) = tx::take(self.key())?;
        let result = open
            .as_any()
            .downcast_mut::<PgOpen>()
            .and_then(|o| o.client.as_mut())
            .map(|client| f(client).map_err(Attempt::Sent));
        tx::register(level, open);
        result
    }

    /// Runs `f` with a connection of the pool (for transactions, prepared statements, copies,
    /// anything the `postgres` crate does).
    pub fn with<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>) -> Result<T, ResourceError> {
        self.attempt(f).map_err(|failed| match failed {
            Attempt::NotSent(e) => e,
            Attempt::Sent(e) => ResourceError::Postgres(e),
        })
    }

    /// Runs `f` with a connection of the pool, telling a failure before `f` ran (no free
    /// connection, reconnecting failed: the server got nothing) from one of `f` itself.
    pub(crate) fn attempt<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>) -> Result<T, Attempt> {
        if let Some(mode) = self.mode {
            if tx::is_open(self.key()) {
                if let Some(result) = self.in_open(f) {
                    return result;
                }
                return Err(Attempt::NotSent(tx::none_open("a call")));
            }
            if let Some(level) = tx::scope_of(mode) {
                self.open(level).map_err(Attempt::NotSent)?;
                if let Some(result) = self.in_open(f) {
                    return result;
                }
                return Err(Attempt::NotSent(tx::none_open("a call")));
            }
        }
        let mut lease = self.lease().map_err(Attempt::NotSent)?;
        let client = lease.client().map_err(Attempt::NotSent)?;
        if client.is_closed()
            && let Some(connect) = &self.pool.connect
        {
            *client = connect.connect().map_err(|e| Attempt::NotSent(e.into()))?;
        }
        f(client).map_err(Attempt::Sent)
    }

    /// Runs a write: a lost connection before the answer is [`ResourceError::OutcomeUnknown`].
    fn write<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>) -> Result<T, ResourceError> {
        self.attempt(f).map_err(|failed| match failed {
            Attempt::NotSent(e) => e,
            Attempt::Sent(e) if outcome_unknown(&e) => {
                ResourceError::OutcomeUnknown(Box::new(ResourceError::Postgres(e)))
            }
            Attempt::Sent(e) => ResourceError::Postgres(e),
        })
    }

    /// Whether the database answers: `SELECT 1` on a connection of the pool. A connection the
    /// server closed (a restart, an administrator) is opened again, and checked once more.
    pub fn health(&self) -> Result<(), ResourceError> {
        self.read(|client| client.simple_query("SELECT 1").map(|_| ()))
    }

    /// Runs `f`, which only reads, with a connection of the pool; when the connection turns out to
    /// be lost, opens it again and runs `f` once more (a read changes nothing: running it twice is
    /// safe).
    pub(crate) fn read<T>(
        &self,
        mut f: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, ResourceError> {
        let mut lease = self.lease()?;
        let client = lease.client()?;
        let reconnect = |client: &mut Client| -> Result<(), ResourceError> {
            if let Some(connect) = &self.pool.connect {
                *client = connect.connect()?;
            }
            Ok(())
        };
        if client.is_closed() {
            reconnect(client)?;
        }
        match f(client) {
            Ok(value) => Ok(value),
            Err(e) if (client.is_closed() || outcome_unknown(&e)) && self.pool.connect.is_some() => {
                reconnect(client)?;
                Ok(f(client)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs one statement; the number of rows it changed.
    ///
    /// When the connection is lost before the server answers (terminated, reset, the server
    /// shutting down), the statement may have been applied or not: the error is then
    /// [`ResourceError::OutcomeUnknown`], which is not [transient](ResourceError::is_transient),
    /// so that nothing runs the write again blindly. Find out from the data (read the row back)
    /// before writing again.
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, ResourceError> {
        self.write(|client| client.execute(sql, params))
    }

    /// Runs several statements separated by `;` (no parameters). A lost connection before the
    /// answer is [`ResourceError::OutcomeUnknown`], as for [`Postgres::execute`].
    pub fn batch_execute(&self, sql: &str) -> Result<(), ResourceError> {
        self.write(|client| client.batch_execute(sql))
    }

    /// The rows of a query.
    pub fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, ResourceError> {
        self.with(|client| client.query(sql, params))
    }

    /// The one row of a query (an error when there is none or several).
    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, ResourceError> {
        self.with(|client| client.query_one(sql, params))
    }

    /// The number of connections.
    pub fn pool_size(&self) -> usize {
        self.pool.size
    }

    /// A connection of the pool, waiting for one to be returned when all are in use (at most the
    /// time limit).
    fn lease(&self) -> Result<Lease<'_>, ResourceError> {
        let deadline = self.pool.wait.map(|wait| Instant::now() + wait);
        let mut idle = self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(client) = idle.pop() {
                return Ok(Lease {
                    pool: &self.pool,
                    client: Some(client),
                });
            }
            if self.pool.size == 0 {
                return Ok(Lease {
                    pool: &self.pool,
                    client: None,
                });
            }
            idle = match deadline {
                None => self.pool.returned.wait(idle).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(ResourceError::Timeout {
                            what: format!("waiting for a free connection of the pool ({} in use)", self.pool.size),
                            after: self.pool.wait.unwrap_or_default(),
                        });
                    }
                    self.pool
                        .returned
                        .wait_timeout(idle, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

impl Health for Postgres {
    fn health(&self) -> Result<(), ResourceError> {
        Postgres::health(self)
    }
}

/// See [`ResourceError::is_transient`].
pub(super) fn is_transient(e: &postgres::Error) -> bool {
    const TRANSIENT: &[SqlState] = &[
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CONNECTION_EXCEPTION,
        SqlState::CONNECTION_FAILURE,
        SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
    ];
    if let Some(code) = e.code() {
        return TRANSIENT.contains(code);
    }
    if e.is_closed() {
        return true;
    }
    // Connecting and talking to the server fail with the I/O error as the cause; a connection
    // string that does not parse has another cause.
    std::error::Error::source(e)
        .and_then(|cause| cause.downcast_ref::<std::io::Error>())
        .is_some_and(super::io_transient)
}

/// How a call on a connection of the pool failed.
pub(crate) enum Attempt {
    /// Before the statement was sent: nothing reached the server.
    NotSent(ResourceError),
    /// The statement's own failure: when [`outcome_unknown`], it may have been applied.
    Sent(postgres::Error),
}

/// Whether a statement that failed with `e` may have been applied all the same: the connection
/// was lost before the answer came (closed, an I/O error, a connection exception, the session
/// terminated by an administrator or a crash). The commit may have happened just before. Any
/// other error is the server refusing the statement, which then changed nothing.
pub(crate) fn outcome_unknown(e: &postgres::Error) -> bool {
    if let Some(code) = e.code() {
        return code.code().starts_with("08") || *code == SqlState::ADMIN_SHUTDOWN || *code == SqlState::CRASH_SHUTDOWN;
    }
    e.is_closed()
        || std::error::Error::source(e)
            .and_then(|cause| cause.downcast_ref::<std::io::Error>())
            .is_some()
}

/// A connection taken from the pool, put back when dropped (even when the caller panics).
struct Lease<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl Lease<'_> {
    fn client(&mut self) -> Result<&mut Client, ResourceError> {
        self.client.as_mut().ok_or_else(|| ResourceError::Config {
            key: "pool_size",
            reason: "the pool has no connection".into(),
        })
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(client);
            self.pool.returned.notify_one();
        }
    }
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("pool_size", &self.pool.size)
            .finish_non_exhaustive()
    }
}
