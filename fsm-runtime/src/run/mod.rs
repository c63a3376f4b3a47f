//! The run loop every generated machine shares.
//!
//! A generated machine says only what is particular to it: its state, end and event enums, its
//! functions trait, and one implementation of [`MachineDef`] made of `match` tables (visit a
//! state: run its functions and pick its eventless arc, as one `match`; dispatch an event; the
//! `on_error` arc and the end state of a position). Everything the same for every machine lives here, written once: the
//! position and the push-arc frames, step counting and the step limit, history with timings,
//! tracing spans, `on_error` arcs with the error kept for the context, [`Run::step`],
//! [`Run::finish`], [`Run::handle`] and its fast path.
//!
//! [`Run`] is generic over the machine, so monomorphisation inlines each machine's tables into the
//! loop: a run of a generated machine costs what a hand-written `match` costs (see the CD player
//! benchmark in `benches/benches/`).

mod async_loop;
mod compensate;
mod durable;
mod frames;
mod handle;
mod parallel;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use crate::core::{
    EndState, FnError, HistoryEntry, Outcome, Reject, RunError, RunOptions, RunResult, StateError, StateName, Status,
};
use crate::private::StoreSlot;

pub use async_loop::AsyncMachineDef;
pub use frames::{Frames, NoFrames, ReturnStack};
pub use parallel::{Branch, Change, Join, branch, join};

/// What a synchronous entry point of a machine with async functions says at compile time.
const SYNC_ON_ASYNC: &str = "this machine has async functions (`async: true`): a synchronous `run`, `step`, \
     `handle` or `finish` cannot wait for them; use `run_async`, `step_async`, `handle_async` or `finish_async` \
     inside an async runtime";
pub use handle::Handled;

/// What the functions of a state or an arc come to: `Err` holds the name of the function that
/// failed, with its error.
pub type CallResult = Result<(), (&'static str, FnError)>;

/// Where an arc leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next<P> {
    /// Into a state of the same network.
    To(P),
    /// Into another network (a push arc): its start state `start`. When that network reaches an
    /// end state, the run continues at `ret`, or, without one, at the return state of an outer
    /// push arc.
    Push {
        /// The start state of the pushed network.
        start: P,
        /// Where the run continues when the pushed network ends.
        ret: Option<P>,
    },
    /// Nowhere: an internal transition, which runs its transforms and stays in the state without
    /// leaving it or entering it again (no exit or entry functions, the position unchanged).
    Stay,
    /// Into a superstate with history: the state remembered in history slot `slot` (the state
    /// inside the superstate the run was last in), or `or` (its `initial` state) the first time.
    Resume {
        /// The superstate's history slot ([`MachineDef::history_slot`]).
        slot: usize,
        /// The state entered when the slot remembers none.
        or: P,
    },
}

/// The arc a machine's table chose: `Ok(Some(next))` when an arc was taken (its condition held and
/// its transforms ran), `Ok(None)` when no arc is available, `Err` when a transform of the chosen
/// arc failed (the source state's `on_error` arc applies).
pub type Choice<P> = Result<Option<Next<P>>, (&'static str, FnError)>;

/// A machine as the run loop sees it: the tables generated from its definition.
///
/// The tables with a default are left out by generated code where the default is the answer
/// (no `on_error` arc, no state that waits, no function, no arc).
///
/// `F` is the implementation of the machine's functions trait, `R` what holds its resources (`()`
/// for a machine without resources). Generated code implements it on a type of its own
/// (`<Machine>Def`); user code does not need to. The tables reach the record, the functions and
/// the resources through a [`Cx`].
pub trait MachineDef<F, R, L = ()>: Sized + 'static {
    /// A position of the machine: its state enum, or its `Position` enum when it has several
    /// networks.
    type Pos: StateName;
    /// Its end states.
    type End: EndState;
    /// The record that flows through it.
    type Data;
    /// Its events (`core::convert::Infallible` for a data-driven machine).
    type Event;
    /// The stack of push-arc frames: [`NoFrames`] when no arc pushes a network.
    type Frames: Frames<Self::Pos>;

    /// Name of the machine, as written in its definition.
    const NAME: &'static str;
    /// Where every run starts.
    const START: Self::Pos;

    /// The network of a position.
    fn network(pos: Self::Pos) -> &'static str;
    /// Whether a position is an end state of its network.
    fn is_end(pos: Self::Pos) -> bool;
    /// The end state a run finishes in at `pos`: `None` unless `pos` is an end state of the main
    /// network.
    fn end_of(pos: Self::Pos) -> Option<Self::End>;
    /// The target of the state's `on_error` arc.
    #[inline(always)]
    fn on_error(pos: Self::Pos) -> Option<Self::Pos> {
        let _ = pos;
        None
    }
    /// Where a failure `error` of the state's functions (or of its arcs' transforms) leads: the
    /// first of the state's `on_error` entries whose `kinds` include the error's kind, else its
    /// entry without kinds. Machines without kinds in their `on_error` lists keep the default,
    /// [`on_error`](MachineDef::on_error).
    #[inline(always)]
    fn on_error_for(pos: Self::Pos, error: &FnError) -> Option<Self::Pos> {
        let _ = error;
        Self::on_error(pos)
    }
    /// Whether the state has arcs triggered by events (a run may wait there).
    #[inline(always)]
    fn waits(pos: Self::Pos) -> bool {
        let _ = pos;
        false
    }
    /// Whether a run that an event's arc brings to `pos` waits there for the next event whatever
    /// happens: not an end state, no eventless arc, and no function that can divert it through an
    /// `on_error` arc. `handle` then knows the new status without looking further.
    #[inline(always)]
    fn settles(pos: Self::Pos) -> bool {
        let _ = pos;
        false
    }
    /// Whether entering `pos` runs no function (only the position changes).
    #[inline(always)]
    fn bare(pos: Self::Pos) -> bool {
        let _ = pos;
        false
    }
    /// How many superstates with history the machine has: the run keeps a slot for each.
    const HISTORY_SLOTS: usize = 0;
    /// The most transitions a run can take, when no path of eventless and `on_error` arcs comes
    /// back to a state it left (`None`: a loop is possible, or the machine pushes networks or
    /// resumes a history). A run whose step limit is at least this cannot reach it: the lean loop
    /// then counts its transitions without checking them against the limit.
    const LONGEST: Option<u32> = None;
    /// The history slot `pos` is recorded in when the run leaves it (the slot of the superstate
    /// with history it is inside).
    #[inline(always)]
    fn history_slot(pos: Self::Pos) -> Option<usize> {
        let _ = pos;
        None
    }
    /// A run begins: the entry actions of the superstates around the start state, outermost
    /// first, before the start state's own functions. A failure is the start state's (its
    /// `on_error` arc, or the run stops).
    #[inline(always)]
    fn begin(cx: &mut Cx<Self::Data, F, R, L>, data: &mut Self::Data) -> CallResult {
        let _ = (cx, data);
        Ok(())
    }
    /// What a run does in state `at`, as one `match` on it. With `ENTER`: runs the state's
    /// functions, in its data mode, under its resilience settings (entering the state). With
    /// `PICK`: takes the first available eventless arc of the state (by priority, then
    /// declaration order), its transforms run, and answers where it leads; `Ok(None)` when no
    /// eventless arc is available (an end state has none). A failure of either is the state's,
    /// answered as `Err` with the function's name.
    ///
    /// The run loop asks for both at once when it goes through a state (one dispatch on the
    /// position, not two), and for one of them when it is observed or stepped; the constants make
    /// each an instance of its own, with the other part compiled out.
    #[inline(always)]
    fn visit<const ENTER: bool, const PICK: bool>(
        cx: &mut Cx<Self::Data, F, R, L>,
        data: &mut Self::Data,
        at: Self::Pos,
    ) -> Choice<Self::Pos> {
        let _ = (cx, data, at);
        Ok(None)
    }
    /// The first arc of `from` for `event` whose condition holds, its transforms run;
    /// `Ok(None)` when no arc accepts the event.
    #[inline(always)]
    fn dispatch(
        cx: &mut Cx<Self::Data, F, R, L>,
        data: &mut Self::Data,
        from: Self::Pos,
        event: &Self::Event,
    ) -> Choice<Self::Pos> {
        let _ = (cx, data, from, event);
        Ok(None)
    }
    /// Whether `from` has an arc for `event`, whatever its condition says: tells a guard that said
    /// no ([`Reject::Guard`]) from an event the state has no arc for ([`Reject::NoArc`]). Asked
    /// only when `dispatch` took no arc.
    #[inline(always)]
    fn accepts(from: Self::Pos, event: &Self::Event) -> bool {
        let _ = (from, event);
        false
    }

    /// Whether any state has a compensation (`compensate`): the run then keeps the states it
    /// completed that have one, and takes the general path (no lean loop).
    const COMPENSATES: bool = false;
    /// Every position of the machine, for a durable run resumed from the names its store saved
    /// (generated for machines with a record store; empty for the others).
    const POSITIONS: &'static [Self::Pos] = &[];
    /// Whether `pos` has a compensation.
    #[inline(always)]
    fn compensation(pos: Self::Pos) -> bool {
        let _ = pos;
        false
    }
    /// Whether `pos` is an end state marked `compensate: true`: a run that finishes there
    /// compensates the states it completed first.
    #[inline(always)]
    fn compensates_at(pos: Self::Pos) -> bool {
        let _ = pos;
        false
    }
    /// Runs the compensation of `at` (in the state's data mode, under its `retry`).
    #[inline(always)]
    fn compensate(cx: &mut Cx<Self::Data, F, R, L>, data: &mut Self::Data, at: Self::Pos) -> CallResult {
        let _ = (cx, data, at);
        Ok(())
    }
    /// Whether some state runs async functions: the machine runs with `run_async`,
    /// `step_async`, `handle_async` and `finish_async` ([`AsyncMachineDef`]), and the synchronous
    /// entry points refuse to compile for it.
    const ASYNC: bool = false;

    /// Hook: the run takes a transition from `from` to `to` (also an internal one, `from == to`,
    /// an `on_error` arc, a push into a network and the return from it). Called after the arc's
    /// transforms ran, before the target's functions run. Generated machines forward it to the
    /// functions trait's `on_transition`, a no-op unless the functions override it.
    #[inline(always)]
    fn on_transition(fns: &F, from: Self::Pos, to: Self::Pos) {
        let _ = (fns, from, to);
    }
    /// Hook: an event arrives at a run in state `at`, before any arc is tried.
    #[inline(always)]
    fn on_dispatch(fns: &F, at: Self::Pos, event: &Self::Event) {
        let _ = (fns, at, event);
    }
    /// Hook: an event was not taken, for `reason`; it is handed back to the caller after this.
    #[inline(always)]
    fn on_reject(fns: &F, at: Self::Pos, event: &Self::Event, reason: Reject) {
        let _ = (fns, at, event, reason);
    }
}

/// Where a run is in its life.
#[derive(Clone, Debug)]
pub enum Phase<E> {
    /// Created; the start state is entered by the first `step` (or event).
    Start,
    /// In a state, its functions done.
    Running,
    /// At an end state.
    Finished(E),
    /// Stopped by an error, kept so that later calls report it again (boxed: a run stays small).
    Failed(Box<RunError>),
}

/// What a machine's tables reach, besides the record, while a run is in a state: its functions,
/// its resources, the last error followed through an `on_error` arc (for the functions' context),
/// and the record's store (for `reference` states). For generated code. The record is passed
/// beside it, so that a run nothing observes keeps it where its caller put it (no move into a
/// context and out again).
#[doc(hidden)]
pub struct Cx<D, F, R = (), L = ()> {
    /// The machine's functions.
    pub fns: F,
    /// The machine's resources.
    pub res: R,
    /// The last error followed through an `on_error` arc.
    pub error: Option<Box<StateError>>,
    /// The record's store, for `reference` states of a stored run: boxed, so that the context
    /// of a run without one (the most, and every async run) stays small in the run's future.
    pub store: Option<Box<StoreSlot<D>>>,
    /// The data of the state the run is in, for a machine whose states carry data (`()` for the
    /// others): set by the arc that enters such a state, dropped when the run leaves it.
    pub state_data: L,
}

impl<D, F, R, L> Cx<D, F, R, L> {
    /// [`Cx::into_error`] for a context made by [`Run::lean_context`]: it has no store, and a run
    /// never gives it one (a store comes with the run, `stored_in`, never from a state), so its
    /// empty store is not tested. The test would be one more per run: the store's address escapes
    /// to the drops on the unwinding paths, so the compiler cannot see that it stays empty.
    #[inline(always)]
    fn into_lean_error(self) -> Option<Box<StateError>> {
        let Cx { error, store, .. } = self;
        debug_assert!(store.is_none(), "a lean run's context has no store");
        std::mem::forget(store);
        error
    }

    /// The last error, ending the context. A store is dropped only where there is one: the
    /// common case, no store, costs a test, not a call.
    #[inline(always)]
    fn into_error(self) -> Option<Box<StateError>> {
        let Cx { error, store, .. } = self;
        if store.is_some() {
            drop(store);
        } else {
            std::mem::forget(store);
        }
        error
    }
}

/// A run of a generated machine: the record, where it is, the path taken.
///
/// Get one from the machine's `start` (or `into_run`); `step` takes one transition, `finish` runs
/// to an end state, `handle` feeds an event to an event-driven machine. Generated code names it
/// `<Machine>Run<F>`.
pub struct Run<M: MachineDef<F, R, L>, F, R = (), L = ()> {
    cx: Cx<M::Data, F, R, L>,
    data: M::Data,
    pos: M::Pos,
    /// `Some(pos)` while `handle` may take its fast path: the run is under way, nothing observes
    /// it, and no other method moved it since. The fast path moves into a state without functions
    /// by setting `live` alone, leaving `pos` behind: whatever clears `live` first brings `pos` up
    /// to date.
    live: Option<M::Pos>,
    phase: Phase<M::End>,
    /// History or a tracing subscriber: checked once, when the run is created.
    observe: bool,
    transitions: u32,
    /// `transitions` when the current event arrived: the step limit bounds what follows an event.
    base: u32,
    options: RunOptions,
    history: Vec<HistoryEntry>,
    started: Option<Instant>,
    frames: M::Frames,
    /// What each superstate with history remembers (empty without any: no allocation).
    recall: Vec<Option<M::Pos>>,
    /// The states completed that have a compensation, in the order they completed (last:
    /// compensated first); empty, never allocated, for a machine without compensations.
    saga: Vec<M::Pos>,
}

impl<M: MachineDef<F, (), L>, F, L: Default> Run<M, F, (), L> {
    /// A run of `data` with these functions and options, at the start state. Nothing runs until
    /// the first step (or event).
    #[inline]
    pub fn new(fns: F, data: M::Data, options: RunOptions) -> Self {
        Run::with_resources(fns, (), data, options)
    }
}

impl<M: MachineDef<F, R, L>, F, R, L: Default> Run<M, F, R, L> {
    /// A run of `data` with these functions, resources and options, at the start state.
    #[inline]
    pub fn with_resources(fns: F, res: R, data: M::Data, options: RunOptions) -> Self {
        Run {
            cx: Cx {
                fns,
                res,
                error: None,
                store: None,
                state_data: L::default(),
            },
            data,
            pos: M::START,
            live: None,
            phase: Phase::Start,
            observe: options.history || crate::private::tracing_enabled(),
            transitions: 0,
            base: 0,
            options,
            history: Vec::new(),
            started: None,
            frames: M::Frames::default(),
            recall: vec![None; M::HISTORY_SLOTS],
            saga: Vec::new(),
        }
    }

    /// Runs `data` from the start state to an end state, as `Run::with_resources(..).finish()`
    /// does, without building the run when nothing observes it. Generated `run` functions use
    /// [`complete!`](crate::__private::complete) instead, which keeps the record where the caller
    /// put it (a record passed by value to this function is copied once more).
    #[inline(always)]
    pub fn complete(fns: F, res: R, mut data: M::Data, options: RunOptions) -> RunResult<M::End, M::Data> {
        match Self::lean_context(fns, res, &options) {
            Ok(cx) => match Self::lean_finish(cx, &mut data, options.max_transitions) {
                Ok((end, transitions, error)) => Ok(Outcome {
                    end,
                    data,
                    error,
                    transitions,
                    history: Vec::new(),
                }),
                Err(error) => Err(crate::core::Failure { error, data }),
            },
            Err((fns, res)) => Self::with_resources(fns, res, data, options).finish_observed(),
        }
    }

    /// For [`complete!`](crate::__private::complete): the context of a run from the start that
    /// nothing observes (no history, no tracing, no compensation), or the functions and resources
    /// handed back when the run takes the general path.
    #[doc(hidden)]
    #[inline(always)]
    #[allow(clippy::type_complexity)] // a context or the two parts back, read where it is matched
    pub fn lean_context(fns: F, res: R, options: &RunOptions) -> Result<Cx<M::Data, F, R, L>, (F, R)> {
        const { assert!(!M::ASYNC, "{}", SYNC_ON_ASYNC) };
        if M::COMPENSATES || options.history || crate::private::tracing_enabled() {
            return Err((fns, res));
        }
        Ok(Cx {
            fns,
            res,
            error: None,
            store: None,
            state_data: L::default(),
        })
    }

    /// For [`complete!`](crate::__private::complete): the lean run of `data`, in place, from the
    /// start state: the end state, the transitions taken and the last error an `on_error` arc
    /// followed.
    #[doc(hidden)]
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    pub fn lean_finish(
        mut cx: Cx<M::Data, F, R, L>,
        data: &mut M::Data,
        max: u32,
    ) -> Result<(M::End, u32, Option<Box<StateError>>), RunError> {
        match M::LONGEST {
            // No loop: a run cannot take more than `longest` transitions, within the limit.
            Some(longest) if longest <= max => {}
            // A limit below the longest path, checked out of line, the context moved there: the
            // context of the common path stays local (its empty store known, not tested).
            Some(_) => return lean_limited_finish::<M, F, R, L>(cx, data, max),
            None => {}
        }
        let (end, transitions) = lean_any::<M, F, R, L>(&mut cx, data, max)?;
        Ok((end, transitions, cx.into_lean_error()))
    }

    /// A run of `data` that is in state `at` already, as if it had entered it: nothing runs
    /// until the next step or event, and `at`'s own functions do not run. For restoring a run from
    /// where it was, and for tests. `at` is taken as a state of the main network's level: a run
    /// started in a pushed network ends where that network ends.
    #[inline]
    pub fn start_in(fns: F, res: R, data: M::Data, options: RunOptions, at: M::Pos) -> Self {
        let mut run = Self::with_resources(fns, res, data, options);
        run.pos = at;
        run.phase = match M::end_of(at) {
            Some(end) => Phase::Finished(end),
            None => Phase::Running,
        };
        if run.observe {
            run.started = Some(Instant::now());
        }
        run
    }

    /// The error that stopped the run, once it failed: later steps and events report it (events
    /// are handed back with [`Reject::Failed`]).
    pub fn failure(&self) -> Option<&RunError> {
        match &self.phase {
            Phase::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The same run, its record kept in `slot`'s store: each `reference` state saves it back.
    #[doc(hidden)]
    #[inline]
    pub fn stored_in(mut self, slot: StoreSlot<M::Data>) -> Self {
        self.cx.store = Some(Box::new(slot));
        self
    }

    /// Where the run is: the start state until the first step, then the state last entered.
    #[inline]
    pub fn state(&self) -> M::Pos {
        self.live.unwrap_or(self.pos)
    }

    /// The end state, once the run finished.
    pub fn end(&self) -> Option<M::End> {
        match self.phase {
            Phase::Finished(end) => Some(end),
            _ => None,
        }
    }

    /// The record.
    pub fn data(&self) -> &M::Data {
        &self.data
    }

    /// The record, ending the run.
    pub fn into_data(self) -> M::Data {
        self.data
    }

    /// The states entered so far, with timings (empty unless [`RunOptions::history`]).
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// Transitions taken so far.
    pub fn transitions(&self) -> u32 {
        self.transitions
    }

    /// The last error the run followed through an `on_error` arc.
    pub fn last_error(&self) -> Option<&StateError> {
        self.cx.error.as_deref()
    }

    /// The data of the state the run is in, for a machine whose states carry data (`data:` of a
    /// state): `Option<<Machine>StateData>`, `None` in a state without data; `()` for a machine
    /// whose states carry none. Set by the arc that enters a state with data, dropped when the
    /// run leaves it (an internal arc keeps it, a self-transition makes it again).
    #[inline]
    pub fn state_data(&self) -> &L {
        &self.cx.state_data
    }

    /// The same run, in a state whose data is `state_data` (for `start_in_with`: the run was
    /// placed in that state).
    #[doc(hidden)]
    #[inline]
    pub fn with_state_data(mut self, state_data: L) -> Self {
        self.cx.state_data = state_data;
        self
    }

    /// The key of the record in its store and the version last loaded or saved; `None` for a run
    /// without a store.
    pub fn stored(&self) -> Option<(&str, u64)> {
        self.cx.store.as_ref().map(|s| (s.key(), s.version()))
    }

    /// Takes one transition: enters the start state (first call), or takes the first available
    /// eventless arc (by priority, then declaration order) and enters its target, running its
    /// functions. At an end state, returns `Finished` again. An error stops the run; later calls
    /// return it again.
    pub fn step(&mut self) -> Result<Status<M::Pos, M::End>, RunError> {
        const { assert!(!M::ASYNC, "{}", SYNC_ON_ASYNC) };
        self.catch_up();
        let moved = match &self.phase {
            Phase::Running => self.advance(),
            Phase::Start => self.begin().map(|()| true),
            Phase::Finished(end) => return Ok(Status::Finished(*end)),
            Phase::Failed(e) => return Err((**e).clone()),
        };
        self.stepped(moved)
    }

    /// Where a step left the run (shared by `step` and `step_async`): `moved` says whether it
    /// moved (`false`: it waits for an event), or why it stopped.
    fn stepped(&mut self, moved: Result<bool, RunError>) -> Result<Status<M::Pos, M::End>, RunError> {
        match moved {
            Ok(true) => match self.settle() {
                Ok(status) => Ok(status),
                Err(e) => Err(self.fail(e)),
            },
            Ok(false) => Ok(Status::Waiting(self.pos)),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Steps until an end state: the outcome, or why the run stopped (with the record as it was
    /// then). A run that waits for an event stops with `NoTransition`.
    #[inline(always)]
    pub fn finish(self) -> RunResult<M::End, M::Data> {
        const { assert!(!M::ASYNC, "{}", SYNC_ON_ASYNC) };
        if matches!(self.phase, Phase::Start) && !self.observe && !M::COMPENSATES && !self.durable() {
            let Run {
                mut cx,
                mut data,
                options,
                ..
            } = self;
            return lean_run!(M, F, R, L, cx, data, options.max_transitions);
        }
        self.finish_observed()
    }

    /// `finish` the general way: a run under way, or one that history or tracing observes.
    #[doc(hidden)]
    #[inline(never)]
    pub fn finish_observed(mut self) -> RunResult<M::End, M::Data> {
        self.catch_up();
        let ran = match &self.phase {
            // A failure on the way into the start state stops the run as any other does
            // (compensated, saved as failed when durable), as `step` and `handle` stop it.
            Phase::Start => match self.begin() {
                Ok(()) => self.run_to_end(),
                Err(e) => Err(self.fail(e)),
            },
            Phase::Running => self.run_to_end(),
            Phase::Finished(_) => Ok(()),
            Phase::Failed(e) => Err((**e).clone()),
        };
        self.outcome(ran)
    }

    /// The outcome of a run that `ran` to an end state, or why it stopped there (shared by
    /// `finish` and `finish_async`).
    fn outcome(self, ran: Result<(), RunError>) -> RunResult<M::End, M::Data> {
        match (ran, &self.phase) {
            (Ok(()), Phase::Finished(end)) => Ok(Outcome {
                end: *end,
                data: self.data,
                error: self.cx.error,
                transitions: self.transitions,
                history: self.history,
            }),
            (Ok(()), _) => Err(crate::core::Failure {
                error: RunError::NoTransition {
                    network: M::network(self.pos),
                    state: self.pos.name(),
                },
                data: self.data,
            }),
            (Err(error), _) => Err(crate::core::Failure { error, data: self.data }),
        }
    }

    /// Moves until an end state (`Ok`, the phase `Finished`) or a state that waits for an event
    /// (`Ok`, the phase still `Running`).
    fn run_to_end(&mut self) -> Result<(), RunError> {
        loop {
            match self.settle() {
                Ok(Status::Finished(_)) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(self.fail(e)),
            }
            match self.advance() {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    fn begin(&mut self) -> Result<(), RunError> {
        if let Err(failed) = self.open() {
            return self.enter_failed(M::START, failed);
        }
        self.arrive(M::START)
    }

    /// The run is under way (shared by the sync and async loops): its clock starts and the entry
    /// actions of the superstates around the start state run; the start state is entered next.
    fn open(&mut self) -> CallResult {
        self.phase = Phase::Running;
        if self.observe {
            self.started = Some(Instant::now());
        }
        M::begin(&mut self.cx, &mut self.data)
    }

    /// Brings `pos` up to date with the fast path's `live`, and leaves the fast path.
    #[inline]
    fn catch_up(&mut self) {
        if let Some(live) = self.live.take() {
            self.pos = live;
        }
    }

    #[cold]
    #[inline(never)]
    fn fail(&mut self, error: RunError) -> RunError {
        self.catch_up();
        let error = self.compensate_failure(error);
        self.failed_durably(&error);
        self.phase = Phase::Failed(Box::new(error.clone()));
        error
    }

    /// After a move: finished when at an end state of the main network (compensating first
    /// when it is marked `compensate: true`).
    fn settle(&mut self) -> Result<Status<M::Pos, M::End>, RunError> {
        match M::end_of(self.pos) {
            Some(end) if self.frames.is_empty() => {
                self.catch_up();
                if M::COMPENSATES && M::compensates_at(self.pos) {
                    self.compensate_at_end()?;
                }
                self.finished_durably();
                self.phase = Phase::Finished(end);
                Ok(Status::Finished(end))
            }
            _ => Ok(Status::Running(self.pos)),
        }
    }

    /// One eventless move from the current state; `false` when it waits for an event.
    fn advance(&mut self) -> Result<bool, RunError> {
        if M::is_end(self.pos) {
            if self.frames.is_empty() {
                return Err(stuck::<M, F, R, L>(self.pos));
            }
            return self.pop().map(|()| true);
        }
        if self.eventless()? {
            return Ok(true);
        }
        if M::waits(self.pos) {
            Ok(false)
        } else {
            Err(stuck::<M, F, R, L>(self.pos))
        }
    }

    /// Leaves a pushed network that reached an end state: continues at the return state of the
    /// innermost push arc that has one.
    fn pop(&mut self) -> Result<(), RunError> {
        match self.popped()? {
            Some(ret) => self.arrive(ret),
            None => Ok(()),
        }
    }

    /// The bookkeeping of [`Self::pop`] (shared with the async loop): the return state to enter,
    /// the transition counted and announced; `None` when no frame has one.
    #[inline]
    fn popped(&mut self) -> Result<Option<M::Pos>, RunError> {
        match pop_frame::<M, F, R, L>(&mut self.frames) {
            Some(ret) => {
                self.count()?;
                self.cx.state_data = L::default();
                remember::<M, F, R, L>(&mut self.recall, self.pos);
                M::on_transition(&self.cx.fns, self.pos, ret);
                Ok(Some(ret))
            }
            None => Ok(None),
        }
    }

    /// Counts a transition against the step limit.
    #[inline]
    fn count(&mut self) -> Result<(), RunError> {
        if self.transitions.wrapping_sub(self.base) >= self.options.max_transitions {
            return Err(limit(self.options.max_transitions, self.pos));
        }
        self.transitions = self.transitions.wrapping_add(1);
        Ok(())
    }

    /// Tries the eventless arcs of the current state; takes the first available one.
    fn eventless(&mut self) -> Result<bool, RunError> {
        let from = self.pos;
        match M::visit::<false, true>(&mut self.cx, &mut self.data, from) {
            Ok(Some(next)) => self.take(next, false).map(|()| true),
            Ok(None) => Ok(false),
            Err(failed) => self.arc_failed(from, failed).map(|()| true),
        }
    }

    /// Takes an arc. Eventless arcs count against the step limit; the arc an event takes does not
    /// (the limit bounds what follows an event).
    fn take(&mut self, next: Next<M::Pos>, by_event: bool) -> Result<(), RunError> {
        match self.route(next, by_event)? {
            Some(to) => self.arrive(to),
            None => Ok(()),
        }
    }

    /// The bookkeeping of [`Self::take`] (shared with the async loop): the arc counted, the state
    /// left remembered, the transition announced; the state to enter, `None` for an internal arc.
    #[inline]
    fn route(&mut self, next: Next<M::Pos>, by_event: bool) -> Result<Option<M::Pos>, RunError> {
        if by_event {
            self.transitions = self.transitions.wrapping_add(1);
        } else {
            self.count()?;
        }
        let from = self.pos;
        match next {
            Next::To(to) => {
                remember::<M, F, R, L>(&mut self.recall, from);
                M::on_transition(&self.cx.fns, from, to);
                Ok(Some(to))
            }
            Next::Resume { slot, or } => {
                remember::<M, F, R, L>(&mut self.recall, from);
                let to = recalled::<M, F, R, L>(&self.recall, slot, or);
                M::on_transition(&self.cx.fns, from, to);
                Ok(Some(to))
            }
            Next::Push { start, ret } => {
                if !self.frames.push(ret) {
                    return Err(limit(self.options.max_transitions, self.pos));
                }
                remember::<M, F, R, L>(&mut self.recall, from);
                M::on_transition(&self.cx.fns, from, start);
                Ok(Some(start))
            }
            Next::Stay => {
                M::on_transition(&self.cx.fns, from, from);
                Ok(None)
            }
        }
    }

    /// Enters `to` and runs its functions; on failure follows the state's `on_error` arc, or stops.
    #[inline]
    fn arrive(&mut self, to: M::Pos) -> Result<(), RunError> {
        self.live = None;
        self.pos = to;
        match self.enter(to) {
            Ok(()) => {
                self.completed(to);
                Ok(())
            }
            Err(failed) => self.enter_failed(to, failed),
        }
    }

    /// The functions of `to`, observed (tracing span, history) when the run is.
    #[inline]
    fn enter(&mut self, to: M::Pos) -> CallResult {
        if self.cx.store.is_some() {
            self.entering(to);
        }
        if self.observe {
            self.observed(to)
        } else {
            M::visit::<true, false>(&mut self.cx, &mut self.data, to).map(drop)
        }
    }

    /// A state's functions failed on entering it: its `on_error` arcs, as long as the states
    /// they lead to fail too, or stop. Out of line: entering a state rarely fails.
    #[cold]
    #[inline(never)]
    pub(super) fn enter_failed(&mut self, mut at: M::Pos, mut failed: (&'static str, FnError)) -> Result<(), RunError> {
        loop {
            at = self.divert(at, failed)?;
            match self.enter(at) {
                Ok(()) => {
                    self.completed(at);
                    return Ok(());
                }
                Err(again) => failed = again,
            }
        }
    }

    /// A failure of an arc's transform: the source state's `on_error` arc, or stop.
    fn arc_failed(&mut self, from: M::Pos, failed: (&'static str, FnError)) -> Result<(), RunError> {
        let next = self.divert(from, failed)?;
        self.arrive(next)
    }

    /// The bookkeeping of a failure at `at` (shared by the sync and async loops): the error kept
    /// for the context, the `on_error` arc counted and announced, the run moved to its target,
    /// which is answered (its functions not run yet); without an `on_error` arc, the run's error.
    #[cold]
    fn divert(&mut self, at: M::Pos, failed: (&'static str, FnError)) -> Result<M::Pos, RunError> {
        self.live = None;
        self.pos = at;
        let target = M::on_error_for(at, &failed.1);
        let failure = state_error::<M, F, R, L>(at, failed);
        let Some(next) = target else {
            return Err(RunError::Function(failure));
        };
        self.cx.error = Some(Box::new(failure));
        self.count()?;
        // An `on_error` arc leaves the failed state: its data goes (no error state has any).
        self.cx.state_data = L::default();
        remember::<M, F, R, L>(&mut self.recall, at);
        M::on_transition(&self.cx.fns, at, next);
        self.pos = next;
        Ok(next)
    }

    /// A state's functions with a tracing span and a history entry.
    fn observed(&mut self, to: M::Pos) -> CallResult {
        let _span = crate::private::transition_span(M::NAME, M::network(to), to.name());
        if !self.options.history {
            return M::visit::<true, false>(&mut self.cx, &mut self.data, to).map(drop);
        }
        let begin = Instant::now();
        let result = M::visit::<true, false>(&mut self.cx, &mut self.data, to).map(drop);
        self.record(to, begin, false);
        result
    }

    /// A history entry for `pos`, whose functions (or compensation) began at `begin`.
    pub(super) fn record(&mut self, pos: M::Pos, begin: Instant, compensation: bool) {
        let at = self
            .started
            .map_or(Duration::ZERO, |s| begin.saturating_duration_since(s));
        self.history.push(HistoryEntry {
            network: M::network(pos),
            state: pos.name(),
            at,
            took: begin.elapsed(),
            compensation,
        });
    }
}

/// [`lean`] on a context and a record held in locals `cx` and `data`, then the outcome, the
/// record moved once. A macro, not a function: a record passed by value to a helper is copied
/// again, inlined or not (measured: 24 instructions per record of the seed processor).
macro_rules! lean_run {
    ($m:ty, $f:ty, $r:ty, $l:ty, $cx:ident, $data:ident, $max:expr) => {
        match lean_any::<$m, $f, $r, $l>(&mut $cx, &mut $data, $max) {
            Ok((end, transitions)) => Ok(Outcome {
                end,
                data: $data,
                error: $cx.into_error(),
                transitions,
                history: Vec::new(),
            }),
            Err(error) => Err(crate::core::Failure { error, data: $data }),
        }
    };
}
use lean_run;

/// The body of a generated machine's `run(&self, mut data)`: [`Run::complete`] with the record
/// kept in the caller's `data` (the function's argument), run in place and moved once, into the
/// outcome. A macro, not a function, for the reason [`lean_run`] is one (measured: 19
/// instructions per record of the seed processor). `$run` is the machine's `Run` type (its
/// functions and resources inferred: `Run<Def, _, _>`).
#[doc(hidden)]
#[macro_export]
macro_rules! __fsm_complete {
    ($run:ty, $fns:expr, $res:expr, $data:ident, $options:expr) => {{
        let __options: $crate::RunOptions = $options;
        match <$run>::lean_context($fns, $res, &__options) {
            ::core::result::Result::Ok(__cx) => {
                match <$run>::lean_finish(__cx, &mut $data, __options.max_transitions) {
                    ::core::result::Result::Ok((end, transitions, error)) => {
                        ::core::result::Result::Ok($crate::Outcome {
                            end,
                            data: $data,
                            error,
                            transitions,
                            history: ::std::vec::Vec::new(),
                        })
                    }
                    ::core::result::Result::Err(error) => {
                        ::core::result::Result::Err($crate::Failure { error, data: $data })
                    }
                }
            }
            ::core::result::Result::Err((__fns, __res)) => {
                <$run>::with_resources(__fns, __res, $data, __options).finish_observed()
            }
        }
    }};
}

/// `finish` from the start, for a run nothing observes: one loop that enters a state, stops at an
/// end state, or picks the next arc and counts it. The same moves, errors and counts as the
/// general path (`begin`, then `run_to_end`), with its position, count and frames in locals.
/// It works on the record where the caller holds it, and answers the end state and the count:
/// the caller moves the record once, into the outcome.
#[inline(always)]
fn lean_any<M: MachineDef<F, R, L>, F, R, L: Default>(
    cx: &mut Cx<M::Data, F, R, L>,
    data: &mut M::Data,
    max: u32,
) -> Result<(M::End, u32), RunError> {
    match M::LONGEST {
        None => lean::<M, F, R, L, true>(cx, data, max),
        // No loop: a run cannot take more than `longest` transitions, within the limit.
        Some(longest) if longest <= max => lean::<M, F, R, L, false>(cx, data, max),
        Some(_) => lean_limited::<M, F, R, L>(cx, data, max),
    }
}

/// [`lean`] with a step limit below the longest path of a machine without loops: checked, out of
/// line (a limit that low is for tests).
#[inline(never)]
fn lean_limited<M: MachineDef<F, R, L>, F, R, L: Default>(
    cx: &mut Cx<M::Data, F, R, L>,
    data: &mut M::Data,
    max: u32,
) -> Result<(M::End, u32), RunError> {
    lean::<M, F, R, L, true>(cx, data, max)
}

/// [`Run::lean_finish`] with a step limit below the longest path of a machine without loops:
/// [`lean_limited`], the context moved in and its error handed back.
#[inline(never)]
#[allow(clippy::type_complexity)]
fn lean_limited_finish<M: MachineDef<F, R, L>, F, R, L: Default>(
    mut cx: Cx<M::Data, F, R, L>,
    data: &mut M::Data,
    max: u32,
) -> Result<(M::End, u32, Option<Box<StateError>>), RunError> {
    let (end, transitions) = lean::<M, F, R, L, true>(&mut cx, data, max)?;
    Ok((end, transitions, cx.into_error()))
}

/// The loop of [`lean_any`]: `LIMITED` checks each transition against the step limit `max`.
#[inline(always)]
fn lean<M: MachineDef<F, R, L>, F, R, L: Default, const LIMITED: bool>(
    cx: &mut Cx<M::Data, F, R, L>,
    data: &mut M::Data,
    max: u32,
) -> Result<(M::End, u32), RunError> {
    let mut transitions: u32 = 0;
    let mut frames = M::Frames::default();
    let mut recall: Vec<Option<M::Pos>> = vec![None; M::HISTORY_SLOTS];
    let mut to = M::START;
    if let Err(failed) = M::begin(cx, data) {
        // Into the superstates around the start state failed: the start state's error arc.
        let target = M::on_error_for(to, &failed.1);
        let failure = state_error::<M, F, R, L>(to, failed);
        let Some(next) = target else {
            return Err(RunError::Function(failure));
        };
        cx.error = Some(Box::new(failure));
        if LIMITED && max == 0 {
            return Err(limit(max, to));
        }
        transitions = 1;
        cx.state_data = L::default();
        M::on_transition(&cx.fns, to, next);
        to = next;
    }
    loop {
        let failed = match M::visit::<true, true>(cx, data, to) {
            Ok(Some(next)) => {
                if LIMITED && transitions >= max {
                    return Err(limit(max, to));
                }
                transitions = transitions.wrapping_add(1);
                let from = to;
                match next {
                    Next::To(p) => to = p,
                    Next::Resume { slot, or } => {
                        remember::<M, F, R, L>(&mut recall, from);
                        to = recalled::<M, F, R, L>(&recall, slot, or);
                    }
                    Next::Push { start, ret } => {
                        if !frames.push(ret) {
                            return Err(limit(max, to));
                        }
                        to = start;
                    }
                    // An internal eventless arc (refused by the compiler): the state again, its
                    // functions not run again; the step limit ends a loop of it.
                    Next::Stay => {
                        M::on_transition(&cx.fns, from, from);
                        continue;
                    }
                }
                remember::<M, F, R, L>(&mut recall, from);
                M::on_transition(&cx.fns, from, to);
                continue;
            }
            // No eventless arc: an end state (of a pushed network, or of the run), or stuck.
            Ok(None) => {
                // In the main network, the end state is the whole answer: one look-up.
                if frames.is_empty()
                    && let Some(end) = M::end_of(to)
                {
                    return Ok((end, transitions));
                }
                if !M::is_end(to) {
                    return Err(stuck::<M, F, R, L>(to));
                }
                if let Some(ret) = pop_frame::<M, F, R, L>(&mut frames) {
                    if LIMITED && transitions >= max {
                        return Err(limit(max, to));
                    }
                    transitions = transitions.wrapping_add(1);
                    cx.state_data = L::default();
                    remember::<M, F, R, L>(&mut recall, to);
                    M::on_transition(&cx.fns, to, ret);
                    to = ret;
                    continue;
                }
                return match M::end_of(to) {
                    Some(end) => Ok((end, transitions)),
                    None => Err(stuck::<M, F, R, L>(to)),
                };
            }
            Err(failed) => failed,
        };
        let target = M::on_error_for(to, &failed.1);
        let failure = state_error::<M, F, R, L>(to, failed);
        let Some(next) = target else {
            return Err(RunError::Function(failure));
        };
        cx.error = Some(Box::new(failure));
        if LIMITED && transitions >= max {
            return Err(limit(max, to));
        }
        transitions = transitions.wrapping_add(1);
        cx.state_data = L::default();
        remember::<M, F, R, L>(&mut recall, to);
        M::on_transition(&cx.fns, to, next);
        to = next;
    }
}

/// The run leaves `from`: the superstate with history around it remembers it. Nothing for a
/// machine without history (the slot table answers `None`, inlined away).
#[inline(always)]
fn remember<M: MachineDef<F, R, L>, F, R, L>(recall: &mut [Option<M::Pos>], from: M::Pos) {
    if let Some(slot) = M::history_slot(from).and_then(|k| recall.get_mut(k)) {
        *slot = Some(from);
    }
}

/// Where an arc into a superstate with history leads: the state remembered, or `or`.
#[inline]
fn recalled<M: MachineDef<F, R, L>, F, R, L>(recall: &[Option<M::Pos>], slot: usize, or: M::Pos) -> M::Pos {
    recall.get(slot).copied().flatten().unwrap_or(or)
}

/// The return state of the innermost push frame that has one, dropping the frames on the way
/// (push arcs without a return state).
#[inline]
fn pop_frame<M: MachineDef<F, R, L>, F, R, L>(frames: &mut M::Frames) -> Option<M::Pos> {
    while let Some(frame) = frames.pop() {
        if frame.is_some() {
            return frame;
        }
    }
    None
}

fn state_error<M: MachineDef<F, R, L>, F, R, L>(at: M::Pos, (function, error): (&'static str, FnError)) -> StateError {
    StateError {
        network: M::network(at),
        state: at.name(),
        function,
        error,
    }
}

fn stuck<M: MachineDef<F, R, L>, F, R, L>(at: M::Pos) -> RunError {
    RunError::NoTransition {
        network: M::network(at),
        state: at.name(),
    }
}

fn limit(max: u32, at: impl StateName) -> RunError {
    RunError::StepLimit {
        limit: max,
        state: at.name(),
    }
}

impl<M: MachineDef<F, R, L>, F, R, L: Default> fmt::Debug for Run<M, F, R, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("machine", &M::NAME)
            .field("state", &self.state())
            .field("phase", &self.phase)
            .field("transitions", &self.transitions)
            .finish_non_exhaustive()
    }
}
