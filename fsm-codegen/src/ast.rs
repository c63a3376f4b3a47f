//! The spanned abstract syntax tree of a machine, produced by both front ends (YAML and the `fsm!`
//! DSL) and consumed by `validate` and `lower`.
//!
//! The AST is exactly what the user wrote, names unresolved, with a [`Span`] on every node so any
//! later stage can point at it. It also defines the YAML format: the JSON Schema printed by
//! `fsm schema` is derived from these types (doc comments become the schema's descriptions), so a
//! key added here must be added to the YAML reader too, and the committed schema regenerated.
//!
//! Shorthands of the YAML format are normalised by the reader: a single function reference where a
//! list is accepted becomes a one-element list; a machine without `networks` becomes one network
//! named `main` (see [`Machine::implicit_network`]).

use crate::span::{Span, Spanned};
#[cfg(feature = "schema")]
use schemars::JsonSchema;

/// A state machine: one or more networks of states joined by arcs.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields, title = "fsm machine", transform = crate::schema::machine_shorthands))]
pub struct Machine {
    /// Name of the machine; becomes the prefix of every generated type (`OrderState`, `OrderFns`).
    pub name: Spanned<String>,
    /// Free-form version of the machine definition (metadata only).
    pub version: Option<Spanned<String>>,
    /// Documentation; becomes the doc comment of the generated machine type.
    pub description: Option<Spanned<String>>,
    /// Rust type path of the record that flows through the machine, e.g. `crate::Record`.
    /// Omitted: the machine carries no data (`()`).
    pub data: Option<Spanned<String>>,
    /// How state functions see the record: `copy` (default; a failed state leaves the record as it
    /// entered), `direct` (in place) or `reference` (records stay in a store under a key, saved with
    /// optimistic locking).
    pub data_mode: Option<Spanned<DataMode>>,
    /// Where the records of a `reference` machine live: a table of a `sqlite` or `postgres`
    /// resource. The generated machine gets `open_store()`.
    pub store: Option<Store>,
    /// The network a run starts in. May be omitted when there is exactly one network.
    pub main_network: Option<Spanned<String>>,
    /// The networks. Omitted: give `states` and `arcs` at the top level for a single network.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub networks: Vec<Network>,
    /// Events that drive the machine (`on:` of an arc), each with an optional payload type.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub events: Vec<Event>,
    /// Resources (databases, files, HTTP, LLM endpoints) that state functions receive typed handles to.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub resources: Vec<Resource>,
    /// Declarations of named functions: their documentation, and which cannot fail. A function
    /// need not be declared to be used.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub functions: Vec<FunctionDecl>,
    /// Rust attributes for the generated enums (`#[derive(..)]`, `#[repr(u8)]`, serde's), as
    /// written: `{ states: ["#[derive(serde::Serialize)]"], events: [..], ends: [..] }`.
    pub attributes: Option<Attributes>,
    /// The kinds of errors the machine's functions return (`[unavailable, declined]`, or with a
    /// `description` each): the generated `<Machine>ErrorKind` enum, chosen between by a state's
    /// `on_error` entries (`kinds:`) and `retry: { on: [..] }`, beside the kinds the runtime
    /// reports (`timeout`, `circuit_open`, `rate_limited`, `store_conflict`, `step_limit`).
    #[cfg_attr(feature = "schema", schemars(default))]
    pub errors: Vec<ErrorDecl>,
    /// Maximum number of transitions of one run before it stops with an error (default 1000).
    pub max_transitions: Option<Spanned<u64>>,
    /// Treat warnings (unreachable states, states that cannot reach an end) as errors.
    pub deny_warnings: Option<Spanned<bool>>,
    /// Free-form metadata, ignored by the compiler.
    pub metadata: Option<Spanned<Value>>,
    /// True when the machine gave `states`/`arcs` at the top level instead of `networks`.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub implicit_network: bool,
    /// The whole machine (the document's top-level mapping, or the macro input).
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

/// How state functions see the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename_all = "snake_case"))]
pub enum DataMode {
    /// Each state's functions work on a copy, committed only when all of them succeed.
    Copy,
    /// Functions work on the record in place.
    Direct,
    /// Records stay in a store and are loaded lazily, with optimistic locking.
    Reference,
}

impl DataMode {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DataMode::Copy => "copy",
            DataMode::Direct => "direct",
            DataMode::Reference => "reference",
        }
    }
}

/// A network: a graph of states with exactly one start state.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Network {
    /// Name, unique in the machine.
    pub name: Spanned<String>,
    /// Documentation; becomes the doc comment of the network's state enum.
    pub description: Option<Spanned<String>>,
    /// The states, in declaration order.
    pub states: Vec<State>,
    /// The arcs between states of this network, in declaration order.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub arcs: Vec<Arc>,
    /// Superstates: groups of states (a state joins one with `superstate:`) whose arcs every
    /// state of the group has, after its own, and whose entry and exit actions run when a run
    /// comes into or leaves the group.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub superstates: Vec<Superstate>,
    /// The whole network node.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

/// A state.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct State {
    /// Name, unique in its network; becomes a variant of the state enum.
    pub name: Spanned<String>,
    /// Documentation; becomes the doc comment of the variant.
    pub description: Option<Spanned<String>>,
    /// The state a run of this network starts in (exactly one per network).
    pub is_start: Option<Spanned<bool>>,
    /// A run ends when it reaches an end state; end states have no outgoing arcs.
    pub is_end: Option<Spanned<bool>>,
    /// Checks run on entering the state, before its transforms; a failing check fails the state.
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<FunctionRef>"))]
    pub validate: Vec<FunctionRef>,
    /// Async functions run at the same time on entering the state, after its checks and before
    /// its transforms (`parallel: [fetch_orders, fetch_credit]`): each reads the record and returns
    /// the change to make to it; once every one has succeeded the changes are applied in list
    /// order. The first failure cancels the others and fails the state. Each must be declared
    /// `async: true` and used nowhere else.
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<String>>"))]
    pub parallel: Option<Spanned<Vec<FunctionRef>>>,
    /// Functions that change the record on entering the state, in order.
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<FunctionRef>"))]
    pub transform: Vec<FunctionRef>,
    /// Entry actions: functions run when a run enters the state, after its checks and transforms
    /// (and after the entry actions of the superstates it comes into).
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<FunctionRef>"))]
    pub on_entry: Vec<FunctionRef>,
    /// Exit actions: functions run when a run leaves the state by one of its arcs (not an
    /// `internal` one, not a push arc, not `on_error`), before the arc's transforms.
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<FunctionRef>"))]
    pub on_exit: Vec<FunctionRef>,
    /// The superstate the state belongs to (one of the network's `superstates`).
    pub superstate: Option<Spanned<String>>,
    /// Where a run goes when a check or transform of this state (or of one of its arcs) fails; the
    /// error is available there. A state (every error), or a list of entries tried in order,
    /// `[{ kinds: [timeout, unavailable], to: wait }, { to: failed }]`: the first whose `kinds`
    /// include the error's kind, or that has no `kinds`. An error no entry takes stops the run.
    // The readers make the one-state form one entry without kinds.
    #[cfg_attr(feature = "schema", schemars(default, with = "Option<OnErrorSchema>"))]
    pub on_error: Vec<ErrorArc>,
    /// Saga compensation. On a state: the function that undoes what the state did
    /// (`compensate: release_seat`), run when a run that completed the state fails later, or
    /// finishes in an end state marked `compensate: true`; the states completed are undone in
    /// reverse order, each once. On an end state: `true`, a run finishing there compensates.
    #[cfg_attr(feature = "schema", schemars(with = "Option<CompensateSchema>"))]
    pub compensate: Option<Compensate>,
    /// Overrides the machine's `data_mode` for this state.
    pub data_mode: Option<Spanned<DataMode>>,
    /// The Rust type of the state's own data (`data: RedLight`): made by the function each arc
    /// into the state names as its `data`, given to the state's functions as `state_data`, and
    /// dropped when the run leaves the state.
    pub data: Option<Spanned<String>>,
    /// Run the state's functions again when they fail, before `on_error`:
    /// `{ attempts: 3, delay_seconds: 0.2, max_delay_seconds: 10, backoff: exponential, jitter: true }`
    /// (`attempts` counts the first run; `backoff` is `exponential` or `fixed`).
    #[cfg_attr(feature = "schema", schemars(with = "Option<RetrySchema>"))]
    pub retry: Option<Spanned<Value>>,
    /// The state's functions fail when together they take longer than this many seconds (measured
    /// when they return: a function is not interrupted), so their changes are rolled back.
    #[cfg_attr(feature = "schema", schemars(with = "Option<f64>"))]
    pub timeout_seconds: Option<Spanned<Value>>,
    /// Stop calling the state's functions after `failures` failures in a row, for `reset_seconds`
    /// (the state then fails at once); one breaker per state, shared by every run in the process:
    /// `{ failures: 5, reset_seconds: 30 }`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<CircuitBreakerSchema>"))]
    pub circuit_breaker: Option<Spanned<Value>>,
    /// At most `per_second` runs of the state's functions a second, in bursts of at most `burst`
    /// (default: `per_second` rounded up); a run waits for its turn. One limiter per state, shared
    /// by every run in the process: `{ per_second: 10, burst: 20 }`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<RateLimitSchema>"))]
    pub rate_limit: Option<Spanned<Value>>,
    /// At most this many runs of the state's async functions at once, across every run in the
    /// process (a bulkhead): a run waits for a free place without holding a thread. Only for
    /// states with async functions.
    #[cfg_attr(feature = "schema", schemars(with = "Option<u32>"))]
    pub max_concurrency: Option<Spanned<Value>>,
    /// Resources this state's functions use (names of the machine's `resources`).
    #[cfg_attr(feature = "schema", schemars(default))]
    pub resources: Vec<Spanned<String>>,
    /// Free-form metadata, ignored by the compiler.
    pub metadata: Option<Spanned<Value>>,
    /// The whole state node.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

/// A state's `compensate`.
#[derive(Clone, Debug)]
pub enum Compensate {
    /// The function that undoes the state (a transform).
    Function(FunctionRef),
    /// On an end state: whether a run finishing there compensates.
    End(Spanned<bool>),
}

impl Compensate {
    /// The whole value.
    pub fn span(&self) -> Span {
        match self {
            Compensate::Function(f) => f.span(),
            Compensate::End(b) => b.span,
        }
    }
}

/// The schema of `compensate`: a function, or `true` on an end state.
#[cfg(feature = "schema")]
#[derive(JsonSchema)]
#[cfg_attr(feature = "schema", schemars(untagged))]
#[allow(dead_code)]
enum CompensateSchema {
    /// On an end state: a run finishing here compensates the states it completed.
    End(bool),
    /// The function that undoes the state.
    Function(FunctionRef),
}

/// One entry of a state's `on_error`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ErrorArc {
    /// The kinds of errors the entry takes (declared in `errors:`, or built in). Omitted: every
    /// error (a catch-all, which must come last).
    #[cfg_attr(feature = "schema", schemars(default))]
    pub kinds: Vec<Spanned<String>>,
    /// The state of the same network the run goes to.
    pub to: Spanned<String>,
    /// The whole entry (the state's name for the one-state form).
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

/// The schema of `on_error`: a state, or a list of entries.
#[cfg(feature = "schema")]
#[derive(JsonSchema)]
#[cfg_attr(feature = "schema", schemars(untagged))]
#[allow(dead_code)]
enum OnErrorSchema {
    /// Every error goes to this state.
    State(String),
    /// Entries tried in order.
    Entries(Vec<ErrorArc>),
}

/// A kind of error the machine's functions return (`errors:`).
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ErrorDecl {
    /// Name (snake_case); becomes a variant of the `<Machine>ErrorKind` enum.
    pub name: Spanned<String>,
    /// Documentation; becomes the doc comment of the variant.
    pub description: Option<Spanned<String>>,
    /// The whole declaration.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

impl State {
    /// The `on_error` entry without kinds (the first, when there are several).
    pub fn catch_all(&self) -> Option<&ErrorArc> {
        self.on_error.iter().find(|e| e.kinds.is_empty())
    }
}

/// The schema of a state's `retry` (read as a [`Value`] and checked by validation).
#[cfg(feature = "schema")]
#[derive(JsonSchema)]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields, rename = "Retry"))]
#[allow(dead_code)]
pub struct RetrySchema {
    /// Runs in all, the first included (1 to 100).
    attempts: u32,
    /// Wait before the second run, in seconds (default 0.1).
    delay_seconds: Option<f64>,
    /// Longest wait between two runs, in seconds (default 60).
    max_delay_seconds: Option<f64>,
    /// `exponential` (the wait doubles, the default) or `fixed`.
    backoff: Option<String>,
    /// Add up to a quarter of each wait at random (default true).
    jitter: Option<bool>,
    /// Retry only errors of these kinds (default: every error).
    on: Option<Vec<String>>,
}

/// The schema of a state's `circuit_breaker` (read as a [`Value`] and checked by validation).
#[cfg(feature = "schema")]
#[derive(JsonSchema)]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields, rename = "CircuitBreaker"))]
#[allow(dead_code)]
pub struct CircuitBreakerSchema {
    /// Failures in a row that open the breaker (1 to 1000).
    failures: u32,
    /// How long it stays open, in seconds (default 30); then one run may try again.
    reset_seconds: Option<f64>,
}

/// The schema of a state's `rate_limit` (read as a [`Value`] and checked by validation).
#[cfg(feature = "schema")]
#[derive(JsonSchema)]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields, rename = "RateLimit"))]
#[allow(dead_code)]
pub struct RateLimitSchema {
    /// Runs a second on average (above 0, at most 1,000,000).
    per_second: f64,
    /// Runs at once after a pause (1 to 1,000,000; default `per_second` rounded up).
    burst: Option<u32>,
}

/// An arc from one state to another, or a push into another network.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Arc {
    /// Source state; a list of states (`[a, b]`: the arc from each of them); a superstate (the
    /// arc from each of its states, tried after their own arcs); or `_`, every state of the
    /// network that is not an end state.
    // The readers expand lists, `_` and superstates (`Machine::expand_arcs`): after them, `from`
    // is one state and `origin` says how it was written.
    #[cfg_attr(feature = "schema", schemars(with = "OneOrMany<String>"))]
    pub from: Spanned<String>,
    /// Target state, in the same network. Omitted on a push arc.
    pub to: Option<Spanned<String>>,
    /// Documentation of the arc.
    pub description: Option<Spanned<String>>,
    /// Event that triggers the arc. Omitted: the arc is taken as soon as its source state is done.
    pub on: Option<Spanned<String>>,
    /// Guard: the arc is available only when it returns true; with a list, when every one of
    /// them does (tried in order, stopping at the first that says no).
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<FunctionRef>"))]
    pub condition: Vec<FunctionRef>,
    /// Functions run while traversing the arc, before entering the target.
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<FunctionRef>"))]
    pub transform: Vec<FunctionRef>,
    /// The function that makes the target state's data (required when the target declares
    /// `data:`): it reads the record (and the event's payload), after the arc's transforms.
    pub data: Option<FunctionRef>,
    /// Among available arcs of a state the highest priority wins; ties go to declaration order.
    pub priority: Option<Spanned<i64>>,
    /// Push arc: run this network from its start state to one of its end states ...
    pub target_network: Option<Spanned<String>>,
    /// ... then continue at this state of the current network. Omitted: the run ends where the
    /// pushed network ends.
    pub return_state: Option<Spanned<String>>,
    /// Resources this arc's functions use.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub resources: Vec<Spanned<String>>,
    /// The superstate the arc's `to` named, when it named one: the readers replace `to` with the
    /// superstate's `initial` state; with `history`, the run enters the state it remembers.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub into: Option<Spanned<String>>,
    /// An internal transition (an arc on an event, from a state to itself): its transforms run
    /// and the run stays, without leaving the state or entering it again (no exit or entry
    /// actions, the state's functions not run again). A self-arc without it leaves and enters.
    pub internal: Option<Spanned<bool>>,
    /// How `from` was written (one arc of a list, `_`, a superstate): set by the readers.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub origin: Origin,
    /// The whole arc node.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

/// How the source of an arc was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// One state.
    #[default]
    Written,
    /// One state of a list (`from: [a, b]`).
    List,
    /// `_`: every state that is not an end state. Its copies keep their place in declaration
    /// order, so an arc after it for the same event is tried after it.
    Wildcard,
    /// A superstate `name`, `depth` levels above the state (1: its own superstate): the copy is
    /// tried after the arcs of the state itself and of the superstates below `name`.
    Superstate {
        /// The superstate, as written.
        name: String,
        /// How far up.
        depth: u32,
    },
}

impl Origin {
    /// Where the arc's copies stand in the order a state tries its arcs: 0 for its own, then
    /// each superstate level.
    pub fn level(&self) -> u32 {
        match self {
            Origin::Superstate { depth, .. } => *depth,
            _ => 0,
        }
    }
}

/// A superstate: a group of states of a network, with arcs of its own (`from: <superstate>`)
/// that each of its states has after its own ("event bubbling"), and entry and exit actions.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Superstate {
    /// Name, unique among the network's states and superstates.
    pub name: Spanned<String>,
    /// Documentation.
    pub description: Option<Spanned<String>>,
    /// The superstate this one is inside.
    pub parent: Option<Spanned<String>>,
    /// The state inside the superstate that an arc into the superstate (`to: <superstate>`)
    /// enters, unless `history` remembers another.
    pub initial: Option<Spanned<String>>,
    /// History (shallow): an arc into the superstate enters the state inside it the run was in
    /// when it last left it (`initial` the first time). Only for a superstate with no superstate
    /// inside it.
    pub history: Option<Spanned<bool>>,
    /// Functions run when a run comes into the superstate from outside it, before the entry
    /// actions of what it enters inside.
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<FunctionRef>"))]
    pub on_entry: Vec<FunctionRef>,
    /// Functions run when a run leaves the superstate for a state outside it, after the exit
    /// actions of the state it leaves.
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<FunctionRef>"))]
    pub on_exit: Vec<FunctionRef>,
    /// The whole superstate node.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

/// An event that can drive the machine.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Event {
    /// Name; becomes a variant of the event enum.
    pub name: Spanned<String>,
    /// Rust type of the data the event carries, e.g. `u32` or `crate::Track`.
    pub payload: Option<Spanned<String>>,
    /// Documentation; becomes the doc comment of the variant.
    pub description: Option<Spanned<String>>,
    /// The whole event node.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

/// Rust attributes passed through to the generated enums. Each string holds one or more outer
/// attributes (`"#[derive(Hash)]"`, `"#[repr(u8)] #[serde(rename_all = \"snake_case\")]"`);
/// derives the enums already have are dropped, and a `#[derive(Serialize)]` or
/// `#[derive(Deserialize)]` replaces the runtime's by-name implementation of that trait.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Attributes {
    /// For the state enum of every network (and the `Position` enum of a machine with several
    /// networks).
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<String>"))]
    pub states: Vec<Spanned<String>>,
    /// For the event enum.
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<String>"))]
    pub events: Vec<Spanned<String>>,
    /// For the end-state enum.
    #[cfg_attr(feature = "schema", schemars(default, with = "OneOrMany<String>"))]
    pub ends: Vec<Spanned<String>>,
    /// The whole `attributes` node.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

impl Attributes {
    /// Each list with the enum it is for.
    pub fn lists(&self) -> [(AttributeTarget, &[Spanned<String>]); 3] {
        [
            (AttributeTarget::States, &self.states),
            (AttributeTarget::Events, &self.events),
            (AttributeTarget::Ends, &self.ends),
        ]
    }
}

/// The generated enums `attributes` apply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeTarget {
    /// The state enums (and `Position`).
    States,
    /// The event enum.
    Events,
    /// The end-state enum.
    Ends,
}

impl AttributeTarget {
    /// The key of `attributes` that names it.
    pub fn key(self) -> &'static str {
        match self {
            AttributeTarget::States => "states",
            AttributeTarget::Events => "events",
            AttributeTarget::Ends => "ends",
        }
    }
}

/// The declaration of a named function (a method of the generated trait).
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct FunctionDecl {
    /// The function's name, as states and arcs use it.
    pub name: Spanned<String>,
    /// Documentation; becomes the doc comment of the trait method.
    pub description: Option<Spanned<String>>,
    /// The transform or check cannot fail: its method returns `()` instead of a `Result`, and
    /// `copy` mode needs no snapshot of the record for a state or arc whose functions all cannot
    /// fail (nothing can leave it half-changed). Not for conditions, which return `bool`.
    pub infallible: Option<Spanned<bool>>,
    /// The transform cannot fail half-way: its method reads the record (`&D`) and returns the change
    /// to apply (`impl FnOnce(&mut D)`), which cannot fail. `copy` mode needs no snapshot for a state
    /// or arc whose first function is atomic and whose others cannot fail. Not with `infallible`,
    /// not for conditions.
    pub atomic: Option<Spanned<bool>>,
    /// The condition may fail: its method returns `Result<bool, FnError>`, and an error is a
    /// failure of the arc's source state (its `on_error` arc, or the run stops). Only for
    /// conditions (transforms and checks can always fail).
    pub fallible: Option<Spanned<bool>>,
    /// The transform or check is async: its method returns `impl Future<Output = ..> + Send`, and
    /// the machine runs with `run_async`, `step_async` and `handle_async` (inside a tokio runtime
    /// when a state has a timeout, a retry, a bulkhead or a rate limit). Only for the functions a
    /// state runs on entering it (`validate`, `transform`, `on_entry`): arcs, conditions, exit
    /// actions and superstates' actions run synchronously while the run picks its arc.
    #[cfg_attr(feature = "schema", schemars(rename = "async"))]
    pub r#async: Option<Spanned<bool>>,
    /// The whole declaration node.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

/// The record store of a `reference` machine: `{ resource: db, table: orders }`.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Store {
    /// A `sqlite` or `postgres` resource of the machine.
    pub resource: Spanned<String>,
    /// The table that holds the records (created if missing): letters, digits and `_`.
    pub table: Spanned<String>,
    /// The whole `store` node.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

/// A resource the machine's functions use.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Resource {
    /// Name, referenced by states and arcs.
    pub name: Spanned<String>,
    /// What it is.
    pub kind: Spanned<ResourceKind>,
    /// Kind-specific settings (e.g. `path` for sqlite, `url` for postgres, `base_url` for http).
    pub config: Option<Spanned<Value>>,
    /// Documentation.
    pub description: Option<Spanned<String>>,
    /// Connections a postgres resource keeps open (default 1), so how many workers query at
    /// once. Postgres only.
    #[cfg_attr(feature = "schema", schemars(with = "Option<u32>", range(min = 1, max = 1000)))]
    pub connection_pool_size: Option<Spanned<Value>>,
    /// Time limit in seconds: the busy timeout of sqlite; connecting, each statement and waiting
    /// for a pooled connection of postgres; a whole request of http and llm. Not for file.
    #[cfg_attr(feature = "schema", schemars(with = "Option<f64>", range(min = 0.001, max = 86400)))]
    pub timeout_seconds: Option<Spanned<Value>>,
    /// How many times opening the resource is tried again when it fails with a transient error
    /// (a server not up yet, a locked database, a directory not created yet). Default 0.
    #[cfg_attr(feature = "schema", schemars(with = "Option<u32>", range(max = 100)))]
    pub retry_attempts: Option<Spanned<Value>>,
    /// Seconds before the first retry; each further retry waits twice as long (at most a minute),
    /// plus jitter. Default 1. Needs `retry_attempts`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<f64>", range(min = 0.001, max = 3600)))]
    pub retry_delay_seconds: Option<Spanned<Value>>,
    /// Seconds between health checks of the resource during a long run (the streaming
    /// runtime's `Pipeline::watch_health`).
    #[cfg_attr(feature = "schema", schemars(with = "Option<f64>", range(min = 0.001, max = 86400)))]
    pub health_check_interval: Option<Spanned<Value>>,
    /// When what the functions write through the resource commits: `per_record` (one
    /// transaction per record's run, committed only if it ends in a success end state),
    /// `per_chunk` (one per chunk of a pipeline), `manual` (the functions begin and commit).
    /// Databases only (sqlite, postgres).
    #[cfg_attr(feature = "schema", schemars(with = "Option<TransactionMode>"))]
    pub transaction: Option<Spanned<Value>>,
    /// The whole resource node.
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub span: Span,
}

impl Resource {
    /// The settings of the resource itself (beside `config`), in documentation order: each
    /// key with its value, whose span covers `key: value`.
    pub fn own_settings(&self) -> [(&'static str, Option<&Spanned<Value>>); 5] {
        [
            ("connection_pool_size", self.connection_pool_size.as_ref()),
            ("timeout_seconds", self.timeout_seconds.as_ref()),
            ("retry_attempts", self.retry_attempts.as_ref()),
            ("retry_delay_seconds", self.retry_delay_seconds.as_ref()),
            ("health_check_interval", self.health_check_interval.as_ref()),
        ]
    }

    /// The field of a setting of the resource itself, by key.
    pub fn own_setting_mut(&mut self, key: &str) -> Option<&mut Option<Spanned<Value>>> {
        Some(match key {
            "connection_pool_size" => &mut self.connection_pool_size,
            "timeout_seconds" => &mut self.timeout_seconds,
            "retry_attempts" => &mut self.retry_attempts,
            "retry_delay_seconds" => &mut self.retry_delay_seconds,
            "health_check_interval" => &mut self.health_check_interval,
            "transaction" => &mut self.transaction,
            _ => return None,
        })
    }
}

/// When the writes of a database resource commit (`transaction:` of the resource).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename_all = "snake_case"))]
pub enum TransactionMode {
    /// One transaction per record's run: committed if it ends in a success end state, rolled
    /// back if it ends in a dead-letter state, fails or panics.
    PerRecord,
    /// One transaction per chunk of a pipeline.
    PerChunk,
    /// The functions begin, commit and roll back through the handle.
    Manual,
}

impl TransactionMode {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionMode::PerRecord => "per_record",
            TransactionMode::PerChunk => "per_chunk",
            TransactionMode::Manual => "manual",
        }
    }
}

/// Kinds of resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename_all = "snake_case"))]
pub enum ResourceKind {
    /// An embedded SQLite database (the default database).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
    /// A directory of files.
    File,
    /// An HTTP endpoint.
    Http,
    /// An LLM completion endpoint.
    Llm,
}

impl ResourceKind {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Sqlite => "sqlite",
            ResourceKind::Postgres => "postgres",
            ResourceKind::File => "file",
            ResourceKind::Http => "http",
            ResourceKind::Llm => "llm",
        }
    }
}

/// A function reference: the name of a method of the generated trait (implemented in Rust),
/// `{ rust: "<expression>" }` (inline Rust), or `{ builtin: <name>, params: {...} }` (the runtime's
/// function library).
#[derive(Clone, Debug)]
pub enum FunctionRef {
    /// A named function: a method of the generated trait.
    Named(Spanned<String>),
    /// Inline Rust. `code` is the string's content; its span covers the string in the source.
    Rust {
        /// The expression.
        code: Spanned<String>,
        /// The whole reference node.
        span: Span,
    },
    /// A built-in function of the runtime's library.
    Builtin {
        /// Its name, e.g. `required_fields`.
        name: Spanned<String>,
        /// Its parameters.
        params: Option<Spanned<Value>>,
        /// The whole reference node.
        span: Span,
    },
}

impl FunctionRef {
    /// The span of the whole reference.
    pub fn span(&self) -> Span {
        match self {
            FunctionRef::Named(n) => n.span,
            FunctionRef::Rust { span, .. } | FunctionRef::Builtin { span, .. } => *span,
        }
    }
}

#[cfg(feature = "schema")]
impl JsonSchema for FunctionRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FunctionRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A function: a name (a method of the generated trait), inline Rust, or a built-in.",
            "oneOf": [
                { "type": "string", "description": "Name of a method of the generated trait." },
                {
                    "type": "object",
                    "description": "Inline Rust, with the record in scope as `data`.",
                    "properties": { "rust": { "type": "string" } },
                    "required": ["rust"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "description": "A built-in function of the runtime's library.",
                    "properties": { "builtin": { "type": "string" }, "params": {} },
                    "required": ["builtin"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// Schema helper: one item or a list of them.
#[cfg(feature = "schema")]
#[derive(JsonSchema)]
#[cfg_attr(feature = "schema", schemars(untagged))]
#[allow(dead_code)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// A free-form YAML value (resource config, builtin params, metadata), with spans throughout.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`, `~` or empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Any other scalar.
    String(String),
    /// A sequence.
    Seq(Vec<Spanned<Value>>),
    /// A mapping, in source order.
    Map(Vec<(Spanned<String>, Spanned<Value>)>),
}

impl Value {
    /// Converts to JSON (spans dropped).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
            Value::String(s) => s.clone().into(),
            Value::Seq(items) => items.iter().map(|v| v.value.to_json()).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.value.clone(), v.value.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Spanned<Value>> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[cfg(feature = "schema")]
impl JsonSchema for Value {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Value".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "description": "Any YAML value." })
    }
}

impl Machine {
    /// Expands the arcs whose source is `_` (every state of the network that is not an end state)
    /// or a superstate (each of its states, directly or in a superstate inside it) into one arc
    /// per source state, in place: the readers call it once a machine is read, so that every
    /// later stage sees arcs from one state. A name that is neither a state nor a superstate is
    /// left for validation to report. Superstates that form a cycle are followed only as far as
    /// there are superstates.
    pub fn expand_arcs(&mut self) {
        for network in &mut self.networks {
            let chains: Vec<Vec<&str>> = network
                .states
                .iter()
                .map(|s| superstate_chain(network, s.superstate.as_ref().map(|n| n.value.as_str())))
                .collect();
            let is_state = |name: &str| network.states.iter().any(|s| s.name.value == name);
            let is_superstate = |name: &str| network.superstates.iter().any(|s| s.name.value == name);
            let mut arcs = Vec::with_capacity(network.arcs.len());
            for arc in &network.arcs {
                let from = arc.from.value.as_str();
                if from == WILDCARD && arc.origin == Origin::Wildcard {
                    for state in network
                        .states
                        .iter()
                        .filter(|s| !s.is_end.as_ref().is_some_and(|e| e.value))
                    {
                        let mut copy = arc.clone();
                        copy.from = Spanned::new(state.name.value.clone(), arc.from.span);
                        stay_internal(&mut copy, from);
                        arcs.push(copy);
                    }
                } else if !is_state(from) && is_superstate(from) {
                    for (state, chain) in network.states.iter().zip(&chains) {
                        if state.is_end.as_ref().is_some_and(|e| e.value) {
                            continue;
                        }
                        if let Some(depth) = chain.iter().position(|s| *s == from) {
                            let mut copy = arc.clone();
                            copy.from = Spanned::new(state.name.value.clone(), arc.from.span);
                            copy.origin = Origin::Superstate {
                                name: from.to_owned(),
                                depth: u32::try_from(depth + 1).unwrap_or(u32::MAX),
                            };
                            stay_internal(&mut copy, from);
                            arcs.push(copy);
                        }
                    }
                } else {
                    arcs.push(arc.clone());
                }
            }
            // An arc into a superstate enters its `initial` state (or, with history, the state it
            // remembers). Without `initial` the name stays, for validation to report.
            for arc in &mut arcs {
                let Some(to) = arc.to.as_mut() else { continue };
                if network.states.iter().any(|s| s.name.value == to.value) {
                    continue;
                }
                let Some(sup) = network.superstates.iter().find(|s| s.name.value == to.value) else {
                    continue;
                };
                // An `initial` outside the superstate is reported by validation, once.
                let inside = |initial: &Spanned<String>| {
                    network.states.iter().any(|s| {
                        s.name.value == initial.value
                            && superstate_chain(network, s.superstate.as_ref().map(|n| n.value.as_str()))
                                .contains(&sup.name.value.as_str())
                    })
                };
                if let Some(initial) = sup.initial.as_ref().filter(|i| inside(i)) {
                    arc.into = Some(to.clone());
                    to.value.clone_from(&initial.value);
                }
            }
            // An internal arc without `to` stays where it is.
            for arc in &mut arcs {
                if arc.internal.as_ref().is_some_and(|i| i.value) && arc.to.is_none() && arc.target_network.is_none() {
                    arc.to = Some(arc.from.clone());
                }
            }
            network.arcs = arcs;
        }
    }

    /// All states of all networks, with their network.
    pub fn states(&self) -> impl Iterator<Item = (&Network, &State)> {
        self.networks.iter().flat_map(|n| n.states.iter().map(move |s| (n, s)))
    }
}

/// An internal arc written from a superstate or `_` to itself (`powered -> powered on x
/// internal`, the form the DSL needs) stays in each state it was copied to.
fn stay_internal(copy: &mut Arc, written_from: &str) {
    let internal = copy.internal.as_ref().is_some_and(|i| i.value);
    if let Some(to) = copy.to.as_mut().filter(|to| internal && to.value == written_from) {
        to.value.clone_from(&copy.from.value);
    }
}

/// The source of an arc from every state that is not an end state.
pub const WILDCARD: &str = "_";

/// The superstates around a state, innermost first, starting at `first` (the state's
/// `superstate`): each one's `parent`, as far as names resolve and without going round a cycle.
pub fn superstate_chain<'n>(network: &'n Network, first: Option<&'n str>) -> Vec<&'n str> {
    let mut chain = Vec::new();
    let mut next = first;
    while let Some(name) = next {
        if chain.contains(&name) || chain.len() > network.superstates.len() {
            break;
        }
        let Some(sup) = network.superstates.iter().find(|s| s.name.value == name) else {
            break;
        };
        chain.push(name);
        next = sup.parent.as_ref().map(|p| p.value.as_str());
    }
    chain
}
