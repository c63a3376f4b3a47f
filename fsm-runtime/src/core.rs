//! The run-time vocabulary shared by every generated machine.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The error a state function returns: a message, optionally with its cause.
///
/// Transforms and checks return `Result<(), FnError>`. `String` and `&'static str` convert with `?`;
/// wrap any other error with [`FnError::with_source`] (`.map_err(|e| FnError::with_source("reading", e))?`).
///
/// Cloning is cheap (the cause is shared), so a run can keep its failure and report it again.
#[derive(Clone, Debug)]
pub struct FnError {
    message: Cow<'static, str>,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    kind: Option<ErrorKind>,
}

/// What kind of failure an [`FnError`] is, by name: one of the kinds a machine declares in
/// `errors:` (its generated `<Machine>ErrorKind` enum converts into this), or one the runtime
/// reports itself ([`ErrorKind::TIMEOUT`], [`ErrorKind::CIRCUIT_OPEN`], ...). A state's
/// `on_error` entries and its `retry: { on: [..] }` choose by kind.
///
/// Kinds compare by name, so the same name is the same kind in every machine.
///
/// ```
/// use fsm_runtime::{ErrorKind, FnError};
///
/// let declined = ErrorKind::named("declined");
/// let name = String::from("declined");
/// assert_eq!(declined, ErrorKind::named(name.leak()), "the same name, another string");
/// let error = FnError::with_source("charging", FnError::of_kind(declined, "card refused"));
/// assert_eq!(error.kind(), Some(declined), "the kind of a wrapped cause");
/// assert!(!error.is(ErrorKind::TIMEOUT));
/// assert_eq!(FnError::new("no kind").kind(), None);
/// ```
#[derive(Clone, Copy, Eq, PartialOrd, Ord)]
pub struct ErrorKind(&'static str);

/// By name, as equality.
impl std::hash::Hash for ErrorKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// By name; the same literal (the usual case: one machine's generated code names a kind by one
/// literal, which the compiler stores once) is told equal without comparing the text.
impl PartialEq for ErrorKind {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && (std::ptr::eq(self.0.as_ptr(), other.0.as_ptr()) || self.0 == other.0)
    }
}

impl ErrorKind {
    /// A state's functions took longer than its `timeout_seconds`.
    pub const TIMEOUT: ErrorKind = ErrorKind("timeout");
    /// A state's `circuit_breaker` is open: its functions were not called.
    pub const CIRCUIT_OPEN: ErrorKind = ErrorKind("circuit_open");
    /// A service refused the call for its rate (an HTTP resource's `429 Too Many Requests`). A
    /// state's own `rate_limit` waits for its turn and never fails.
    pub const RATE_LIMITED: ErrorKind = ErrorKind("rate_limited");
    /// Optimistic locking refused the save of a `reference` state: another writer saved the
    /// record first (the run holds the record that writer saved).
    pub const STORE_CONFLICT: ErrorKind = ErrorKind("store_conflict");
    /// The run reached its step limit ([`RunError::StepLimit`]). It stops the run: no `on_error`
    /// arc catches it, [`RunError::kind`] names it.
    pub const STEP_LIMIT: ErrorKind = ErrorKind("step_limit");
    /// The kinds the runtime reports, in documentation order.
    pub const BUILTIN: &'static [ErrorKind] = &[
        ErrorKind::TIMEOUT,
        ErrorKind::CIRCUIT_OPEN,
        ErrorKind::RATE_LIMITED,
        ErrorKind::STORE_CONFLICT,
        ErrorKind::STEP_LIMIT,
    ];

    /// The kind named `name` (generated `<Machine>ErrorKind` enums convert through it).
    pub const fn named(name: &'static str) -> Self {
        ErrorKind(name)
    }

    /// The name, as written in the machine definition.
    pub const fn name(self) -> &'static str {
        self.0
    }

    /// Whether `error` is of one of `kinds` (with no kind, of none).
    #[inline]
    pub fn any_of(kinds: &[ErrorKind], error: &FnError) -> bool {
        error.kind().is_some_and(|k| kinds.contains(&k))
    }
}

impl fmt::Debug for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0)
    }
}

impl FnError {
    /// An error with a message.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        FnError {
            message: message.into(),
            source: None,
            kind: None,
        }
    }

    /// An error with a message and a cause.
    pub fn with_source(
        message: impl Into<Cow<'static, str>>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        FnError {
            message: message.into(),
            source: Some(Arc::new(source)),
            kind: None,
        }
    }

    /// An error of `kind` with a message: `FnError::of_kind(OrderErrorKind::Declined, "card refused")`
    /// (or `OrderErrorKind::Declined.error("card refused")`).
    pub fn of_kind(kind: impl Into<ErrorKind>, message: impl Into<Cow<'static, str>>) -> Self {
        FnError::new(message).with_kind(kind)
    }

    /// The same error, of `kind`.
    #[must_use]
    pub fn with_kind(mut self, kind: impl Into<ErrorKind>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// The message: empty for an error that is only its cause, as a resource's error converted by
    /// `?` is (its `Display` is then the cause's).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The kind of the error: its own, else the kind of the first error of its causes that has
    /// one (so a function that wraps a failure with [`FnError::with_source`] keeps its kind);
    /// `None` for an error of no kind.
    pub fn kind(&self) -> Option<ErrorKind> {
        if self.kind.is_some() {
            return self.kind;
        }
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            if let Some(k) = e.downcast_ref::<FnError>().and_then(|f| f.kind) {
                return Some(k);
            }
            cause = e.source();
        }
        None
    }

    /// Whether the error is of `kind`.
    pub fn is(&self, kind: impl Into<ErrorKind>) -> bool {
        self.kind() == Some(kind.into())
    }
}

impl fmt::Display for FnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.source, self.message.is_empty()) {
            // An error that is only its cause (a `ResourceError` through `?`): the cause's words, once.
            (Some(src), true) => write!(f, "{src}"),
            (Some(src), false) => write!(f, "{}: {src}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<String> for FnError {
    fn from(message: String) -> Self {
        FnError::new(message)
    }
}

impl From<&'static str> for FnError {
    fn from(message: &'static str) -> Self {
        FnError::new(message)
    }
}

/// A state of a generated machine, with its name in the YAML.
pub trait StateName: Copy + fmt::Debug + Eq + Send + Sync + 'static {
    /// The name as written in the machine definition.
    fn name(&self) -> &'static str;
}

/// The end states of a generated machine: how a run finished.
pub trait EndState: StateName {
    /// All end states, in declaration order.
    const ALL: &'static [Self];
}

/// What names an end state of a machine whose end enum is `E` where a pipeline routes records:
/// the enum itself (checked by rustc: another machine's end state does not compile), or the
/// state's name as text (`&str`, `String`: checked against `E::ALL` when the pipeline starts,
/// for names that come from configuration).
pub trait EndStateRef<E> {
    /// The end state's name, as written in the machine definition.
    fn end_name(&self) -> Cow<'_, str>;
}

impl<E: EndState> EndStateRef<E> for E {
    fn end_name(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.name())
    }
}

impl<E> EndStateRef<E> for &str {
    fn end_name(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl<E> EndStateRef<E> for String {
    fn end_name(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl<E> EndStateRef<E> for &String {
    fn end_name(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

/// A failure inside a state, as recorded when a run follows the state's `on_error` arc.
#[derive(Clone, Debug)]
pub struct StateError {
    /// Network of the failing state.
    pub network: &'static str,
    /// The failing state.
    pub state: &'static str,
    /// The function that failed.
    pub function: &'static str,
    /// What it returned.
    pub error: FnError,
}

impl StateError {
    /// The kind of the error ([`FnError::kind`]).
    pub fn kind(&self) -> Option<ErrorKind> {
        self.error.kind()
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed in state `{}`: {}", self.function, self.state, self.error)
    }
}

/// How a run ended: the end state reached, the record as it left the machine, and the error that
/// led there if the run went through an `on_error` arc.
#[derive(Debug)]
pub struct Outcome<E, D> {
    /// The end state.
    pub end: E,
    /// The record.
    pub data: D,
    /// The last error followed through an `on_error` arc, if any (boxed: an outcome stays the
    /// size of its record plus a few words).
    pub error: Option<Box<StateError>>,
    /// Transitions taken.
    pub transitions: u32,
    /// The path taken, with timings, when [`RunOptions::history`] is on (empty otherwise).
    pub history: Vec<HistoryEntry>,
}

/// Why a run stopped before reaching an end state.
#[derive(Clone, Debug)]
pub enum RunError {
    /// A check or transform failed in a state that has no `on_error` arc.
    Function(StateError),
    /// No arc of the state was available (every condition false).
    NoTransition {
        /// Network of the state.
        network: &'static str,
        /// The state the run is stuck in.
        state: &'static str,
    },
    /// The step limit (`max_transitions`) was reached: probably an endless loop.
    StepLimit {
        /// The limit.
        limit: u32,
        /// The state the run was in.
        state: &'static str,
    },
    /// Compensations (a state's `compensate`) failed, after their retries: the run undid what
    /// it could and stopped. Both errors are kept: why the run was compensating, and what failed.
    Compensation {
        /// The failure that made the run compensate; `None` when it was an end state marked
        /// `compensate: true`.
        cause: Option<Box<RunError>>,
        /// Each compensation that failed, in the order they ran (the others ran and succeeded).
        failed: Vec<StateError>,
    },
}

impl RunError {
    /// The kind of the error: the failed function's ([`FnError::kind`]), or
    /// [`ErrorKind::STEP_LIMIT`] for the step limit; `None` when the run had no arc to take or
    /// the function's error has no kind.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            RunError::Function(e) => e.kind(),
            RunError::StepLimit { .. } => Some(ErrorKind::STEP_LIMIT),
            RunError::NoTransition { .. } => None,
            RunError::Compensation { failed, .. } => failed.first().and_then(StateError::kind),
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Function(e) => e.fmt(f),
            RunError::NoTransition { network, state } => {
                write!(f, "no arc available from state `{state}` (network `{network}`)")
            }
            RunError::StepLimit { limit, state } => {
                write!(f, "step limit of {limit} transitions reached in state `{state}`")
            }
            RunError::Compensation { cause, failed } => {
                f.write_str("compensation failed: ")?;
                for (i, e) in failed.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                match cause {
                    Some(cause) => write!(f, " (compensating after: {cause})"),
                    None => f.write_str(" (compensating at an end state)"),
                }
            }
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Function(e) => Some(&e.error),
            RunError::Compensation { failed, .. } => {
                failed.first().map(|e| &e.error as &(dyn std::error::Error + 'static))
            }
            _ => None,
        }
    }
}

/// One entry of a run's history: a state entered, when, and how long its functions took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Network of the state.
    pub network: &'static str,
    /// The state entered.
    pub state: &'static str,
    /// Time from the start of the run to entering the state.
    pub at: Duration,
    /// Time spent in the state's checks and transforms.
    pub took: Duration,
    /// An entry of the state's compensation (`compensate`), run after a failure or at an end
    /// state marked `compensate: true`, not of its functions.
    pub compensation: bool,
}

/// Options of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Maximum number of transitions before a run stops with [`RunError::StepLimit`].
    pub max_transitions: u32,
    /// Record the path taken, with timings.
    pub history: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_transitions: 1000,
            history: false,
        }
    }
}

/// A run that stopped before an end state: why, and the record as it was at that point, so that
/// nothing is lost (the streaming runtime sends it to the dead-letter sink).
#[derive(Debug)]
pub struct Failure<D> {
    /// Why the run stopped.
    pub error: RunError,
    /// The record (in `copy` mode: as it entered the failing state).
    pub data: D,
}

impl<D> fmt::Display for Failure<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<D: fmt::Debug> std::error::Error for Failure<D> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// What running one record gives: the outcome, or the failure with the record.
pub type RunResult<E, D> = Result<Outcome<E, D>, Failure<D>>;

/// A data-driven machine, as the streaming runtime sees it: a function from a record to an
/// outcome. Every generated machine with a `run` method implements it.
pub trait Machine: Send + Sync {
    /// The record type.
    type Data: Send;
    /// The end states.
    type End: EndState;
    /// Runs one record from the start state to an end state.
    fn run(&self, data: Self::Data) -> RunResult<Self::End, Self::Data>;

    /// Runs `records` and hands each outcome to `done` with the record's index: one after the
    /// other with [`Machine::run`] unless the machine runs several at once (a machine with async
    /// functions, through [`Concurrent`](crate::stream::Concurrent): up to `concurrency` in
    /// flight, handed over as they end; `ordered` says whether the caller wants them in input
    /// order, which it restores by index). A run that panicked is
    /// handed over as `Err` with the panic's payload. What a pipeline worker calls for a chunk
    /// when the pipeline has a [`concurrency`](crate::stream::Pipeline::concurrency).
    #[doc(hidden)]
    fn run_all(&self, records: Vec<Self::Data>, concurrency: usize, ordered: bool, done: &mut RunDone<'_, Self>) {
        let _ = (concurrency, ordered);
        for (i, data) in records.into_iter().enumerate() {
            done(
                i,
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(data))),
            );
        }
    }
}

/// What [`Machine::run_all`] hands each outcome to: the record's index and its run's result, or
/// the payload of the panic that ended it.
#[doc(hidden)]
pub type RunDone<'a, M> =
    dyn FnMut(usize, std::thread::Result<RunResult<<M as Machine>::End, <M as Machine>::Data>>) + 'a;

impl<M: Machine + ?Sized> Machine for &M {
    type Data = M::Data;
    type End = M::End;
    fn run(&self, data: Self::Data) -> RunResult<Self::End, Self::Data> {
        (**self).run(data)
    }
    fn run_all(&self, records: Vec<Self::Data>, concurrency: usize, ordered: bool, done: &mut RunDone<'_, Self>) {
        (**self).run_all(records, concurrency, ordered, done)
    }
}

/// A data-driven machine with async functions, as the streaming runtime sees it: an async function
/// from a record to an outcome. Every generated machine with a `run_async` method implements it;
/// a [`Pipeline`](crate::stream::Pipeline) runs one through
/// [`Concurrent`](crate::stream::Concurrent), with [`Pipeline::concurrency`](crate::stream::Pipeline::concurrency)
/// records in flight per worker.
pub trait AsyncMachine: Send + Sync {
    /// The record type.
    type Data: Send;
    /// The end states.
    type End: EndState;
    /// Runs one record from the start state to an end state.
    fn run_async(&self, data: Self::Data) -> impl Future<Output = RunResult<Self::End, Self::Data>> + Send;
}

impl<M: AsyncMachine + ?Sized> AsyncMachine for &M {
    type Data = M::Data;
    type End = M::End;
    fn run_async(&self, data: Self::Data) -> impl Future<Output = RunResult<Self::End, Self::Data>> + Send {
        (**self).run_async(data)
    }
}

impl<M: AsyncMachine + ?Sized> AsyncMachine for std::sync::Arc<M> {
    type Data = M::Data;
    type End = M::End;
    fn run_async(&self, data: Self::Data) -> impl Future<Output = RunResult<Self::End, Self::Data>> + Send {
        (**self).run_async(data)
    }
}

/// An event of a generated event-driven machine, with its name in the YAML.
pub trait EventName {
    /// The name as written in the machine definition.
    fn name(&self) -> &'static str;
}

/// Where a `step` or an event left a run of a generated machine.
///
/// `S` is the machine's position type (its state enum, or its `Position` enum when it has several
/// networks), `E` its end-state enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status<S, E> {
    /// The run is in state `S`; its functions ran; `step` takes the next transition.
    Running(S),
    /// The run is in state `S` and no eventless arc applies: it waits for an event.
    Waiting(S),
    /// The run reached an end state; it does not move any more.
    Finished(E),
}

impl<S, E> Status<S, E> {
    /// The end state, if the run finished.
    pub fn finished(&self) -> Option<&E> {
        match self {
            Status::Finished(e) => Some(e),
            _ => None,
        }
    }
}

/// Why an event-driven machine did not accept an event.
#[derive(Debug)]
pub enum HandleError<S, Ev> {
    /// The event was not taken: [`Reject`] says why. The run is unchanged and the event, with its
    /// payload, is handed back, whatever the reason (also after the run finished or failed).
    Rejected {
        /// The state the run is in.
        state: S,
        /// The event, handed back.
        event: Ev,
        /// Why it was not taken.
        reason: Reject,
    },
    /// The event was accepted, but a function failed on the way (and the state declares no
    /// `on_error`), or the eventless arcs that followed looped past the step limit. The run is
    /// stopped: later events are handed back with [`Reject::Failed`], and the run's `failure`
    /// keeps this error. Boxed, so that `handle`'s result stays small enough to return in
    /// registers.
    Failed(Box<RunError>),
}

/// Why an event was not taken (in [`HandleError::Rejected`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
    /// The state has no arc for this event.
    NoArc,
    /// The state has arcs for this event, and the condition of every one of them said no.
    Guard,
    /// The run has reached an end state: it takes no more events.
    Finished,
    /// The run stopped on an error earlier (the run's `failure` has it): it takes no more events.
    Failed,
}

impl Reject {
    /// What the reason says, in a few words.
    pub const fn describe(self) -> &'static str {
        match self {
            Reject::NoArc => "the state has no arc for it",
            Reject::Guard => "the condition of every arc for it said no",
            Reject::Finished => "the run has finished",
            Reject::Failed => "the run has failed",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl<S: StateName, Ev: EventName> fmt::Display for HandleError<S, Ev> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Rejected { state, event, reason } => write!(
                f,
                "event `{}` not accepted in state `{}`: {reason}",
                event.name(),
                state.name()
            ),
            HandleError::Failed(e) => e.fmt(f),
        }
    }
}

impl<S: StateName, Ev: EventName + fmt::Debug> std::error::Error for HandleError<S, Ev> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandleError::Rejected { .. } => None,
            HandleError::Failed(e) => Some(&**e),
        }
    }
}

/// The error of parsing a state or event name (`"input".parse::<StreamingProcessorState>()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What was parsed.
    pub name: String,
    /// The type it was parsed as.
    pub expected: &'static str,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a name of {}", self.name, self.expected)
    }
}

impl std::error::Error for UnknownName {}
