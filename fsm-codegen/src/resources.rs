//! The catalog of resource settings: for each kind of resource (`sqlite`, `postgres`, `file`,
//! `http`, `llm`), the keys its `config:` takes, and the settings of the resource itself
//! ([`OWN`]: pool size, time limit, retries, health-check interval, beside `config:` as
//! dataknobs-fsm declares them). Validation checks configs against it, lowering reads them into
//! the IR, and the generated `<Machine>Resources::open()` passes them to the runtime's `*Config`
//! builders, whose methods have the same names, and to its retry loop.

use crate::ast::{ResourceKind, Value};

/// The type of a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingType {
    /// A non-empty string.
    Str,
    /// An integer ≥ 0.
    Count,
    /// An integer ≥ 1.
    Positive,
    /// A number ≥ 0 (integer or float).
    Number,
    /// `true` or `false`.
    Bool,
    /// A mapping of strings to strings.
    StrMap,
}

impl SettingType {
    /// How the type is described in diagnostics and docs.
    pub fn describe(self) -> &'static str {
        match self {
            SettingType::Str => "a non-empty string",
            SettingType::Count => "an integer ≥ 0",
            SettingType::Positive => "an integer ≥ 1",
            SettingType::Number => "a number ≥ 0",
            SettingType::Bool => "`true` or `false`",
            SettingType::StrMap => "a mapping of strings to strings",
        }
    }
}

/// One key of a resource's `config`.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// The key.
    pub name: &'static str,
    /// Its type.
    pub ty: SettingType,
    /// Whether it must be given. Keys in [`one_of`] are given as not required here.
    pub required: bool,
    /// One line of documentation.
    pub doc: &'static str,
}

const fn req(name: &'static str, ty: SettingType, doc: &'static str) -> Setting {
    Setting {
        name,
        ty,
        required: true,
        doc,
    }
}

const fn opt(name: &'static str, ty: SettingType, doc: &'static str) -> Setting {
    Setting {
        name,
        ty,
        required: false,
        doc,
    }
}

const TIMEOUT_MS: Setting = opt(
    "timeout_ms",
    SettingType::Count,
    "time limit of a request, in milliseconds",
);
const TIMEOUT: Setting = opt(
    "timeout",
    SettingType::Number,
    "the same in seconds, as dataknobs-fsm spells it",
);

/// The keys of a kind's `config`, in documentation order.
pub fn settings(kind: ResourceKind) -> &'static [Setting] {
    match kind {
        ResourceKind::Sqlite => SQLITE,
        ResourceKind::Postgres => POSTGRES,
        ResourceKind::File => FILE,
        ResourceKind::Http => HTTP,
        ResourceKind::Llm => LLM,
    }
}

const SQLITE: &[Setting] = &[
    req(
        "path",
        SettingType::Str,
        "the database file, created if missing; `:memory:` for a database in memory",
    ),
    opt(
        "busy_timeout_ms",
        SettingType::Count,
        "how long a statement waits for another connection's lock",
    ),
    opt(
        "wal",
        SettingType::Bool,
        "write-ahead log (`journal_mode = WAL`, `synchronous = NORMAL`): a commit no longer waits \
         for the disk, about 14 µs instead of 1 ms per save of a record store",
    ),
];

const POSTGRES: &[Setting] = &[
    opt(
        "url",
        SettingType::Str,
        "connection string (`postgres://user@host:5432/db`)",
    ),
    opt(
        "url_env",
        SettingType::Str,
        "environment variable holding the connection string, read when the resources open",
    ),
    opt(
        "pool_size",
        SettingType::Positive,
        "connections kept open (default 1): how many workers query at once",
    ),
];

const FILE: &[Setting] = &[
    req("dir", SettingType::Str, "the directory every path is relative to"),
    opt(
        "create",
        SettingType::Bool,
        "create the directory when missing (default `false`: it must exist)",
    ),
];

const HEALTH_PATH: Setting = opt(
    "health_path",
    SettingType::Str,
    "a path under `base_url` that answers `GET` when the service is up; requested when the \
     resource opens and by its health check",
);

const HTTP: &[Setting] = &[
    req(
        "base_url",
        SettingType::Str,
        "every request's URL starts with it (`https://api.example/v1`)",
    ),
    TIMEOUT_MS,
    TIMEOUT,
    opt("headers", SettingType::StrMap, "headers sent with every request"),
    HEALTH_PATH,
    opt(
        "max_concurrency",
        SettingType::Positive,
        "machines with async functions: at most so many requests of this endpoint open at once \
         (a bulkhead shared by every run in the process)",
    ),
    opt(
        "breaker_failures",
        SettingType::Positive,
        "machines with async functions: a circuit breaker for this endpoint, open after so many \
         failed requests in a row (no connection, a timeout, 5xx, 408, 429)",
    ),
    opt(
        "breaker_reset_ms",
        SettingType::Positive,
        "how long the breaker stays open before a request tries again (default 1000)",
    ),
];

/// The `http` settings only the async handle (`AsyncHttp`) has.
pub const ASYNC_HTTP_ONLY: &[&str] = &["max_concurrency", "breaker_failures", "breaker_reset_ms"];

const LLM: &[Setting] = &[
    req(
        "base_url",
        SettingType::Str,
        "root of an OpenAI-compatible API (`http://127.0.0.1:11434/v1`)",
    ),
    req("model", SettingType::Str, "the model to ask"),
    opt(
        "api_key_env",
        SettingType::Str,
        "environment variable holding the API key (sent as a bearer token)",
    ),
    TIMEOUT_MS,
    TIMEOUT,
    opt("max_tokens", SettingType::Positive, "`max_tokens` of every request"),
    opt("temperature", SettingType::Number, "`temperature` of every request"),
    opt("system", SettingType::Str, "a system message put before every prompt"),
    HEALTH_PATH,
    opt(
        "stream",
        SettingType::Bool,
        "ask for streamed answers, with the token usage in the last event (default `true`; the \
         async client of a machine with async functions streams, the blocking one never does)",
    ),
    opt(
        "format_retries",
        SettingType::Count,
        "how many times a JSON answer that does not parse into the expected type is asked for \
         again with the parse error as feedback (default 2; `complete_json` of the async client)",
    ),
];

/// Groups of keys of which exactly one must be given.
pub fn one_of(kind: ResourceKind) -> &'static [&'static [&'static str]] {
    match kind {
        ResourceKind::Postgres => &[&["url", "url_env"]],
        ResourceKind::Http | ResourceKind::Llm => &[],
        ResourceKind::Sqlite | ResourceKind::File => &[],
    }
}

/// Groups of keys of which at most one may be given (the same setting spelled two ways).
pub fn at_most_one_of(kind: ResourceKind) -> &'static [&'static [&'static str]] {
    match kind {
        ResourceKind::Http | ResourceKind::Llm => &[&["timeout_ms", "timeout"]],
        ResourceKind::Sqlite | ResourceKind::Postgres | ResourceKind::File => &[],
    }
}

/// A setting of the resource itself, beside `config:` (dataknobs-fsm's `ResourceConfig` keys,
/// which it mostly leaves inert; here each one does what it says or is refused).
#[derive(Clone, Copy, Debug)]
pub struct Own {
    /// The key.
    pub name: &'static str,
    /// An integer (otherwise a number of seconds, integer or not).
    pub integer: bool,
    /// The smallest value accepted.
    pub min: f64,
    /// The largest value accepted.
    pub max: f64,
    /// One line of documentation.
    pub doc: &'static str,
}

impl Own {
    /// How its values are described in diagnostics: `an integer from 1 to 1000`.
    pub fn describe(&self) -> String {
        if self.integer {
            format!("an integer from {} to {}", self.min, self.max)
        } else {
            format!("a number of seconds from {} to {}", self.min, self.max)
        }
    }

    /// Whether `value` is of its type and in its range.
    pub fn fits(&self, value: &Value) -> Option<f64> {
        let n = match value {
            Value::Int(i) => *i as f64,
            Value::Float(f) if !self.integer && f.is_finite() => *f,
            _ => return None,
        };
        (self.min..=self.max).contains(&n).then_some(n)
    }

    /// Why it does not apply to resources of `kind`, or `None` when it does.
    pub fn not_for(&self, kind: ResourceKind) -> Option<&'static str> {
        match (self.name, kind) {
            ("connection_pool_size", ResourceKind::Postgres) => None,
            ("connection_pool_size", ResourceKind::Sqlite) => Some(
                "a sqlite handle keeps one connection (SQLite lets one writer in at a time, and a \
                 `:memory:` database exists on one connection): there is no pool to size",
            ),
            ("connection_pool_size", ResourceKind::File) => {
                Some("a file resource is a directory: it has no connections to pool")
            }
            ("connection_pool_size", ResourceKind::Http | ResourceKind::Llm) => Some(
                "the HTTP client keeps connections alive and opens more as parallel workers need \
                 them: there is no pool to size",
            ),
            ("timeout_seconds", ResourceKind::File) => {
                Some("file operations have no time limit to set: they wait for the disk")
            }
            _ => None,
        }
    }

    /// The keys of `config` that give the same setting to resources of `kind` (giving both is
    /// an error).
    pub fn same_as(&self, kind: ResourceKind) -> &'static [&'static str] {
        match (self.name, kind) {
            ("connection_pool_size", ResourceKind::Postgres) => &["pool_size"],
            ("timeout_seconds", ResourceKind::Sqlite) => &["busy_timeout_ms"],
            ("timeout_seconds", ResourceKind::Http | ResourceKind::Llm) => &["timeout_ms", "timeout"],
            _ => &[],
        }
    }
}

/// The settings of a resource itself, in documentation order.
pub const OWN: &[Own] = &[
    Own {
        name: "connection_pool_size",
        integer: true,
        min: 1.0,
        max: 1000.0,
        doc: "connections a postgres resource keeps open (default 1): how many workers query at once",
    },
    Own {
        name: "timeout_seconds",
        integer: false,
        min: 0.001,
        max: 86400.0,
        doc: "time limit: sqlite's busy timeout; postgres connecting, each statement and waiting for \
              a pooled connection; a whole http or llm request",
    },
    Own {
        name: "retry_attempts",
        integer: true,
        min: 0.0,
        max: 100.0,
        doc: "how many times opening the resource is tried again after a transient failure (default 0)",
    },
    Own {
        name: "retry_delay_seconds",
        integer: false,
        min: 0.001,
        max: 3600.0,
        doc: "the wait before the first retry, doubled for each further one (default 1)",
    },
    Own {
        name: "health_check_interval",
        integer: false,
        min: 0.001,
        max: 86400.0,
        doc: "seconds between health checks of the resource during a long run",
    },
];

/// The setting of the resource itself named `name`.
pub fn own(name: &str) -> Option<&'static Own> {
    OWN.iter().find(|o| o.name == name)
}
