//! The async twin of the run loop, for machines with async functions: `run_async` (through
//! [`Run::complete_async`]), [`Run::step_async`], [`Run::finish_async`] and [`Run::handle_async`].
//!
//! It walks the same tables as the synchronous loop and keeps the same books with the same
//! functions (`route`, `divert`, `popped`, `count`, `settle`, `stepped`, `outcome`, `open`,
//! `completed`, `fail`, `closed`, `refuse`, `record`): what differs is only that entering a state awaits
//! [`AsyncMachineDef::enter_async`], so a state whose functions wait on the network holds no
//! thread while it waits. Arcs (conditions and transforms) stay synchronous: picking an arc is a
//! `match`, and the compiler refuses an async function there.
//!
//! Nothing here depends on a particular executor: the futures are plain `std` futures, `Send`
//! when the machine's functions, resources and record are, so they run on a current-thread or a
//! multi-thread tokio runtime alike (or under any other executor, as long as no state sets a
//! timeout, a retry wait, a bulkhead or a rate limit, which use tokio's timers and semaphores).

use std::future::Future;
use std::time::Instant;

use super::{
    CallResult, Cx, Frames, MachineDef, Next, Phase, Run, limit, pop_frame, recalled, remember, state_error, stuck,
};
use crate::core::{FnError, HandleError, Outcome, RunError, RunOptions, RunResult, StateName, Status};

/// The table of a machine with async functions that the async loop adds to [`MachineDef`]:
/// entering a state, awaiting its functions. Generated code implements it for machines that
/// declare a function `async: true`; for a state without async functions it answers with the
/// synchronous table (`visit::<true, false>`), as a future that is ready at once.
pub trait AsyncMachineDef<F, R>: MachineDef<F, R> {
    /// Runs the functions of `at` (entering it), in its data mode and under its resilience
    /// settings; a failure is the state's, with the name of the function that failed.
    fn enter_async<'a>(
        cx: &'a mut Cx<Self::Data, F, R>,
        data: &'a mut Self::Data,
        at: Self::Pos,
    ) -> impl Future<Output = CallResult> + Send + 'a;
}

/// `finish_async` from the start, for a run nothing observes: the async twin of the synchronous
/// loop's `lean`. One loop awaits the functions of the state it enters, stops at an end state (or
/// leaves a pushed network), or picks the next eventless arc and counts it; a failure follows the
/// state's `on_error` arc. The same moves, errors, counts and hooks as the general path
/// (`begin_async`, then `run_to_end_async`), with the position, the count and the frames in
/// locals, and one future (`enter_async`'s) awaited below it, where the general path polls a chain
/// of six.
///
/// A macro, not an `async fn`: expanded in [`Run::complete_async`], whose future is then one
/// generator, not two awaited one inside the other. `$cx` and `$data` are the context and the
/// record, locals of the caller; the value is the end state and the transitions taken.
macro_rules! lean_async {
    ($m:ty, $f:ty, $r:ty, $cx:ident, $data:ident, $max:ident) => {
        'lean: {
            let $cx = &mut $cx;
            let $data = &mut $data;
            let mut transitions: u32 = 0;
            let mut frames = <$m>::Frames::default();
            let mut recall: Vec<Option<<$m>::Pos>> = vec![None; <$m>::HISTORY_SLOTS];
            let mut to = <$m>::START;
            // Into the superstates around the start state: a failure is the start state's.
            let mut failed = <$m>::begin($cx, $data).err();
            loop {
                // A failure moved out before the await, not kept across it: the run's future stays small.
                let entered = match failed {
                    None => <$m>::enter_async($cx, $data, to).await,
                    Some(failure) => Err(failure),
                };
                failed = None;
                if let Err(failure) = entered {
                    // The state's (or its arc's) function failed: its `on_error` arc, or stop.
                    let target = <$m>::on_error_for(to, &failure.1);
                    let failure = state_error::<$m, $f, $r, ()>(to, failure);
                    let Some(next) = target else {
                        break 'lean Err(RunError::Function(failure));
                    };
                    $cx.error = Some(Box::new(failure));
                    if transitions >= $max {
                        break 'lean Err(limit($max, to));
                    }
                    transitions = transitions.wrapping_add(1);
                    remember::<$m, $f, $r, ()>(&mut recall, to);
                    <$m>::on_transition(&$cx.fns, to, next);
                    to = next;
                    continue;
                }
                if <$m>::is_end(to) {
                    // The end of the run, or of a pushed network: the return state of its push arc.
                    let Some(ret) = pop_frame::<$m, $f, $r, ()>(&mut frames) else {
                        break 'lean match <$m>::end_of(to) {
                            Some(end) => Ok((end, transitions)),
                            None => Err(stuck::<$m, $f, $r, ()>(to)),
                        };
                    };
                    if transitions >= $max {
                        break 'lean Err(limit($max, to));
                    }
                    transitions = transitions.wrapping_add(1);
                    remember::<$m, $f, $r, ()>(&mut recall, to);
                    <$m>::on_transition(&$cx.fns, to, ret);
                    to = ret;
                    continue;
                }
                // The eventless arcs of `to`; an internal one stays (its functions not run again) and
                // picks again, the step limit ending a loop of it.
                loop {
                    let next = match <$m>::visit::<false, true>($cx, $data, to) {
                        Ok(Some(next)) => next,
                        // A state that waits for an event, or has no arc available: the run stops there.
                        Ok(None) => break 'lean Err(stuck::<$m, $f, $r, ()>(to)),
                        Err(failure) => {
                            failed = Some(failure);
                            break;
                        }
                    };
                    if transitions >= $max {
                        break 'lean Err(limit($max, to));
                    }
                    transitions = transitions.wrapping_add(1);
                    let from = to;
                    to = match next {
                        Next::To(p) => p,
                        Next::Resume { slot, or } => {
                            remember::<$m, $f, $r, ()>(&mut recall, from);
                            recalled::<$m, $f, $r, ()>(&recall, slot, or)
                        }
                        Next::Push { start, ret } => {
                            if !frames.push(ret) {
                                break 'lean Err(limit($max, from));
                            }
                            start
                        }
                        Next::Stay => {
                            <$m>::on_transition(&$cx.fns, from, from);
                            continue;
                        }
                    };
                    remember::<$m, $f, $r, ()>(&mut recall, from);
                    <$m>::on_transition(&$cx.fns, from, to);
                    break;
                }
            }
        }
    };
}

impl<M: AsyncMachineDef<F, R>, F, R> Run<M, F, R> {
    /// Runs `data` from the start state to an end state, as `run_async` does: the async
    /// `Run::complete`.
    ///
    /// A run nothing observes (no history, no tracing subscriber, no compensation) takes the lean
    /// path (`lean_async`): the same moves, counts and errors, with the position and the count
    /// in locals. The general path is boxed: its future (a whole [`Run`] and the chain of the
    /// loop's futures) would otherwise set the size of every run's future, which an executor
    /// moves into its task and a set of runs in flight keeps, one per record.
    pub async fn complete_async(fns: F, res: R, mut data: M::Data, options: RunOptions) -> RunResult<M::End, M::Data> {
        if M::COMPENSATES || options.history || crate::private::tracing_enabled() {
            return Box::pin(Self::with_resources(fns, res, data, options).finish_async()).await;
        }
        let mut cx = Cx {
            fns,
            res,
            error: None,
            store: None,
            state_data: (),
        };
        let max = options.max_transitions;
        // The lean loop, written out here rather than awaited as a future of its own: one
        // generator fewer to poll on every wake-up, and one state machine in the run's future.
        match lean_async!(M, F, R, cx, data, max) {
            Ok((end, transitions)) => Ok(Outcome {
                end,
                data,
                error: cx.into_error(),
                transitions,
                history: Vec::new(),
            }),
            Err(error) => Err(crate::core::Failure { error, data }),
        }
    }

    /// [`Run::step`] for a machine with async functions: takes one transition, awaiting the
    /// functions of the state it enters.
    pub async fn step_async(&mut self) -> Result<Status<M::Pos, M::End>, RunError> {
        self.catch_up();
        let moved = match &self.phase {
            Phase::Running => self.advance_async().await,
            Phase::Start => self.begin_async().await.map(|()| true),
            Phase::Finished(end) => return Ok(Status::Finished(*end)),
            Phase::Failed(e) => return Err((**e).clone()),
        };
        self.stepped(moved)
    }

    /// [`Run::finish`] for a machine with async functions: steps until an end state.
    pub async fn finish_async(mut self) -> RunResult<M::End, M::Data> {
        self.catch_up();
        let ran = match &self.phase {
            Phase::Start => match self.begin_async().await {
                Ok(()) => self.run_to_end_async().await,
                Err(e) => Err(self.fail(e)),
            },
            Phase::Running => self.run_to_end_async().await,
            Phase::Finished(_) => Ok(()),
            Phase::Failed(e) => Err((**e).clone()),
        };
        self.outcome(ran)
    }

    /// [`Run::handle`] for a machine with async functions: the event's arc, then the functions of
    /// the states it leads through, awaited, until the run waits for the next event or ends. The
    /// same answers and rejections as `handle`.
    pub async fn handle_async(&mut self, event: M::Event) -> super::Handled<M, F, R> {
        self.catch_up();
        if let Some(reason) = self.closed() {
            return Err(self.reject(self.pos, event, reason));
        }
        if let Phase::Start = self.phase {
            self.base = 0;
            let begun = match self.begin_async().await {
                Ok(()) => self.rest_async().await,
                Err(e) => Err(e),
            };
            match begun {
                Ok(Status::Finished(_)) => return Err(self.reject(self.pos, event, crate::core::Reject::Finished)),
                Ok(_) => {}
                Err(e) => return Err(HandleError::Failed(Box::new(self.fail(e)))),
            }
        }
        let from = self.pos;
        M::on_dispatch(&self.cx.fns, from, &event);
        let choice = M::dispatch(&mut self.cx, &mut self.data, from, &event);
        self.base = self.transitions;
        let moved = match choice {
            Ok(Some(next)) => self.take_async(next, true).await,
            Ok(None) => return Err(self.refuse(from, event)),
            Err(failed) => self.arc_failed_async(from, failed).await,
        };
        let result = match moved {
            Ok(()) => self.rest_async().await,
            Err(e) => Err(e),
        };
        result.map_err(|e| HandleError::Failed(Box::new(self.fail(e))))
    }

    async fn begin_async(&mut self) -> Result<(), RunError> {
        if let Err(failed) = self.open() {
            return self.enter_failed_async(M::START, failed).await;
        }
        self.arrive_async(M::START).await
    }

    /// Moves until an end state or a state that waits for an event; an error stops the run, as
    /// `run_to_end` does (`fail`: the states completed are compensated).
    async fn run_to_end_async(&mut self) -> Result<(), RunError> {
        loop {
            match self.settle() {
                Ok(Status::Finished(_)) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(self.fail(e)),
            }
            match self.advance_async().await {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// One eventless move; `false` when the run waits for an event.
    async fn advance_async(&mut self) -> Result<bool, RunError> {
        if M::is_end(self.pos) {
            if self.frames.is_empty() {
                return Err(stuck::<M, F, R, ()>(self.pos));
            }
            return self.pop_async().await.map(|()| true);
        }
        if self.eventless_async().await? {
            return Ok(true);
        }
        if M::waits(self.pos) {
            Ok(false)
        } else {
            Err(stuck::<M, F, R, ()>(self.pos))
        }
    }

    /// After an event's arc: eventless arcs until the run waits or ends.
    async fn rest_async(&mut self) -> Result<Status<M::Pos, M::End>, RunError> {
        loop {
            if M::is_end(self.pos) {
                if self.frames.is_empty() {
                    return self.settle();
                }
                self.pop_async().await?;
                continue;
            }
            if !self.eventless_async().await? {
                return if M::waits(self.pos) {
                    Ok(Status::Waiting(self.pos))
                } else {
                    Err(stuck::<M, F, R, ()>(self.pos))
                };
            }
        }
    }

    async fn pop_async(&mut self) -> Result<(), RunError> {
        match self.popped()? {
            Some(ret) => self.arrive_async(ret).await,
            None => Ok(()),
        }
    }

    /// The eventless arcs of the current state (synchronous: the same table as `step`); takes
    /// the first available one and enters its target.
    async fn eventless_async(&mut self) -> Result<bool, RunError> {
        let from = self.pos;
        match M::visit::<false, true>(&mut self.cx, &mut self.data, from) {
            Ok(Some(next)) => self.take_async(next, false).await.map(|()| true),
            Ok(None) => Ok(false),
            Err(failed) => self.arc_failed_async(from, failed).await.map(|()| true),
        }
    }

    async fn take_async(&mut self, next: super::Next<M::Pos>, by_event: bool) -> Result<(), RunError> {
        match self.route(next, by_event)? {
            Some(to) => self.arrive_async(to).await,
            None => Ok(()),
        }
    }

    async fn arc_failed_async(&mut self, from: M::Pos, failed: (&'static str, FnError)) -> Result<(), RunError> {
        let next = self.divert(from, failed)?;
        self.arrive_async(next).await
    }

    /// Enters `to` and awaits its functions; on failure follows its `on_error` arcs, or stops.
    async fn arrive_async(&mut self, to: M::Pos) -> Result<(), RunError> {
        self.live = None;
        self.pos = to;
        match self.enter_async(to).await {
            Ok(()) => {
                self.completed(to);
                Ok(())
            }
            Err(failed) => self.enter_failed_async(to, failed).await,
        }
    }

    async fn enter_failed_async(
        &mut self,
        mut at: M::Pos,
        mut failed: (&'static str, FnError),
    ) -> Result<(), RunError> {
        loop {
            at = self.divert(at, failed)?;
            match self.enter_async(at).await {
                Ok(()) => {
                    self.completed(at);
                    return Ok(());
                }
                Err(again) => failed = again,
            }
        }
    }

    /// The functions of `to`, awaited; with a history entry when the run keeps history, inside
    /// the transition's tracing span when a subscriber listens.
    async fn enter_async(&mut self, to: M::Pos) -> CallResult {
        if !self.observe {
            return M::enter_async(&mut self.cx, &mut self.data, to).await;
        }
        let begin = Instant::now();
        let entered = M::enter_async(&mut self.cx, &mut self.data, to);
        let result = crate::private::in_transition_span(M::NAME, M::network(to), to.name(), entered).await;
        if self.options.history {
            self.record(to, begin, false);
        }
        result
    }
}
