//! The catalog of resource settings: for each kind of resource (`sqlite`, `postgres`, `file`,
//! `http`, `llm`), the keys its `config:` takes. Validation checks configs against it, lowering
//! reads them into the IR, and the generated `<Machine>Resources::open()` passes them to the
//! runtime's `*Config` builders, whose methods have the same names.

use crate::ast::ResourceKind;

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

const HTTP: &[Setting] = &[
    req(
        "base_url",
        SettingType::Str,
        "every request's URL starts with it (`https://api.example/v1`)",
    ),
    TIMEOUT_MS,
    TIMEOUT,
    opt("headers", SettingType::StrMap, "headers sent with every request"),
];

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
