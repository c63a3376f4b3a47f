//! The keys of the format, once (serde_derive's `symbol.rs`): each key is a constant, and each
//! mapping of the format ([`Place`]) has one table of its keys, in documentation order, saying how
//! the `fsm!` DSL writes each one ([`Dsl`]). The YAML mapper reads exactly these keys, the DSL
//! accepts the [`Dsl::Setting`]s and [`Dsl::Clause`]s of the tables, and a test checks that the
//! JSON Schema (derived from the [`ast`](crate::ast) types) has the same keys in each place.
//!
//! Also here: the keys of the reference framework (dataknobs-fsm) that the YAML format refuses
//! with a hint (`refused`), so that they are never accepted and ignored; and the words of the
//! fixed vocabularies (data modes, resource kinds) both front ends read.

use crate::ast::{DataMode, ResourceKind, TransactionMode};
use crate::diagnostics::{Diagnostic, codes};
use crate::span::Spanned;

macro_rules! keys {
    ($($(#[$doc:meta])* $name:ident = $key:literal;)*) => {
        $($(#[$doc])* pub const $name: &str = $key;)*
    };
}

keys! {
    /// The name of a machine, network, state, event, resource or declared function.
    NAME = "name";
    /// Documentation (a doc comment in the DSL).
    DESCRIPTION = "description";
    /// The version of a machine.
    VERSION = "version";
    /// The Rust type of the record (machine); of a state's own data (state); the function making
    /// the target state's data (arc).
    DATA = "data";
    /// How states see the record: `copy`, `direct`, `reference`.
    DATA_MODE = "data_mode";
    /// The record store of a `reference` machine.
    STORE = "store";
    /// The network a run starts in.
    MAIN_NETWORK = "main_network";
    /// The networks of a machine.
    NETWORKS = "networks";
    /// The states of a network (or of a machine of one network).
    STATES = "states";
    /// The arcs of a network (or of a machine of one network).
    ARCS = "arcs";
    /// The events of an event-driven machine.
    EVENTS = "events";
    /// The resources of a machine; the resources a state or arc uses.
    RESOURCES = "resources";
    /// Declared functions.
    FUNCTIONS = "functions";
    /// Rust attributes for the generated enums.
    ATTRIBUTES = "attributes";
    /// The end states (of `attributes`: the end-state enum).
    ENDS = "ends";
    /// The kinds of errors a machine's functions return.
    ERRORS = "errors";
    /// The kinds of errors an `on_error` entry takes.
    KINDS = "kinds";
    /// The step limit of a run.
    MAX_TRANSITIONS = "max_transitions";
    /// Warnings become errors.
    DENY_WARNINGS = "deny_warnings";
    /// Free-form data for tools.
    METADATA = "metadata";
    /// A run of the network starts here.
    IS_START = "is_start";
    /// A run of the network may end here.
    IS_END = "is_end";
    /// Checks run on entering a state.
    VALIDATE = "validate";
    /// Functions run on entering a state, or on an arc.
    TRANSFORM = "transform";
    /// Where a run goes when a function fails.
    ON_ERROR = "on_error";
    /// What undoes a state (saga compensation); `true` on an end state that compensates.
    COMPENSATE = "compensate";
    /// Entry actions of a state or superstate.
    ON_ENTRY = "on_entry";
    /// Exit actions of a state or superstate.
    ON_EXIT = "on_exit";
    /// The superstate a state belongs to.
    SUPERSTATE = "superstate";
    /// The superstates of a network (or of a machine of one network).
    SUPERSTATES = "superstates";
    /// The superstate a superstate is inside.
    PARENT = "parent";
    /// The state an arc into a superstate enters.
    INITIAL = "initial";
    /// A superstate remembers the state inside it the run was last in.
    HISTORY = "history";
    /// An arc that stays in its state without leaving it.
    INTERNAL = "internal";
    /// Run a state's functions again when they fail.
    RETRY = "retry";
    /// Time limit (of a state's functions; of a resource).
    TIMEOUT_SECONDS = "timeout_seconds";
    /// Stop calling a failing state's functions for a while.
    CIRCUIT_BREAKER = "circuit_breaker";
    /// At most so many runs of a state's functions a second.
    RATE_LIMIT = "rate_limit";
    /// At most so many runs of an async state's functions at once (a bulkhead).
    MAX_CONCURRENCY = "max_concurrency";
    /// Async functions a state runs at the same time.
    PARALLEL = "parallel";
    /// The source state of an arc.
    FROM = "from";
    /// The target state of an arc.
    TO = "to";
    /// The event that triggers an arc.
    ON = "on";
    /// The guard of an arc.
    CONDITION = "condition";
    /// The priority of an arc.
    PRIORITY = "priority";
    /// The network a push arc runs.
    TARGET_NETWORK = "target_network";
    /// Where a push arc continues.
    RETURN_STATE = "return_state";
    /// The Rust type an event carries.
    PAYLOAD = "payload";
    /// The resource of the store.
    RESOURCE = "resource";
    /// The table of the store.
    TABLE = "table";
    /// The kind of a resource.
    KIND = "kind";
    /// The settings of a resource's kind.
    CONFIG = "config";
    /// Connections a postgres resource keeps open.
    CONNECTION_POOL_SIZE = "connection_pool_size";
    /// How many times opening a resource is tried again.
    RETRY_ATTEMPTS = "retry_attempts";
    /// The wait before the first retry of opening a resource.
    RETRY_DELAY_SECONDS = "retry_delay_seconds";
    /// Seconds between health checks of a resource.
    HEALTH_CHECK_INTERVAL = "health_check_interval";
    /// When a database resource's writes commit.
    TRANSACTION = "transaction";
    /// A declared function that cannot fail.
    INFALLIBLE = "infallible";
    /// A declared function that returns the change to apply.
    ATOMIC = "atomic";
    /// A declared condition that may fail.
    FALLIBLE = "fallible";
    /// A declared transform or check whose method is async.
    ASYNC = "async";
    /// Inline Rust.
    RUST = "rust";
    /// A built-in function.
    BUILTIN = "builtin";
    /// The parameters of a built-in.
    PARAMS = "params";
    /// Runs in all of a `retry`.
    ATTEMPTS = "attempts";
    /// Seconds before the second run of a `retry`.
    DELAY_SECONDS = "delay_seconds";
    /// Longest wait of a `retry`.
    MAX_DELAY_SECONDS = "max_delay_seconds";
    /// `exponential` or `fixed`.
    BACKOFF = "backoff";
    /// Random part of each wait of a `retry`.
    JITTER = "jitter";
    /// Failures in a row that open a circuit breaker.
    FAILURES = "failures";
    /// Seconds a circuit breaker stays open.
    RESET_SECONDS = "reset_seconds";
    /// Runs a second of a `rate_limit`.
    PER_SECOND = "per_second";
    /// The largest burst of a `rate_limit`.
    BURST = "burst";
}

/// A mapping of the format: where a key may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The machine (the document).
    Machine,
    /// A network.
    Network,
    /// A state.
    State,
    /// An arc.
    Arc,
    /// An event.
    Event,
    /// The record store.
    Store,
    /// A resource.
    Resource,
    /// A function declaration (`functions:`).
    FunctionDecl,
    /// A function reference written as a mapping (`{ rust: .. }`, `{ builtin: .., params: .. }`).
    Function,
    /// A superstate.
    Superstate,
    /// A state's `retry`.
    Retry,
    /// A state's `circuit_breaker`.
    CircuitBreaker,
    /// A state's `rate_limit`.
    RateLimit,
    /// The machine's `attributes`.
    Attributes,
    /// A kind of error (`errors:`).
    ErrorDecl,
    /// An entry of a state's `on_error` list.
    ErrorArc,
}

/// How the `fsm!` DSL writes a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dsl {
    /// `key: value;` in the block of its place (or `key: value` inside a `{ .. }` value).
    Setting,
    /// A clause of an arc: `a -> b <word> ..`.
    Clause(&'static str),
    /// The grammar says it (a name after a keyword, a doc comment, `start state`, `->`): how.
    Grammar(&'static str),
}

/// One key of a place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key, as YAML writes it.
    pub name: &'static str,
    /// How the DSL writes it.
    pub dsl: Dsl,
}

const fn setting(name: &'static str) -> Key {
    Key {
        name,
        dsl: Dsl::Setting,
    }
}

const fn clause(name: &'static str, word: &'static str) -> Key {
    Key {
        name,
        dsl: Dsl::Clause(word),
    }
}

const fn grammar(name: &'static str, how: &'static str) -> Key {
    Key {
        name,
        dsl: Dsl::Grammar(how),
    }
}

const DOC: &str = "a doc comment (`/// ..`)";

/// The keys of each place, in documentation order (the order of help texts).
pub fn keys(place: Place) -> &'static [Key] {
    match place {
        Place::Machine => MACHINE,
        Place::Network => NETWORK,
        Place::State => STATE,
        Place::Arc => ARC,
        Place::Event => EVENT,
        Place::Store => STORE_KEYS,
        Place::Resource => RESOURCE_KEYS,
        Place::FunctionDecl => FUNCTION_DECL,
        Place::Function => FUNCTION,
        Place::Superstate => SUPERSTATE_KEYS,
        Place::Retry => RETRY_KEYS,
        Place::CircuitBreaker => CIRCUIT_BREAKER_KEYS,
        Place::RateLimit => RATE_LIMIT_KEYS,
        Place::Attributes => ATTRIBUTES_KEYS,
        Place::ErrorDecl => ERROR_DECL,
        Place::ErrorArc => ERROR_ARC,
    }
}

/// Every place, for tests and documentation.
pub const PLACES: &[Place] = &[
    Place::Machine,
    Place::Network,
    Place::State,
    Place::Arc,
    Place::Event,
    Place::Store,
    Place::Resource,
    Place::FunctionDecl,
    Place::Function,
    Place::Superstate,
    Place::Retry,
    Place::CircuitBreaker,
    Place::RateLimit,
    Place::Attributes,
    Place::ErrorDecl,
    Place::ErrorArc,
];

/// The names of the keys of `place`.
pub fn names(place: Place) -> impl Iterator<Item = &'static str> + Clone {
    keys(place).iter().map(|k| k.name)
}

/// The names of the keys of `place` that the DSL writes as `key: value;`.
pub fn dsl_settings(place: Place) -> Vec<&'static str> {
    keys(place)
        .iter()
        .filter(|k| k.dsl == Dsl::Setting)
        .map(|k| k.name)
        .collect()
}

/// The key of `place` a DSL clause word stands for.
pub fn dsl_clause(place: Place, word: &str) -> Option<&'static str> {
    keys(place)
        .iter()
        .find(|k| matches!(k.dsl, Dsl::Clause(w) if w == word))
        .map(|k| k.name)
}

/// The clause words of `place`, in table order.
pub fn dsl_clauses(place: Place) -> Vec<&'static str> {
    keys(place)
        .iter()
        .filter_map(|k| match k.dsl {
            Dsl::Clause(word) => Some(word),
            _ => None,
        })
        .collect()
}

const MACHINE: &[Key] = &[
    grammar(NAME, "`machine Name { .. }`"),
    setting(VERSION),
    grammar(DESCRIPTION, DOC),
    setting(DATA),
    setting(DATA_MODE),
    setting(STORE),
    setting(MAIN_NETWORK),
    grammar(NETWORKS, "`network name { .. }` blocks"),
    grammar(STATES, "states written in the machine block"),
    grammar(ARCS, "arcs written in the machine block"),
    grammar(SUPERSTATES, "`superstate name { .. }` blocks in the machine block"),
    grammar(EVENTS, "an `events { .. }` block"),
    grammar(RESOURCES, "a `resources { .. }` block"),
    grammar(FUNCTIONS, "a `functions { .. }` block"),
    grammar(ATTRIBUTES, "an `attributes { .. }` block"),
    grammar(ERRORS, "an `errors { .. }` block"),
    setting(MAX_TRANSITIONS),
    setting(DENY_WARNINGS),
    setting(METADATA),
];

const NETWORK: &[Key] = &[
    grammar(NAME, "`network name { .. }`"),
    grammar(DESCRIPTION, DOC),
    grammar(STATES, "states written in the network block"),
    grammar(ARCS, "arcs written in the network block"),
    grammar(SUPERSTATES, "`superstate name { .. }` blocks in the network block"),
];

const STATE: &[Key] = &[
    grammar(NAME, "`state name`"),
    grammar(DESCRIPTION, DOC),
    grammar(IS_START, "`start state name`"),
    grammar(IS_END, "`end state name`"),
    setting(VALIDATE),
    setting(PARALLEL),
    setting(TRANSFORM),
    setting(ON_ENTRY),
    setting(ON_EXIT),
    setting(SUPERSTATE),
    setting(ON_ERROR),
    setting(COMPENSATE),
    setting(DATA_MODE),
    grammar(DATA, "`state name(Type)`"),
    setting(RETRY),
    setting(TIMEOUT_SECONDS),
    setting(CIRCUIT_BREAKER),
    setting(RATE_LIMIT),
    setting(MAX_CONCURRENCY),
    setting(RESOURCES),
    setting(METADATA),
];

const ARC: &[Key] = &[
    grammar(FROM, "`from -> to`"),
    grammar(TO, "`from -> to`"),
    grammar(DESCRIPTION, DOC),
    clause(ON, "on"),
    clause(CONDITION, "if"),
    clause(PRIORITY, "priority"),
    clause(TRANSFORM, "do"),
    clause(DATA, "with"),
    grammar(TARGET_NETWORK, "`from -> push network`"),
    grammar(RETURN_STATE, "`from -> push network return state`"),
    clause(RESOURCES, "using"),
    grammar(
        INTERNAL,
        "the word `internal` among the clauses (`a -> a on E internal do f;`)",
    ),
];

const SUPERSTATE_KEYS: &[Key] = &[
    grammar(NAME, "`superstate name { .. }`"),
    grammar(DESCRIPTION, DOC),
    setting(PARENT),
    setting(INITIAL),
    setting(HISTORY),
    setting(ON_ENTRY),
    setting(ON_EXIT),
];

const EVENT: &[Key] = &[
    grammar(NAME, "the event's name in `events { .. }`"),
    grammar(PAYLOAD, "`Name(Type)`"),
    grammar(DESCRIPTION, DOC),
];

const STORE_KEYS: &[Key] = &[
    grammar(RESOURCE, "`store: resource.table;`"),
    grammar(TABLE, "`store: resource.table;`"),
];

const RESOURCE_KEYS: &[Key] = &[
    grammar(NAME, "`name: kind { .. }` in `resources { .. }`"),
    grammar(KIND, "`name: kind { .. }` in `resources { .. }`"),
    grammar(CONFIG, "the settings in the braces after the kind"),
    grammar(DESCRIPTION, DOC),
    // dataknobs-fsm's settings of a resource, made real: see `crate::resources::OWN`. The DSL
    // writes them in the braces with the config.
    setting(CONNECTION_POOL_SIZE),
    setting(TIMEOUT_SECONDS),
    setting(RETRY_ATTEMPTS),
    setting(RETRY_DELAY_SECONDS),
    setting(HEALTH_CHECK_INTERVAL),
    setting(TRANSACTION),
];

const FUNCTION_DECL: &[Key] = &[
    grammar(NAME, "the function's name in `functions { .. }`"),
    grammar(DESCRIPTION, DOC),
    grammar(INFALLIBLE, "`name: infallible`"),
    grammar(ATOMIC, "`name: atomic`"),
    grammar(FALLIBLE, "`name: fallible`"),
    grammar(ASYNC, "`name: async`"),
];

const FUNCTION: &[Key] = &[
    grammar(RUST, "`rust!(..)`"),
    grammar(BUILTIN, "`builtin!(name, { .. })`"),
    grammar(PARAMS, "`builtin!(name, { .. })`"),
];

const RETRY_KEYS: &[Key] = &[
    setting(ATTEMPTS),
    setting(DELAY_SECONDS),
    setting(MAX_DELAY_SECONDS),
    setting(BACKOFF),
    setting(JITTER),
    setting(ON),
];

const ERROR_DECL: &[Key] = &[
    grammar(NAME, "the kind's name in `errors { .. }`"),
    grammar(DESCRIPTION, DOC),
];

const ERROR_ARC: &[Key] = &[
    grammar(KINDS, "`[kind, kind] -> state` in `on_error: ..;`"),
    grammar(TO, "`[kind, kind] -> state`, or `state` alone for every error"),
];

const CIRCUIT_BREAKER_KEYS: &[Key] = &[setting(FAILURES), setting(RESET_SECONDS)];

const RATE_LIMIT_KEYS: &[Key] = &[setting(PER_SECOND), setting(BURST)];

// `states: #[derive(Hash)] #[repr(u8)];` in the DSL's `attributes { .. }` block.
const ATTRIBUTES_KEYS: &[Key] = &[setting(STATES), setting(EVENTS), setting(ENDS)];

/// The data modes, as both front ends read them.
pub const DATA_MODES: &[(&str, DataMode)] = &[
    ("copy", DataMode::Copy),
    ("direct", DataMode::Direct),
    ("reference", DataMode::Reference),
];

/// The kinds of resources, as both front ends read them.
pub const RESOURCE_KINDS: &[(&str, ResourceKind)] = &[
    ("sqlite", ResourceKind::Sqlite),
    ("postgres", ResourceKind::Postgres),
    ("file", ResourceKind::File),
    ("http", ResourceKind::Http),
    ("llm", ResourceKind::Llm),
];

/// The transaction modes of a database resource, as validation reads them.
pub const TRANSACTION_MODES: &[(&str, TransactionMode)] = &[
    ("per_record", TransactionMode::PerRecord),
    ("per_chunk", TransactionMode::PerChunk),
    ("manual", TransactionMode::Manual),
];

/// The value a word of a vocabulary stands for.
pub fn word<T: Copy>(vocabulary: &[(&str, T)], word: &str) -> Option<T> {
    vocabulary.iter().find(|(w, _)| *w == word).map(|(_, v)| *v)
}

/// The words of a vocabulary, in order.
pub fn words<T>(vocabulary: &[(&'static str, T)]) -> Vec<&'static str> {
    vocabulary.iter().map(|(w, _)| *w).collect()
}

/// A positive integer (`max_transitions`), or the diagnostic both front ends give for zero or a
/// negative number.
pub fn positive(i: Spanned<i64>) -> Result<Spanned<u64>, Diagnostic> {
    match u64::try_from(i.value) {
        Ok(u) if u > 0 => Ok(Spanned::new(u, i.span)),
        _ => Err(Diagnostic::error(
            codes::INVALID_VALUE,
            "expected a positive integer",
            i.span,
            "not positive",
        )
        .with_help("give a number of 1 or more")),
    }
}

/// The boolean a word stands for: `true` or `false`, nothing else (YAML 1.2, and Rust).
pub fn boolean(word: &str) -> Option<bool> {
    match word {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Words users write for a key of `place` under another name (statecharts' `entry`, smlang's
/// guards): the key they mean, which a did-you-mean by spelling would miss.
const ALIASES: &[(Place, &str, &str)] = &[
    (Place::State, "entry", ON_ENTRY),
    (Place::State, "enter", ON_ENTRY),
    (Place::State, "on_enter", ON_ENTRY),
    (Place::State, "entry_action", ON_ENTRY),
    (Place::State, "exit", ON_EXIT),
    (Place::State, "leave", ON_EXIT),
    (Place::State, "on_leave", ON_EXIT),
    (Place::State, "exit_action", ON_EXIT),
    (Place::State, "parent", SUPERSTATE),
    (Place::Superstate, "entry", ON_ENTRY),
    (Place::Superstate, "enter", ON_ENTRY),
    (Place::Superstate, "on_enter", ON_ENTRY),
    (Place::Superstate, "exit", ON_EXIT),
    (Place::Superstate, "leave", ON_EXIT),
    (Place::Superstate, "on_leave", ON_EXIT),
    (Place::Superstate, "superstate", PARENT),
    (Place::Arc, "guard", CONDITION),
    (Place::Arc, "guards", CONDITION),
    (Place::Arc, "conditions", CONDITION),
    (Place::Arc, "event", ON),
    (Place::Arc, "action", TRANSFORM),
    (Place::Arc, "actions", TRANSFORM),
];

/// The key of `place` an unknown `key` most likely means: an alias (`entry` for `on_entry`), else the
/// nearest spelling among `known`.
pub fn meant<'k>(place: Place, key: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    ALIASES
        .iter()
        .find(|(p, alias, _)| *p == place && *alias == key)
        .map(|(_, _, k)| *k)
        .or_else(|| crate::diagnostics::did_you_mean(key, known))
}

/// Keys of the reference framework that this format refuses, with what to write instead.
pub(crate) mod refused {
    pub const MACHINE: &[(&str, &str)] = &[
        (
            "execution_strategy",
            "generated machines run depth first; for parallel record processing use the streaming runtime's `parallelism`",
        ),
        (
            "timeout_seconds",
            "put `timeout_seconds` on the states whose functions must finish in time",
        ),
        (
            "transaction",
            "declare `transaction: per_record`, `per_chunk` or `manual` on a database resource; \
             `data_mode: copy` keeps a failed state's record as it entered",
        ),
        ("initial_state", "mark the first state with `is_start: true`"),
        (
            "templates",
            "write the machine out; YAML anchors (`&name`, `*name`, `<<:`) share repeated parts",
        ),
        ("execution", "configure execution through the runtime's `RunOptions`"),
        ("streaming", "configure streaming through the runtime's stream options"),
    ];
    pub const NETWORK: &[(&str, &str)] = &[
        ("resources", "list resources on the states and arcs that use them"),
        ("streaming", "configure streaming through the runtime's stream options"),
        ("metadata", "use `description` to document a network"),
    ];
    pub const STATE: &[(&str, &str)] = &[
        ("functions", "write `transform:` and `validate:` directly on the state"),
        ("transforms", "write `transform:` (one function or a list)"),
        ("validators", "write `validate:` (one function or a list)"),
        ("validator", "write `validate:` (one function or a list)"),
        (
            "pre_validators",
            "use `validate:`: its checks run on entry, before the transforms, and a failing check fails the state",
        ),
        (
            "schema",
            "check records with `validate:` (the built-ins `required_fields` and `field_range`, or a function)",
        ),
        (
            "data_schema",
            "check records with `validate:` (the built-ins `required_fields` and `field_range`, or a function)",
        ),
        (
            "arcs",
            "declare arcs in the network's `arcs` list, with `from:` naming this state",
        ),
        (
            "emit_output",
            "route records to end states and give each end state its own sink in the runtime",
        ),
        (
            "run_on_failure",
            "send failures to a state with `on_error:`; its transforms run with the error",
        ),
        ("type", "mark the state with `is_start: true` or `is_end: true`"),
        ("function", "write `transform:` (one function or a list)"),
    ];
    pub const SUPERSTATE: &[(&str, &str)] = &[("states", "put `superstate: <name>` on each state of the superstate")];
    pub const ARC: &[(&str, &str)] = &[
        ("target", "write `to:` for the target state"),
        ("pre_test", "write `condition:`"),
        ("name", "use `description` to document an arc"),
        ("metadata", "use `description` to document an arc"),
        (
            "data_mapping",
            "push arcs hand the whole record to the pushed network; map fields with a `transform` on the arc",
        ),
        (
            "result_mapping",
            "the pushed network returns the whole record; map fields with a `transform` of the return state",
        ),
        ("data_isolation", "push arcs share the machine's `data_mode`"),
    ];
    /// The reference framework's function registry entries (`functions: {f: {type, code}}`).
    pub const FUNCTION_DECL: &[(&str, &str)] = &[
        (
            "type",
            "a declared function is a method of the generated trait, implemented in Rust; inline code goes where the function is used, as `{ rust: \"...\" }`",
        ),
        (
            "code",
            "write inline Rust where the function is used, as `{ rust: \"...\" }`, or implement the trait method",
        ),
        (
            "module",
            "implement the trait method in Rust; there is nothing to import",
        ),
    ];
    pub const RESOURCE: &[(&str, &str)] = &[("type", "write `kind:` (sqlite, postgres, file, http or llm)")];
    pub const FUNCTION: &[(&str, &str)] = &[
        (
            "type",
            "write a function name, `{ rust: \"<expression>\" }` or `{ builtin: <name>, params: {...} }`",
        ),
        ("code", "inline code is Rust: write `{ rust: \"<expression>\" }`"),
        (
            "name",
            "write the function name alone, or `{ builtin: <name> }` for a built-in",
        ),
        (
            "module",
            "functions are methods of the generated trait: write the function name",
        ),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Source;
    #[cfg(feature = "schema")]
    use std::collections::BTreeSet;

    /// The `properties` of the schema object of `place`.
    #[cfg(feature = "schema")]
    fn schema_keys(schema: &serde_json::Value, place: Place) -> BTreeSet<String> {
        let def = |name: &str| &schema["$defs"][name];
        let props = |v: &serde_json::Value| -> Vec<String> {
            v["properties"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let keys = match place {
            Place::Machine => props(schema),
            Place::Network => props(def("Network")),
            Place::State => props(def("State")),
            Place::Arc => props(def("Arc")),
            Place::Event => props(def("Event")),
            Place::Store => props(def("Store")),
            Place::Resource => props(def("Resource")),
            Place::FunctionDecl => props(def("FunctionDecl")),
            Place::Superstate => props(def("Superstate")),
            Place::Function => def("FunctionRef")["oneOf"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(props)
                .collect(),
            Place::Retry => props(def("Retry")),
            Place::CircuitBreaker => props(def("CircuitBreaker")),
            Place::RateLimit => props(def("RateLimit")),
            Place::Attributes => props(def("Attributes")),
            Place::ErrorDecl => props(def("ErrorDecl")),
            Place::ErrorArc => props(def("ErrorArc")),
        };
        keys.into_iter().collect()
    }

    #[test]
    #[cfg(feature = "schema")]
    fn the_schema_has_the_keys_of_the_table() {
        let schema = crate::schema::schema();
        for &place in PLACES {
            let table: BTreeSet<String> = names(place).map(str::to_owned).collect();
            assert_eq!(schema_keys(&schema, place), table, "{place:?}");
        }
    }

    #[test]
    fn the_settings_of_a_resource_are_those_of_the_catalog() {
        let mut own: Vec<&str> = crate::resources::OWN.iter().map(|o| o.name).collect();
        own.push(TRANSACTION);
        assert_eq!(dsl_settings(Place::Resource), own);
    }

    /// The AST's debug text without its spans (and numbers): what a key changed.
    fn shape(machine: &Option<crate::ast::Machine>) -> String {
        format!("{machine:?}").chars().filter(|c| !c.is_ascii_digit()).collect()
    }

    /// A YAML machine with `extra` in the mapping of `place`, and the keys the template already
    /// has (required ones) or that exclude each other.
    fn yaml_template(place: Place) -> Option<(&'static str, &'static [&'static str])> {
        Some(match place {
            Place::Machine => ("name: M\nstates: [{name: a}]\nEXTRA\n", &[NAME, STATES]),
            Place::Network => (
                "name: M\nmain_network: n\nnetworks:\n  - {name: n, states: [{name: x}]EXTRA}\n",
                &[NAME, STATES],
            ),
            Place::State => ("name: M\nstates:\n  - {name: a EXTRA}\n", &[NAME]),
            Place::Arc => ("name: M\nstates: [{name: a}]\narcs:\n  - {from: a EXTRA}\n", &[FROM]),
            Place::Event => ("name: M\nstates: [{name: a}]\nevents:\n  - {name: e EXTRA}\n", &[NAME]),
            Place::Store => return None, // Both keys are required: a missing one is reported.
            Place::Resource => (
                "name: M\nstates: [{name: a}]\nresources:\n  - {name: db, kind: sqlite EXTRA}\n",
                &[NAME, KIND],
            ),
            Place::FunctionDecl => (
                "name: M\nstates: [{name: a}]\nfunctions:\n  - {name: f EXTRA}\n",
                &[NAME],
            ),
            Place::Function => (
                "name: M\nstates:\n  - {name: a, transform: {builtin: b EXTRA}}\n",
                &[BUILTIN, RUST],
            ),
            Place::Superstate => (
                "name: M\nstates: [{name: a}]\nsuperstates:\n  - {name: s EXTRA}\n",
                &[NAME],
            ),
            Place::Attributes => (
                "name: M\nstates: [{name: a}]\nattributes: {states: [] EXTRA}\n",
                &[STATES],
            ),
            // Values that validation reads (see `validate::resilience`).
            Place::Retry | Place::CircuitBreaker | Place::RateLimit => return None,
            Place::ErrorDecl => ("name: M\nstates: [{name: a}]\nerrors:\n  - {name: k EXTRA}\n", &[NAME]),
            Place::ErrorArc => ("name: M\nstates:\n  - {name: a, on_error: [{to: a EXTRA}]}\n", &[TO]),
        })
    }

    /// A value of the right type for `key` in `place`, in YAML flow style.
    fn yaml_sample(place: Place, key: &str) -> &'static str {
        match (place, key) {
            (Place::Machine, ATTRIBUTES) => "{states: [\"#[derive(Hash)]\"]}",
            (Place::Attributes, _) => "[\"#[derive(Hash)]\"]",
            (Place::Machine, RESOURCES) => "[{name: db, kind: sqlite}]",
            (_, RESOURCES) => "[db]",
            (Place::Machine, NETWORKS) => "[{name: n, states: [{name: x}]}]",
            (Place::Machine, ARCS) | (Place::Network, ARCS) => "[{from: a, to: a}]",
            (_, STORE) => "{resource: db, table: t}",
            (_, EVENTS) => "[e]",
            (_, FUNCTIONS) => "[{name: f}]",
            (_, ERRORS) => "[k]",
            (_, KINDS) => "[k]",
            (_, DATA_MODE) => "direct",
            (_, DATA) | (_, PAYLOAD) => "u32",
            (_, RETRY) => "{attempts: 2}",
            (_, CIRCUIT_BREAKER) => "{failures: 2}",
            (_, RATE_LIMIT) => "{per_second: 2}",
            (_, CONFIG) | (_, METADATA) | (_, PARAMS) => "{a: b}",
            (_, IS_START | IS_END | DENY_WARNINGS | INFALLIBLE | ATOMIC | FALLIBLE | ASYNC | INTERNAL | HISTORY) => {
                "true"
            }
            (Place::Machine | Place::Network, SUPERSTATES) => "[{name: s}]",
            (
                _,
                MAX_TRANSITIONS | PRIORITY | TIMEOUT_SECONDS | CONNECTION_POOL_SIZE | RETRY_ATTEMPTS | MAX_CONCURRENCY,
            ) => "2",
            (_, RETRY_DELAY_SECONDS | HEALTH_CHECK_INTERVAL) => "2",
            _ => "x",
        }
    }

    /// Every key of the table is read by the YAML mapper: writing it changes the machine read.
    #[test]
    fn the_yaml_mapper_reads_every_key_of_the_table() {
        for &place in PLACES {
            let Some((template, given)) = yaml_template(place) else {
                continue;
            };
            let sep = if place == Place::Machine { "" } else { ", " };
            let read = |extra: &str| {
                let text = template.replace(if extra.is_empty() { " EXTRA" } else { "EXTRA" }, extra);
                let text = text.replace("EXTRA", extra);
                let (machine, diagnostics) = crate::syntax::yaml::parse(&Source::new("m.yaml", text.clone()));
                let unknown = diagnostics.iter().any(|d| d.message.starts_with("unknown key"));
                assert!(!unknown, "{text}: {diagnostics:?}");
                shape(&machine)
            };
            let without = read("");
            for key in names(place).filter(|k| !given.contains(k)) {
                let sample = yaml_sample(place, key);
                let extra = if place == Place::Machine {
                    format!("{key}: {sample}")
                } else {
                    format!("{sep}{key}: {sample}")
                };
                assert_ne!(read(&extra), without, "{place:?}: `{key}` is accepted but not read");
            }
        }
    }

    /// A DSL machine with `extra` where the settings of `place` go.
    fn dsl_template(place: Place) -> Option<&'static str> {
        Some(match place {
            Place::Machine => "machine M { start state a; end state b; a -> b; EXTRA }",
            Place::State => "machine M { start state a { EXTRA } end state b; a -> b; }",
            Place::Arc => "machine M { start state a; end state b; a -> b EXTRA; }",
            Place::Resource => {
                "machine M { resources { db: sqlite { path: \"x\" EXTRA } } start state a; end state b; a -> b; }"
            }
            Place::Superstate => "machine M { superstate s { EXTRA } start state a; end state b; a -> b; }",
            Place::Attributes => "machine M { attributes { EXTRA } start state a; end state b; a -> b; }",
            _ => return None,
        })
    }

    fn dsl_sample(key: &str) -> &'static str {
        match key {
            VERSION => "\"1\"",
            DATA => "u32",
            DATA_MODE => "direct",
            STORE => "db.t",
            MAX_TRANSITIONS | PRIORITY | TIMEOUT_SECONDS | CONNECTION_POOL_SIZE | RETRY_ATTEMPTS | MAX_CONCURRENCY => {
                "2"
            }
            RETRY_DELAY_SECONDS | HEALTH_CHECK_INTERVAL => "2",
            TRANSACTION => "per_record",
            DENY_WARNINGS | HISTORY => "true",
            METADATA => "{ a: 1 }",
            RETRY => "{ attempts: 2 }",
            CIRCUIT_BREAKER => "{ failures: 2 }",
            RATE_LIMIT => "{ per_second: 2 }",
            ON_ERROR | MAIN_NETWORK | ON | INITIAL => "b",
            SUPERSTATE | PARENT => "s",
            STATES | EVENTS | ENDS => "#[derive(Hash)]",
            _ => "f",
        }
    }

    /// Every setting and clause of the table is read by the DSL parser.
    #[test]
    fn the_dsl_reads_every_setting_and_clause_of_the_table() {
        for &place in PLACES {
            let Some(template) = dsl_template(place) else {
                assert!(
                    keys(place).iter().all(|k| !matches!(k.dsl, Dsl::Clause(_)))
                        && (dsl_settings(place).is_empty()
                            || matches!(place, Place::Retry | Place::CircuitBreaker | Place::RateLimit)),
                    "{place:?} has DSL settings the test does not try"
                );
                continue;
            };
            let read = |extra: &str| {
                let text = template.replace("EXTRA", extra);
                let parsed = super::super::dsl::parse(text.parse().expect("tokens"));
                assert!(parsed.syntax_errors.is_empty(), "{text}: {:?}", parsed.syntax_errors);
                assert!(parsed.diagnostics.is_empty(), "{text}: {:?}", parsed.diagnostics);
                shape(&parsed.machine)
            };
            let without = read("");
            for key in keys(place) {
                let extra = match (place, key.dsl) {
                    (Place::Resource, Dsl::Setting) => format!(", {}: {}", key.name, dsl_sample(key.name)),
                    (_, Dsl::Setting) => format!("{}: {};", key.name, dsl_sample(key.name)),
                    (_, Dsl::Clause(word)) => format!("{word} {}", dsl_sample(key.name)),
                    (_, Dsl::Grammar(_)) => continue,
                };
                assert_ne!(
                    read(&extra),
                    without,
                    "{place:?}: `{}` is accepted but not read",
                    key.name
                );
            }
        }
    }

    /// The scalar readers are shared: the same value gets the same diagnostic in both front ends.
    #[test]
    fn both_front_ends_read_scalars_alike() {
        let yaml = |v: &str| {
            let text = format!("name: M\nmax_transitions: {v}\nstates: [{{name: a, is_start: true, is_end: true}}]\n");
            let (_, d) = crate::syntax::yaml::parse(&Source::new("m.yaml", text));
            d.iter().map(|d| (d.code, d.message.clone())).collect::<Vec<_>>()
        };
        let dsl = |v: &str| {
            let text = format!("machine M {{ max_transitions: {v}; start end state a; }}");
            let parsed = super::super::dsl::parse(text.parse().expect("tokens"));
            parsed
                .diagnostics
                .iter()
                .map(|d| (d.code, d.message.clone()))
                .collect::<Vec<_>>()
        };
        let refused = vec![(codes::INVALID_VALUE, "expected a positive integer".to_owned())];
        for v in ["0", "-1"] {
            assert_eq!(yaml(v), refused, "yaml {v}");
            assert_eq!(dsl(v), refused, "dsl {v}");
        }
        assert_eq!(yaml("7"), []);
        assert_eq!(dsl("7"), []);
        for (w, mode) in DATA_MODES {
            assert_eq!(word(DATA_MODES, w), Some(*mode));
        }
    }
}
