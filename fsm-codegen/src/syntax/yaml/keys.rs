//! The keys of each mapping of the format, and the keys of the reference framework (dataknobs-fsm)
//! that it refuses with a hint, so that they are never accepted and ignored.

/// Keys of each mapping of the format.
pub(super) mod known {
    pub const MACHINE: &[&str] = &[
        "name",
        "version",
        "description",
        "data",
        "data_mode",
        "store",
        "main_network",
        "networks",
        "states",
        "arcs",
        "events",
        "resources",
        "functions",
        "max_transitions",
        "deny_warnings",
        "metadata",
    ];
    pub const NETWORK: &[&str] = &["name", "description", "states", "arcs"];
    pub const STATE: &[&str] = &[
        "name",
        "description",
        "is_start",
        "is_end",
        "validate",
        "transform",
        "on_error",
        "data_mode",
        "retry",
        "timeout_seconds",
        "circuit_breaker",
        "rate_limit",
        "resources",
        "metadata",
    ];
    pub const ARC: &[&str] = &[
        "from",
        "to",
        "description",
        "on",
        "condition",
        "transform",
        "priority",
        "target_network",
        "return_state",
        "resources",
    ];
    pub const EVENT: &[&str] = &["name", "payload", "description"];
    pub const STORE: &[&str] = &["resource", "table"];
    pub const RESOURCE: &[&str] = &[
        "name",
        "kind",
        "config",
        "description",
        // dataknobs-fsm's settings of a resource, made real: see `crate::resources::OWN`.
        "connection_pool_size",
        "timeout_seconds",
        "retry_attempts",
        "retry_delay_seconds",
        "health_check_interval",
    ];
    pub const FUNCTION_DECL: &[&str] = &["name", "description", "infallible", "atomic"];
    pub const FUNCTION: &[&str] = &["rust", "builtin", "params"];
}

/// Keys of the reference framework that this format refuses, with what to write instead.
pub(super) mod refused {
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
            "use `data_mode: copy`: a failed state leaves the record as it entered",
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
