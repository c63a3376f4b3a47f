//! [`Postgres`]: a PostgreSQL server, through a small pool of synchronous connections.

use super::{PostgresConfig, Resource, ResourceError};
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// A PostgreSQL database: a fixed pool of connections (`pool_size`, default 1), all opened with
/// the handle so a wrong URL or password shows when the resources open, not at the first record.
///
/// A call takes a connection from the pool for as long as it runs, waiting when all are in use;
/// parallel workers therefore run up to `pool_size` statements at once. A connection the server
/// closed is opened again before use. Connections are plain TCP or Unix sockets (`NoTls`).
#[derive(Clone)]
pub struct Postgres {
    pool: Arc<Pool>,
}

struct Pool {
    idle: Mutex<Vec<Client>>,
    returned: Condvar,
    /// To reconnect a connection the server closed; `None` for a handle over a given client.
    url: Option<String>,
    size: usize,
}

impl Resource for Postgres {
    type Config = PostgresConfig;

    fn from_config(config: &PostgresConfig) -> Result<Self, ResourceError> {
        let url = config.url.resolve()?;
        Postgres::connect_pool(&url, config.pool_size)
    }
}

impl Postgres {
    /// One connection to `url` (`postgres://user:password@host:5432/db`, or `host=... user=...`).
    pub fn connect(url: &str) -> Result<Self, ResourceError> {
        Postgres::connect_pool(url, 1)
    }

    /// `size` connections to `url` (at least one).
    pub fn connect_pool(url: &str, size: usize) -> Result<Self, ResourceError> {
        if size == 0 {
            return Err(ResourceError::Config {
                key: "pool_size",
                reason: "must be at least 1".into(),
            });
        }
        let clients = (0..size)
            .map(|_| Client::connect(url, NoTls))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Postgres::pool(clients, Some(url.to_owned())))
    }

    /// A handle over a client you connected yourself (TLS, custom settings).
    pub fn from_client(client: Client) -> Self {
        Postgres::pool(vec![client], None)
    }

    fn pool(clients: Vec<Client>, url: Option<String>) -> Self {
        Postgres {
            pool: Arc::new(Pool {
                size: clients.len(),
                idle: Mutex::new(clients),
                returned: Condvar::new(),
                url,
            }),
        }
    }

    /// Runs `f` with a connection of the pool (for transactions, prepared statements, copies,
    /// anything the `postgres` crate does).
    pub fn with<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>) -> Result<T, ResourceError> {
        let mut lease = self.lease();
        let client = lease.client.as_mut().ok_or_else(|| ResourceError::Config {
            key: "pool_size",
            reason: "the pool has no connection".into(),
        })?;
        if client.is_closed()
            && let Some(url) = &self.pool.url
        {
            *client = Client::connect(url, NoTls)?;
        }
        Ok(f(client)?)
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, ResourceError> {
        self.with(|client| client.execute(sql, params))
    }

    /// Runs several statements separated by `;` (no parameters).
    pub fn batch_execute(&self, sql: &str) -> Result<(), ResourceError> {
        self.with(|client| client.batch_execute(sql))
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

    fn lease(&self) -> Lease<'_> {
        let mut idle = self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(client) = idle.pop() {
                return Lease {
                    pool: &self.pool,
                    client: Some(client),
                };
            }
            if self.pool.size == 0 {
                return Lease {
                    pool: &self.pool,
                    client: None,
                };
            }
            idle = self.pool.returned.wait(idle).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A connection taken from the pool, put back when dropped (even when the caller panics).
struct Lease<'a> {
    pool: &'a Pool,
    client: Option<Client>,
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
