//! Resources: the databases, directories, HTTP and LLM endpoints a machine declares under
//! `resources:`, as typed handles its functions reach through [`Context::resources`].
//!
//! One handle type per kind of resource:
//!
//! | kind (YAML) | handle | feature | opens from |
//! |---|---|---|---|
//! | `sqlite` | [`Sqlite`] | `sqlite` | [`SqliteConfig`]: `path` (`":memory:"` allowed) |
//! | `postgres` | [`Postgres`] | `postgres` | [`PostgresConfig`]: `url` or `url_env`, `pool_size`, `timeout_ms` |
//! | `file` | [`Files`] | none | [`FilesConfig`]: `dir`, `create` |
//! | `http` | [`Http`] | `http` | [`HttpConfig`]: `base_url`, `timeout_ms`, `headers`, `health_path` |
//! | `http` in a machine with async functions | [`AsyncHttp`] | `http-async` | [`HttpConfig`], and `max_concurrency`, `breaker_failures`, `breaker_reset_ms` |
//! | `llm` | [`Llm`] | `llm` | [`LlmConfig`]: `base_url`, `model`, `api_key_env`, `timeout_ms`, `health_path`, ... |
//! | `llm` in a machine with async functions | [`AsyncLlm`] | `llm-async` | [`LlmConfig`], and `stream`, `format_retries` |
//!
//! For a machine that declares resources, the generated code has a `<Machine>Resources` struct
//! with one public field per resource, whose `open()` opens each of them from its YAML `config`
//! through [`OpenError::open`] ([`Resource::from_config`] inside [`Retry::run`], with the
//! resource's `retry_attempts` and `retry_delay_seconds`); or build the struct yourself from
//! handles you opened. Its `health()` checks every handle ([`Health`]) and lists the unhealthy
//! ones ([`HealthError`]); as a [`ResourceSet`] it tells a pipeline which resources to check at
//! which `health_check_interval` ([`Pipeline::watch_health`](crate::stream::Pipeline::watch_health)).
//!
//! A resource's `timeout_seconds` becomes the time limit of its handle: [`SqliteConfig`]'s busy
//! timeout, [`PostgresConfig::timeout_ms`] (connecting, statements, waiting for a pooled
//! connection), the request limit of [`HttpConfig`] and [`LlmConfig`]; `connection_pool_size`
//! becomes [`PostgresConfig::pool_size`].
//!
//! Every handle is cheap to clone (clones share the connection) and `Send + Sync`, with `&self`
//! methods, so the parallel workers of the streaming runtime share one set: [`Sqlite`] keeps one
//! connection behind a mutex (SQLite has one writer anyway, and `:memory:` databases exist per
//! connection), [`Postgres`] a fixed pool of connections, [`Http`] and [`Llm`] ureq's agent, which
//! pools connections itself, and [`Files`] only a path. Failures are [`ResourceError`] values,
//! which convert into [`FnError`](crate::FnError) with `?` in a state function.
//!
//! A handle whose feature is off is still a type, so a machine's resources struct still names it,
//! but it cannot be built: the generated `open()` then fails to compile with a message naming
//! the feature to enable.
//!
//! [`Context::resources`]: crate::Context::resources

mod env;
mod files;
mod health;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http-async")]
mod http_async;
#[cfg(feature = "llm")]
mod llm;
#[cfg(feature = "llm-async")]
mod llm_async;
#[cfg(feature = "postgres")]
pub(crate) mod pg;
mod retry;
#[cfg(feature = "sqlite")]
mod sqlite;
mod tokens;
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) mod transaction;

pub use self::env::{expand_env, with_vars};
pub use self::files::Files;
pub use self::health::{Health, HealthError, ResourceSet, Watched};
#[cfg(feature = "http")]
pub use self::http::{Http, HttpResponse};
#[cfg(feature = "http-async")]
pub use self::http_async::{AsyncHttp, DEFAULT_BREAKER_RESET_MS};
#[cfg(feature = "llm")]
pub use self::llm::{Llm, Message};
#[cfg(feature = "llm-async")]
pub(crate) use self::llm_async::counting as counting_tokens;
#[cfg(feature = "llm-async")]
pub use self::llm_async::{AsyncLlm, Completion, Parsed, format_feedback, tokens_this_run, track};
#[cfg(feature = "postgres")]
pub use self::pg::Postgres;
#[cfg(feature = "postgres")]
pub(crate) use self::pg::{Attempt as PgAttempt, outcome_unknown as pg_outcome_unknown};
pub use self::retry::{Exhausted, Retry};
#[cfg(feature = "sqlite")]
pub use self::sqlite::Sqlite;
pub use self::tokens::{TokenMeter, TokenUsage};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use self::transaction as tx;
pub use self::transaction::{ChunkScope, RecordScope, Transaction};

/// The `postgres` crate, as the handle uses it (parameters, rows, the client).
#[cfg(feature = "postgres")]
pub use ::postgres;
/// The `reqwest` crate, as [`AsyncHttp`] and [`AsyncLlm`] use it (their client).
#[cfg(feature = "http-async")]
pub use ::reqwest;
/// The `rusqlite` crate, as the handle uses it (parameters, rows, the connection).
#[cfg(feature = "sqlite")]
pub use ::rusqlite;
/// The `ureq` crate, as [`Http`] uses it (its agent).
#[cfg(feature = "http")]
pub use ::ureq;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A handle that opens from its kind's configuration: what the generated
/// `<Machine>Resources::open()` calls for every resource.
#[diagnostic::on_unimplemented(
    message = "the resource handle `{Self}` is not available: its fsm-runtime feature is off",
    label = "needs a feature of fsm-runtime",
    note = "enable the feature named like the resource kind (`sqlite`, `postgres`, `http`, `llm`; `http-async` for the `http` \
            and `llm-async` for the `llm` resources of a machine with async functions) on `fsm-runtime`, or on \
            `fsm` when you depend on the facade"
)]
pub trait Resource: Sized {
    /// What it opens from.
    type Config;
    /// Opens the resource: connects, checks the directory exists, reads the environment
    /// variables the configuration names.
    fn from_config(config: &Self::Config) -> Result<Self, ResourceError>;
}

/// Why a resource could not be opened or used.
#[derive(Debug)]
#[non_exhaustive]
pub enum ResourceError {
    /// A setting is missing or has a value the handle cannot use.
    Config {
        /// The setting (`path`, `base_url`, ...).
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An environment variable the configuration names (`url_env`, `api_key_env`) is not set, or
    /// not Unicode.
    Env {
        /// The variable.
        var: String,
    },
    /// A path given to [`Files`] would leave its directory: absolute, with `..`, or through a
    /// symbolic link that points outside.
    PathEscapes {
        /// The path as given.
        path: PathBuf,
    },
    /// A file operation failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[cfg(feature = "sqlite")]
    Sqlite(rusqlite::Error),
    /// PostgreSQL failed.
    #[cfg(feature = "postgres")]
    Postgres(::postgres::Error),
    /// An HTTP request failed before a response came back: connection, timeout, protocol.
    #[cfg(feature = "http")]
    Http {
        /// The URL requested.
        url: String,
        /// The cause.
        source: Box<ureq::Error>,
    },
    /// An async HTTP request ([`AsyncHttp`], [`AsyncLlm`]) failed before a response came back: connection,
    /// timeout, protocol.
    #[cfg(feature = "http-async")]
    HttpAsync {
        /// The URL requested.
        url: String,
        /// The cause.
        source: Box<reqwest::Error>,
    },
    /// The endpoint's circuit breaker is open ([`AsyncHttp`]'s `breaker_failures`): too many
    /// requests failed in a row, so this one was not sent. Transient: it closes again after its
    /// reset time.
    CircuitOpen {
        /// The URL that was not requested.
        url: String,
    },
    /// A model's answer did not parse into the expected type, after every retry
    /// (`format_retries`) with the parse error as feedback. Not transient.
    Format {
        /// The URL requested.
        url: String,
        /// How many answers were asked for.
        attempts: u32,
        /// Why the last one did not parse.
        error: String,
        /// The last answer.
        answer: String,
    },
    /// The server answered with an error status (400 and above).
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body (at most 1 KiB), for the error message.
        body: String,
    },
    /// A response did not have the expected shape (not JSON, no completion in it).
    Response {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A write lost its connection before the server answered: it may or may not have been
    /// applied. Not [transient](ResourceError::is_transient): running it again could apply it
    /// twice. A state's `retry` does not run its functions again after this error either.
    OutcomeUnknown(Box<ResourceError>),
    /// A wait took longer than the resource's time limit (`timeout_seconds`): for a free
    /// connection of a [`Postgres`] pool, or for a server to accept a connection.
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: Duration,
    },
}

impl ResourceError {
    /// Whether trying again later may succeed: a server that refuses or drops connections, is
    /// starting up or overloaded (HTTP 408, 425, 429, 500, 502, 503, 504; PostgreSQL
    /// `cannot_connect_now`, `too_many_connections`, connection failures), a time limit, a
    /// database file that is locked or cannot be opened yet, a directory that does not exist
    /// yet. Not transient: settings and environment variables, refused paths, authentication and
    /// other answers of a server, malformed responses.
    ///
    /// [`Retry::run`] retries only transient failures.
    pub fn is_transient(&self) -> bool {
        match self {
            ResourceError::Config { .. }
            | ResourceError::Env { .. }
            | ResourceError::PathEscapes { .. }
            | ResourceError::Response { .. }
            | ResourceError::Format { .. }
            | ResourceError::OutcomeUnknown(_) => false,
            ResourceError::Io { source, .. } => io_transient(source),
            ResourceError::Timeout { .. } | ResourceError::CircuitOpen { .. } => true,
            #[cfg(feature = "http-async")]
            ResourceError::HttpAsync { source, .. } => http_async::transient(source),
            ResourceError::Status { status, .. } => matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504),
            #[cfg(feature = "sqlite")]
            ResourceError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::CannotOpen
                )
            ),
            #[cfg(feature = "postgres")]
            ResourceError::Postgres(e) => pg::is_transient(e),
            #[cfg(feature = "http")]
            ResourceError::Http { source, .. } => match source.as_ref() {
                ureq::Error::Io(e) => io_transient(e),
                ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
                _ => false,
            },
        }
    }
}

/// An I/O failure that may go away: a connection refused, reset or timed out, a path that does
/// not exist yet, a busy resource.
fn io_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        NotFound
            | ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | TimedOut
            | Interrupted
            | WouldBlock
            | BrokenPipe
            | UnexpectedEof
            | AddrNotAvailable
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
            | ResourceBusy
    )
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceError::Config { key, reason } => write!(f, "setting `{key}`: {reason}"),
            ResourceError::Env { var } => write!(f, "environment variable `{var}` is not set"),
            ResourceError::PathEscapes { path } => {
                write!(f, "path `{}` leaves the resource's directory", path.display())
            }
            ResourceError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            #[cfg(feature = "sqlite")]
            ResourceError::Sqlite(e) => write!(f, "sqlite: {e}"),
            #[cfg(feature = "postgres")]
            // The client's own message is only the kind ("db error"): the server's is the cause.
            ResourceError::Postgres(e) => match std::error::Error::source(e) {
                Some(cause) => write!(f, "postgres: {e}: {cause}"),
                None => write!(f, "postgres: {e}"),
            },
            #[cfg(feature = "http")]
            ResourceError::Http { url, source } => write!(f, "{url}: {source}"),
            #[cfg(feature = "http-async")]
            ResourceError::HttpAsync { url, source } => {
                write!(f, "{url}: {source}")?;
                // reqwest's own message is the kind ("error sending request"): the causes say why.
                let mut cause = std::error::Error::source(source.as_ref());
                while let Some(e) = cause {
                    write!(f, ": {e}")?;
                    cause = e.source();
                }
                Ok(())
            }
            ResourceError::CircuitOpen { url } => {
                write!(f, "{url}: not requested: the endpoint's circuit breaker is open")
            }
            ResourceError::Status { url, status, body } => {
                write!(f, "{url}: status {status}")?;
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            ResourceError::Response { url, reason } => write!(f, "{url}: {reason}"),
            ResourceError::Format {
                url,
                attempts,
                error,
                answer,
            } => {
                let answer: String = answer.chars().take(200).collect();
                write!(
                    f,
                    "{url}: the answer is not the expected JSON after {attempts} attempt{}: {error} (last answer: {answer:?})",
                    if *attempts == 1 { "" } else { "s" }
                )
            }
            ResourceError::Timeout { what, after } => {
                write!(f, "{what}: no answer within {}", Seconds(*after))
            }
            ResourceError::OutcomeUnknown(e) => write!(
                f,
                "{e} (the connection was lost before the answer: the write may or may not have been applied)"
            ),
        }
    }
}

impl std::error::Error for ResourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResourceError::Io { source, .. } => Some(source),
            #[cfg(feature = "sqlite")]
            ResourceError::Sqlite(e) => Some(e),
            #[cfg(feature = "postgres")]
            ResourceError::Postgres(e) => Some(e),
            #[cfg(feature = "http")]
            ResourceError::Http { source, .. } => Some(source.as_ref()),
            #[cfg(feature = "http-async")]
            ResourceError::HttpAsync { source, .. } => Some(source.as_ref()),
            ResourceError::OutcomeUnknown(e) => Some(&**e),
            _ => None,
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for ResourceError {
    fn from(e: rusqlite::Error) -> Self {
        ResourceError::Sqlite(e)
    }
}

#[cfg(feature = "postgres")]
impl From<::postgres::Error> for ResourceError {
    fn from(e: ::postgres::Error) -> Self {
        ResourceError::Postgres(e)
    }
}

/// A resource's failure as a state function's error: of kind [`ErrorKind::RATE_LIMITED`] for an
/// HTTP `429 Too Many Requests`, [`ErrorKind::TIMEOUT`] for a wait past the resource's time
/// limit or an async request that timed out, [`ErrorKind::CIRCUIT_OPEN`] for an endpoint whose
/// breaker is open, of no kind otherwise.
///
/// [`ErrorKind::CIRCUIT_OPEN`]: crate::ErrorKind::CIRCUIT_OPEN
///
/// [`ErrorKind::RATE_LIMITED`]: crate::ErrorKind::RATE_LIMITED
/// [`ErrorKind::TIMEOUT`]: crate::ErrorKind::TIMEOUT
impl From<ResourceError> for crate::FnError {
    fn from(e: ResourceError) -> Self {
        let kind = match &e {
            ResourceError::Status { status: 429, .. } => Some(crate::ErrorKind::RATE_LIMITED),
            ResourceError::Timeout { .. } => Some(crate::ErrorKind::TIMEOUT),
            ResourceError::CircuitOpen { .. } => Some(crate::ErrorKind::CIRCUIT_OPEN),
            #[cfg(feature = "http-async")]
            ResourceError::HttpAsync { source, .. } if source.is_timeout() => Some(crate::ErrorKind::TIMEOUT),
            _ => None,
        };
        // The message is the cause's own: a dead letter says it once.
        let error = crate::FnError::with_source("", e);
        match kind {
            Some(kind) => error.with_kind(kind),
            None => error,
        }
    }
}

/// Why a machine's resources could not be opened: every resource that failed, with its name, its
/// last error and how many times it was tried, so one run of the program shows every
/// misconfiguration.
#[derive(Debug, Default)]
pub struct OpenError {
    failures: Vec<OpenFailure>,
}

/// One resource that could not be opened.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenFailure {
    /// The resource's name, as declared.
    pub name: &'static str,
    /// Why its last attempt failed.
    pub error: ResourceError,
    /// How many times opening it was attempted (1 without retries, or when the error was not
    /// [transient](ResourceError::is_transient)).
    pub attempts: u32,
}

impl OpenError {
    /// No failure yet.
    pub fn new() -> Self {
        OpenError::default()
    }

    /// Opens resource `name` from `config`, retrying transient failures as `retry` says (see
    /// [`Retry::run`]): the handle, or `None` with the failure recorded. What the generated
    /// `<Machine>Resources::open()` calls for every resource.
    pub fn open<R: Resource>(&mut self, name: &'static str, config: &R::Config, retry: Retry) -> Option<R> {
        match retry.run(|| R::from_config(config)) {
            Ok(handle) => Some(handle),
            Err(Exhausted { error, attempts }) => {
                self.failures.push(OpenFailure { name, error, attempts });
                None
            }
        }
    }

    /// Keeps the handle of resource `name`, or records why it failed (one attempt).
    pub fn take<T>(&mut self, name: &'static str, opened: Result<T, ResourceError>) -> Option<T> {
        match opened {
            Ok(handle) => Some(handle),
            Err(error) => {
                self.failures.push(OpenFailure {
                    name,
                    error,
                    attempts: 1,
                });
                None
            }
        }
    }

    /// The resources that failed, in declaration order.
    pub fn failures(&self) -> &[OpenFailure] {
        &self.failures
    }

    /// Whether nothing failed.
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for OpenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.name, self.error)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.failures.as_slice() {
            [] => f.write_str("no resource failed"),
            [one] => write!(f, "resource {one}"),
            all => {
                write!(f, "{} resources could not be opened:", all.len())?;
                for failure in all {
                    write!(f, "\n  {failure}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures
            .first()
            .map(|failure| &failure.error as &(dyn std::error::Error + 'static))
    }
}

/// A duration as seconds for messages: `1.5 s`, `30 s`, `0.25 s`.
pub(crate) struct Seconds(pub(crate) Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s", self.0.as_secs_f64())
    }
}

// ---------------------------------------------------------------- configurations

/// Settings of a [`Sqlite`] resource (YAML `kind: sqlite`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// The database file, created if missing (relative to the working directory); `":memory:"`
    /// for a database that lives as long as the handle.
    pub path: String,
    /// How long a statement waits for a lock held by another connection (SQLite's busy
    /// timeout; `timeout_seconds` of the declaration). `None`: rusqlite's default (5 s).
    pub busy_timeout_ms: Option<u64>,
    /// Write-ahead log: `journal_mode = WAL` and `synchronous = NORMAL`. A commit then waits for
    /// the log to be written, not synced: durable across a crash of the process, not of the
    /// machine's power, and much faster (see `store::SqliteStore`).
    pub wal: bool,
    /// When the handle's writes commit (`transaction:` of the declaration); `None`: each
    /// statement on its own (autocommit).
    pub transaction: Option<Transaction>,
}

impl SqliteConfig {
    /// The database at `path`.
    pub fn new(path: impl Into<String>) -> Self {
        SqliteConfig {
            path: path.into(),
            busy_timeout_ms: None,
            wal: false,
            transaction: None,
        }
    }

    /// Sets when the handle's writes commit (see [`Transaction`]).
    #[must_use]
    pub fn transaction(mut self, mode: Transaction) -> Self {
        self.transaction = Some(mode);
        self
    }

    /// Turns the write-ahead log on or off.
    #[must_use]
    pub fn wal(mut self, on: bool) -> Self {
        self.wal = on;
        self
    }

    /// Sets the busy timeout.
    #[must_use]
    pub fn busy_timeout_ms(mut self, ms: u64) -> Self {
        self.busy_timeout_ms = Some(ms);
        self
    }
}

/// Settings of a [`Postgres`] resource (YAML `kind: postgres`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// Where the connection string comes from.
    pub url: Secret,
    /// How many connections the handle keeps (parallel workers each take one while they use
    /// it). At least 1; default 1.
    pub pool_size: usize,
    /// The time limit (`timeout_seconds` of the declaration) of connecting, of each statement
    /// (the server's `statement_timeout`), and of waiting for a free connection of the pool.
    /// `None`: no limit (the server's own `statement_timeout`, if any).
    pub timeout_ms: Option<u64>,
    /// When the handle's writes commit (`transaction:` of the declaration); `None`: each
    /// statement on its own (autocommit).
    pub transaction: Option<Transaction>,
}

impl PostgresConfig {
    /// Connects to `url` (`postgres://user@host:5432/db` or `host=... user=...`).
    pub fn url(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: Secret::Value(url.into()),
            pool_size: 1,
            timeout_ms: None,
            transaction: None,
        }
    }

    /// Connects to the URL in environment variable `var`, read when the resource opens.
    pub fn url_env(var: impl Into<String>) -> Self {
        PostgresConfig {
            url: Secret::Env(var.into()),
            pool_size: 1,
            timeout_ms: None,
            transaction: None,
        }
    }

    /// Sets the number of connections.
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Sets the time limit of connecting, of a statement and of waiting for a connection.
    #[must_use]
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Sets when the handle's writes commit (see [`Transaction`]).
    #[must_use]
    pub fn transaction(mut self, mode: Transaction) -> Self {
        self.transaction = Some(mode);
        self
    }
}

/// A setting given either in the configuration or through an environment variable, read when
/// the resource opens (so a password need not be compiled into the program).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The value itself.
    Value(String),
    /// The name of the environment variable that holds it.
    Env(String),
}

impl Secret {
    /// The value: itself, or the variable's.
    pub fn resolve(&self) -> Result<String, ResourceError> {
        match self {
            Secret::Value(v) => expand_env("url", v).map(std::borrow::Cow::into_owned),
            Secret::Env(var) => env::var(var),
        }
    }
}

// By hand: a URL may carry a password.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Value(..)"),
            Secret::Env(var) => f.debug_tuple("Env").field(var).finish(),
        }
    }
}

/// Settings of a [`Files`] resource (YAML `kind: file`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FilesConfig {
    /// The directory (relative to the working directory) that every path is relative to.
    pub dir: PathBuf,
    /// Create the directory (and its parents) when it does not exist; otherwise a missing
    /// directory fails to open. Default `false`.
    pub create: bool,
}

impl FilesConfig {
    /// The directory `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FilesConfig {
            dir: dir.into(),
            create: false,
        }
    }

    /// Sets whether a missing directory is created.
    #[must_use]
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }
}

/// Settings of an [`Http`] resource (YAML `kind: http`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Every request's URL starts with it (`https://api.example/v1`).
    pub base_url: String,
    /// Time limit of a whole request (connect, send, receive). `None`: no limit.
    pub timeout_ms: Option<u64>,
    /// Headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// A path under `base_url` that answers `GET` with a success status when the service is up
    /// (`/health`). Given, [`Http::health`] requests it and opening the handle waits for it;
    /// `None`: health is only whether the server accepts a connection, and opening contacts
    /// nothing.
    pub health_path: Option<String>,
    /// [`AsyncHttp`] only: at most so many requests open at once (a bulkhead). `None`: no limit.
    pub max_concurrency: Option<u32>,
    /// [`AsyncHttp`] only: the circuit breaker opens after so many failed requests in a row.
    /// `None`: no breaker.
    pub breaker_failures: Option<u32>,
    /// [`AsyncHttp`] only: how long the breaker stays open before a request may try again
    /// (default 1000 ms).
    pub breaker_reset_ms: Option<u64>,
}

impl HttpConfig {
    /// Requests under `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        HttpConfig {
            base_url: base_url.into(),
            timeout_ms: None,
            headers: Vec::new(),
            health_path: None,
            max_concurrency: None,
            breaker_failures: None,
            breaker_reset_ms: None,
        }
    }

    /// Sets the time limit of a request.
    #[must_use]
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Adds a header sent with every request.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the path whose `GET` tells the service is up.
    #[must_use]
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = Some(path.into());
        self
    }

    /// Sets the bulkhead of an [`AsyncHttp`]: at most `n` requests open at once (at least 1).
    #[must_use]
    pub fn max_concurrency(mut self, n: u32) -> Self {
        self.max_concurrency = Some(n);
        self
    }

    /// Gives an [`AsyncHttp`] a circuit breaker that opens after `n` failed requests in a row.
    #[must_use]
    pub fn breaker_failures(mut self, n: u32) -> Self {
        self.breaker_failures = Some(n);
        self
    }

    /// Sets how long an [`AsyncHttp`]'s open breaker waits before a request may try again.
    #[must_use]
    pub fn breaker_reset_ms(mut self, ms: u64) -> Self {
        self.breaker_reset_ms = Some(ms);
        self
    }
}

/// Settings of an [`Llm`] resource (YAML `kind: llm`): an OpenAI-compatible chat completions
/// endpoint (`POST {base_url}/chat/completions`), as served by OpenAI, vLLM, llama.cpp's server,
/// Ollama and most gateways.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LlmConfig {
    /// The API root, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// The model to ask.
    pub model: String,
    /// Environment variable holding the API key, sent as `Authorization: Bearer <key>`. `None`:
    /// no key (local servers).
    pub api_key_env: Option<String>,
    /// Time limit of a request. `None`: no limit.
    pub timeout_ms: Option<u64>,
    /// `max_tokens` of every request. `None`: the server's default.
    pub max_tokens: Option<u32>,
    /// `temperature` of every request. `None`: the server's default.
    pub temperature: Option<f64>,
    /// A system message put before every conversation.
    pub system: Option<String>,
    /// A path under `base_url` that answers `GET` (with the API key) when the service is up,
    /// such as `/models`; as [`HttpConfig::health_path`].
    pub health_path: Option<String>,
    /// Ask for the answer as a stream of server-sent events (`stream: true`, with
    /// `stream_options.include_usage` so the last event reports the tokens). Default `true`; used
    /// by [`AsyncLlm`] (the blocking [`Llm`] never streams).
    pub stream: bool,
    /// How many times a JSON answer that does not parse into the expected type is asked for
    /// again, with the parse error (`AsyncLlm::complete_json`). Default 2.
    pub format_retries: u32,
}

impl LlmConfig {
    /// `model` at `base_url`.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        LlmConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: None,
            timeout_ms: None,
            max_tokens: None,
            temperature: None,
            system: None,
            health_path: None,
            stream: true,
            format_retries: 2,
        }
    }

    /// Sets whether answers are streamed.
    #[must_use]
    pub fn stream(mut self, on: bool) -> Self {
        self.stream = on;
        self
    }

    /// Sets how many times an answer that does not parse is asked for again.
    #[must_use]
    pub fn format_retries(mut self, n: u32) -> Self {
        self.format_retries = n;
        self
    }

    /// Sets the environment variable holding the API key.
    #[must_use]
    pub fn api_key_env(mut self, var: impl Into<String>) -> Self {
        self.api_key_env = Some(var.into());
        self
    }

    /// Sets the time limit of a request.
    #[must_use]
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Sets `max_tokens`.
    #[must_use]
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }

    /// Sets `temperature`.
    #[must_use]
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = Some(t);
        self
    }

    /// Sets the system message.
    #[must_use]
    pub fn system(mut self, text: impl Into<String>) -> Self {
        self.system = Some(text.into());
        self
    }

    /// Sets the path whose `GET` tells the service is up.
    #[must_use]
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = Some(path.into());
        self
    }
}

// ---------------------------------------------------------------- handles whose feature is off

/// The stand-in for a handle whose feature is off: a type, so that generated code naming it
/// still parses, that nothing can build and that does not implement [`Resource`].
#[allow(unused_macros)] // every feature on: nothing is unavailable
macro_rules! unavailable {
    ($name:ident, $feature:literal) => {
        #[doc = concat!("Needs the `", $feature, "` feature of fsm-runtime (or of fsm); without it this type cannot be built.")]
        #[derive(Clone, Debug)]
        pub struct $name {
            _unavailable: std::convert::Infallible,
        }

        impl Health for $name {
            fn health(&self) -> Result<(), ResourceError> {
                match self._unavailable {}
            }
        }
    };
}

#[cfg(not(feature = "sqlite"))]
unavailable!(Sqlite, "sqlite");
#[cfg(not(feature = "postgres"))]
unavailable!(Postgres, "postgres");
#[cfg(not(feature = "http"))]
unavailable!(Http, "http");
#[cfg(not(feature = "http-async"))]
unavailable!(AsyncHttp, "http-async");
#[cfg(not(feature = "llm"))]
unavailable!(Llm, "llm");
#[cfg(not(feature = "llm-async"))]
unavailable!(AsyncLlm, "llm-async");

/// The start of a response body, for an error message.
#[cfg(feature = "http")]
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 1024;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::ResourceError;
    use crate::FnError;

    #[test]
    fn a_resource_error_through_question_mark_says_its_words_once_and_stays_its_cause() {
        let error = FnError::from(ResourceError::Env { var: "API_URL".into() });
        assert_eq!(error.to_string(), "environment variable `API_URL` is not set");
        let cause = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<ResourceError>());
        assert!(matches!(cause, Some(ResourceError::Env { var }) if var == "API_URL"));
        let wrapped = FnError::with_source("fetching the customer", error);
        assert_eq!(
            wrapped.to_string(),
            "fetching the customer: environment variable `API_URL` is not set"
        );
    }
}
