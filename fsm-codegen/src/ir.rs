//! The intermediate representation: a validated machine with every name resolved to an index,
//! arcs in the order a run tries them, and the graph facts the generators need.
//!
//! [`analyze`](crate::analyze) is the only producer (validation, then lowering); the generators (`codegen::rust`,
//! `codegen::diagram`) read nothing else. Collections are `Vec`s indexed by the id newtypes, in
//! declaration order, so everything generated from the IR is deterministic.

use crate::span::Span;

pub use crate::ast::{AttributeTarget, ResourceKind};

/// Index of a network in [`Machine::networks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkId(pub usize);

/// Index of a state in its network's [`Network::states`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateId(pub usize);

/// Index of an arc in its network's [`Network::arcs`] (declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArcId(pub usize);

/// Index of an event in [`Machine::events`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub usize);

/// Index of a named function in [`Machine::functions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionId(pub usize);

/// Index of an inline Rust function in [`Machine::inlines`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InlineId(pub usize);

/// A state anywhere in the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateRef {
    /// Its network.
    pub network: NetworkId,
    /// The state in that network.
    pub state: StateId,
}

/// How a state's functions see the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataMode {
    /// On a copy, committed only when every function of the state succeeds.
    Copy,
    /// In place.
    Direct,
    /// In place, on a record loaded from a store (`run_stored`), saved back with optimistic
    /// locking when every function of the state succeeds and reloaded when one fails; as `Copy`
    /// for a run without a store.
    Reference,
}

/// The record store of a `reference` machine: a table of one of its database resources.
#[derive(Clone, Debug)]
pub struct Store {
    /// Index of the resource in [`Machine::resources`] (a `sqlite` or `postgres` one).
    pub resource: usize,
    /// The table (a checked SQL name).
    pub table: String,
}

/// A state's `retry`, `timeout_seconds` and `circuit_breaker`, as checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resilience {
    /// Run the functions again when they fail.
    pub retry: Option<RetryPolicy>,
    /// Seconds the functions may take together.
    pub timeout: Option<f64>,
    /// Failures in a row that open the breaker, and seconds it stays open.
    pub breaker: Option<(u32, f64)>,
    /// Runs a second, and the largest burst.
    pub rate_limit: Option<(f64, u32)>,
    /// Runs of the (async) functions at once, at most.
    pub max_concurrency: Option<u32>,
}

impl Resilience {
    /// Whether the state has none of it.
    pub fn is_empty(&self) -> bool {
        self.retry.is_none()
            && self.timeout.is_none()
            && self.breaker.is_none()
            && self.rate_limit.is_none()
            && self.max_concurrency.is_none()
    }
}

/// A state's `retry`.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Runs in all, the first included.
    pub attempts: u32,
    /// Seconds before the second run.
    pub delay: f64,
    /// Longest wait, in seconds.
    pub max_delay: f64,
    /// The wait doubles after each run (else it stays `delay`).
    pub exponential: bool,
    /// Up to a quarter of each wait added at random.
    pub jitter: bool,
    /// The kinds of errors retried (`on:`); empty: every error.
    pub on: Vec<String>,
}

/// A kind of error the machine declares (`errors:`).
#[derive(Clone, Debug)]
pub struct ErrorKind {
    /// Name as written (snake_case).
    pub name: String,
    /// PascalCase identifier (the variant of `<Machine>ErrorKind`).
    pub ident: String,
    /// Documentation.
    pub description: Option<String>,
}

/// An `on_error` entry with kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorArc {
    /// The kinds it takes, by name (declared or built in).
    pub kinds: Vec<String>,
    /// Where the run goes.
    pub to: StateId,
}

/// A validated machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Name as written.
    pub name: String,
    /// Rust identifier prefix of every generated type (`StreamingProcessor`).
    pub ident: String,
    /// Documentation.
    pub description: Option<String>,
    /// Rust type of the record, as written (`crate::Record`); `None`: no data, `()`.
    pub data: Option<String>,
    /// Default data mode of states.
    pub data_mode: DataMode,
    /// The networks, in declaration order.
    pub networks: Vec<Network>,
    /// The network a run starts in.
    pub main: NetworkId,
    /// Events, in declaration order. Non-empty: the machine is event-driven (`handle`).
    pub events: Vec<Event>,
    /// The kinds of errors declared (`errors:`), in order. Non-empty: the machine has a
    /// `<Machine>ErrorKind` enum.
    pub errors: Vec<ErrorKind>,
    /// Named functions (methods of the generated trait), in order of first use.
    pub functions: Vec<Function>,
    /// Inline Rust functions, in order of appearance.
    pub inlines: Vec<Inline>,
    /// Resources, in declaration order. Non-empty: the machine holds a `<Machine>Resources`
    /// struct and its functions receive it through their context.
    pub resources: Vec<Resource>,
    /// The record store named by `store:`, for `open_store()`.
    pub store: Option<Store>,
    /// Default step limit of a run.
    pub max_transitions: u32,
    /// End states where a run can finish: those of the main network, then those of networks
    /// pushed without a `return_state` (transitively), each once.
    pub ends: Vec<EndState>,
    /// How deeply push arcs can nest from the main network (0: no push arc is reachable).
    pub push_depth: usize,
    /// Superstates with `history`, over all networks: each has a slot, numbered from 0, that
    /// remembers the state inside it the run was last in.
    pub history_slots: usize,
    /// Attributes for the generated enums, checked (see [`crate::attributes`]), in the order
    /// written.
    pub attributes: Vec<Attribute>,
    /// The whole machine in the source.
    pub span: Span,
}

/// Attributes of `attributes:` for one generated enum: one or more outer attributes, as written.
#[derive(Clone, Debug)]
pub struct Attribute {
    /// The enum they are for.
    pub target: AttributeTarget,
    /// Their text (`#[derive(Hash)] #[repr(u8)]`).
    pub text: String,
    /// Where they were written (in the `fsm!` macro: every token of them, see
    /// [`TokenSpans::all`](crate::syntax::dsl::TokenSpans::all)).
    pub span: Span,
}

impl Machine {
    /// The attributes for `target`'s enum.
    pub fn attributes_for(&self, target: AttributeTarget) -> impl Iterator<Item = &Attribute> {
        self.attributes.iter().filter(move |a| a.target == target)
    }
}

/// An end state where a run can finish, and the variant of the end enum that names it.
#[derive(Clone, Debug)]
pub struct EndState {
    /// The state.
    pub state: StateRef,
    /// Variant identifier in the end enum (the state's identifier, prefixed by its network's when
    /// two end states would share it).
    pub ident: String,
}

/// A network: states joined by arcs, one start state.
#[derive(Clone, Debug)]
pub struct Network {
    /// Name as written.
    pub name: String,
    /// PascalCase identifier.
    pub ident: String,
    /// Documentation.
    pub description: Option<String>,
    /// States, in declaration order.
    pub states: Vec<State>,
    /// Arcs, in declaration order.
    pub arcs: Vec<Arc>,
    /// The start state.
    pub start: StateId,
    /// The entry actions of the superstates around the start state (outermost first), for the
    /// main network: a run enters them before its start state. (A push arc into a network runs
    /// them among its transforms; this is empty for the other networks.)
    pub start_entry: Vec<Call>,
}

/// A state.
#[derive(Clone, Debug)]
pub struct State {
    /// Name as written.
    pub name: String,
    /// PascalCase identifier (the enum variant).
    pub ident: String,
    /// Documentation.
    pub description: Option<String>,
    /// Whether runs of the network start here.
    pub is_start: bool,
    /// Whether a run of the network ends here.
    pub is_end: bool,
    /// Checks run on entering, before the transforms.
    pub validate: Vec<Call>,
    /// Async functions run at the same time after the checks, before the transforms (`parallel:`),
    /// each returning a change applied in this order once all have succeeded.
    pub parallel: Vec<Call>,
    /// Transforms run on entering, in order, then its entry actions (`on_entry`).
    pub transform: Vec<Call>,
    /// Where a run goes when a function of this state (or of one of its arcs) fails, whatever
    /// the error's kind (the `on_error` entry without kinds).
    pub on_error: Option<StateId>,
    /// The `on_error` entries with kinds, in order, tried before `on_error` (empty for most
    /// states).
    pub error_arcs: Vec<ErrorArc>,
    /// The function that undoes the state (`compensate`), run in reverse order of completion
    /// when a run fails or finishes in an end state marked `compensate: true`.
    pub compensate: Option<Call>,
    /// An end state marked `compensate: true`.
    pub compensate_at_end: bool,
    /// How the state's functions see the record.
    pub data_mode: DataMode,
    /// Outgoing arcs in the order a run tries them: priority (highest first), then declaration.
    pub arcs: Vec<ArcId>,
    /// What keeps the state's functions going when they fail or hang (`retry`, `timeout_seconds`,
    /// `circuit_breaker`); all `None` for most states.
    pub resilience: Resilience,
    /// Resources the state's functions use.
    pub resources: Vec<String>,
    /// The history slot of the superstate with `history` the state is inside, if any: leaving
    /// the state records it there.
    pub history: Option<usize>,
    /// The Rust type of the state's own data (`data:`), as written: a variant of the machine's
    /// `<Machine>StateData` enum, made by the arcs into the state.
    pub data: Option<String>,
    /// The state in the source.
    pub span: Span,
}

impl State {
    /// The checks, the parallel functions and then the transforms: everything run on entering.
    pub fn functions(&self) -> impl Iterator<Item = &Call> {
        self.validate.iter().chain(&self.parallel).chain(&self.transform)
    }
}

/// An arc.
#[derive(Clone, Debug)]
pub struct Arc {
    /// Source state.
    pub from: StateId,
    /// Where it leads.
    pub target: Target,
    /// The event that triggers it; `None`: taken as soon as the source state is done.
    pub event: Option<EventId>,
    /// Guards: the arc is available when every one of them holds (none: always).
    pub condition: Vec<Call>,
    /// An internal transition: the run stays in `from` without leaving or entering it.
    pub internal: bool,
    /// Functions run while traversing, before entering the target: the exit actions of the
    /// source state and of the superstates the arc leaves, the arc's own transforms, then the
    /// entry actions of the superstates it comes into (outermost first).
    pub transform: Vec<Call>,
    /// The function that makes the target state's data (`data:` of the arc), run after the
    /// transforms; set exactly when the arc enters a state with data.
    pub make_data: Option<Call>,
    /// An arc into a superstate with history: its slot. The run enters the state remembered
    /// there, or the target (the superstate's `initial`) when there is none yet.
    pub resume: Option<usize>,
    /// Priority (higher is tried first).
    pub priority: i64,
    /// Documentation.
    pub description: Option<String>,
    /// The arc in the source.
    pub span: Span,
}

/// Where an arc leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A state of the same network.
    State(StateId),
    /// Run `network` from its start state to one of its end states, then continue at
    /// `return_state` of the current network; without one, the current network ends where the
    /// pushed one ended.
    Push {
        /// The pushed network.
        network: NetworkId,
        /// Where to continue.
        return_state: Option<StateId>,
    },
}

/// A resource: one field of the generated resources struct.
#[derive(Clone, Debug)]
pub struct Resource {
    /// Name as written.
    pub name: String,
    /// snake_case identifier (the field).
    pub ident: String,
    /// What it is.
    pub kind: ResourceKind,
    /// Documentation.
    pub description: Option<String>,
    /// What the runtime's `*Config` constructor takes: the required settings of its kind.
    pub connection: Connection,
    /// The settings of its `config` (keys of [`crate::resources::settings`]), in the catalog's
    /// order; `timeout` in seconds is given as `timeout_ms`. Then the settings of the resource
    /// itself that its `*Config` takes: `connection_pool_size` as `pool_size` (postgres),
    /// `timeout_seconds` as `busy_timeout_ms` (sqlite) or `timeout_ms` (the others).
    pub settings: Vec<(String, SettingValue)>,
    /// How opening it is retried (`retry_attempts` ≥ 1, `retry_delay_seconds`).
    pub retry: Option<Retry>,
    /// `health_check_interval`, in milliseconds.
    pub health_check_interval_ms: Option<u64>,
    /// `transaction:`, for a database resource.
    pub transaction: Option<crate::ast::TransactionMode>,
}

/// The required settings of a resource, by kind: the arguments of the runtime's `*Config`
/// constructor (the same values are also in [`Resource::settings`], for documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// `SqliteConfig::new(path)`.
    Sqlite {
        /// The database file.
        path: String,
    },
    /// `PostgresConfig::url(url)`.
    PostgresUrl {
        /// The connection string.
        url: String,
    },
    /// `PostgresConfig::url_env(var)`.
    PostgresUrlEnv {
        /// The environment variable holding the connection string.
        var: String,
    },
    /// `FilesConfig::new(dir)`.
    File {
        /// The directory.
        dir: String,
    },
    /// `HttpConfig::new(base_url)`.
    Http {
        /// The start of every request's URL.
        base_url: String,
    },
    /// `LlmConfig::new(base_url, model)`.
    Llm {
        /// The root of the API.
        base_url: String,
        /// The model.
        model: String,
    },
}

/// How opening a resource is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Attempts after the first (≥ 1).
    pub attempts: u32,
    /// The wait before the first retry, in milliseconds.
    pub delay_ms: u64,
}

impl Resource {
    /// The value of setting `key`, if given.
    pub fn setting(&self, key: &str) -> Option<&SettingValue> {
        self.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// The value of a resource setting.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    /// A string.
    Str(String),
    /// A non-negative integer (a setting of integer type).
    Int(u64),
    /// A number (a setting of number type, even when written as an integer).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A mapping of strings to strings, in source order.
    Map(Vec<(String, String)>),
}

/// An event.
#[derive(Clone, Debug)]
pub struct Event {
    /// Name as written.
    pub name: String,
    /// PascalCase identifier (the enum variant).
    pub ident: String,
    /// Rust type of the payload, as written.
    pub payload: Option<String>,
    /// Documentation.
    pub description: Option<String>,
}

/// What a function does, which fixes its signature in the generated trait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A check or transform: `fn(&self, data: &mut D, ctx: &mut Context<'_>) -> Result<(), FnError>`.
    Transform,
    /// A guard: `fn(&self, data: &D) -> bool`.
    Condition,
    /// Makes a state's data on an arc into it: `fn(&self, data: &D, ctx: &mut Context<'_>) ->
    /// Result<T, FnError>` (an inline one evaluates to `T`).
    MakeData,
}

/// A named function: one method of the generated trait.
#[derive(Clone, Debug)]
pub struct Function {
    /// Name as written.
    pub name: String,
    /// snake_case identifier (the method).
    pub ident: String,
    /// Its role (from its first use; validation rejects conflicting roles).
    pub role: Role,
    /// The payload type it receives as `payload: &T`: set when every use is on an arc of an event
    /// carrying this same payload type.
    pub payload: Option<String>,
    /// Human-readable uses ("transform of state `enrich`"), for the method's documentation.
    pub uses: Vec<String>,
    /// Declared `infallible`: the method returns `()`.
    pub infallible: bool,
    /// Declared `atomic`: the method reads the record and returns the change to apply.
    pub atomic: bool,
    /// A condition declared `fallible`: the method returns `Result<bool, FnError>`.
    pub fallible: bool,
    /// A transform or check declared `async`: the method returns a future.
    pub is_async: bool,
    /// In a state's `parallel:` list (and async): the method reads the record and its future
    /// gives the change to make (`Change<D>`).
    pub parallel: bool,
    /// Its declaration's `description`.
    pub description: Option<String>,
    /// The type of a state's data: for a [`Role::MakeData`] function, what it returns; for the
    /// others, what it receives as `state_data` (`&mut T`, `&T` for a condition), set when every
    /// use is a function of states carrying this same type (never for an `atomic` one).
    pub state_data: Option<String>,
}

/// Inline Rust, placed in a generated associated function with the record bound as `data`
/// (and `ctx` for transforms, `payload` on arcs of events that carry one).
#[derive(Clone, Debug)]
pub struct Inline {
    /// The code as written.
    pub code: String,
    /// Transform (the code may evaluate to `()` or `Result<(), E: Into<FnError>>`) or condition
    /// (`bool`).
    pub role: Role,
    /// Payload type in scope as `payload: &T`.
    pub payload: Option<String>,
    /// State data type: what a [`Role::MakeData`] snippet evaluates to; for the others, in
    /// scope as `state_data` (`&mut T`, `&T` in a condition).
    pub state_data: Option<String>,
    /// The code in the source.
    pub span: Span,
}

/// A call of a function.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// A method of the generated trait.
    Named(FunctionId),
    /// Inline Rust.
    Inline(InlineId),
    /// A built-in of the runtime's library.
    Builtin {
        /// Its name.
        name: String,
        /// Its parameters, as JSON.
        params: serde_json::Value,
    },
}

impl Machine {
    /// A state by reference.
    pub fn state(&self, r: StateRef) -> &State {
        &self.networks[r.network.0].states[r.state.0]
    }

    /// The main network.
    pub fn main_network(&self) -> &Network {
        &self.networks[self.main.0]
    }

    /// Whether some function is async: the machine then runs with `run_async`, `step_async` and
    /// `handle_async`, and has no synchronous `run`.
    pub fn is_async(&self) -> bool {
        self.functions.iter().any(|f| f.is_async)
    }

    /// Whether the machine is driven by events (`handle`) rather than run to completion (`run`).
    pub fn is_event_driven(&self) -> bool {
        !self.events.is_empty()
    }

    /// Whether some state works on a record in a store (`reference` data mode): the machine then
    /// has `run_stored` and `start_stored`.
    pub fn uses_store(&self) -> bool {
        self.states().any(|(_, s)| s.data_mode == DataMode::Reference)
    }

    /// Whether some arc pushes a network.
    pub fn has_push_arcs(&self) -> bool {
        self.networks
            .iter()
            .flat_map(|n| &n.arcs)
            .any(|a| matches!(a.target, Target::Push { .. }))
    }

    /// Every state, with its reference, network by network.
    pub fn states(&self) -> impl Iterator<Item = (StateRef, &State)> {
        self.networks.iter().enumerate().flat_map(|(n, net)| {
            net.states.iter().enumerate().map(move |(s, st)| {
                (
                    StateRef {
                        network: NetworkId(n),
                        state: StateId(s),
                    },
                    st,
                )
            })
        })
    }

    /// The display name of a function call (for errors and history): the method name, `inline`,
    /// or the built-in's name.
    pub fn call_name(&self, call: &Call) -> String {
        match call {
            Call::Named(f) => self.functions[f.0].name.clone(),
            Call::Inline(i) => format!("inline#{}", i.0),
            Call::Builtin { name, .. } => name.clone(),
        }
    }
}
