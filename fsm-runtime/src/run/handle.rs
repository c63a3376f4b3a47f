//! `handle`: feeding events to an event-driven machine, with a fast path for the common arc.

use super::{Frames, MachineDef, Next, Phase, Run, stuck};
use crate::core::{FnError, HandleError, Reject, RunError, Status};

/// What `handle` answers: where the run waits or ended, or why the event was not taken.
pub type Handled<M, F, R, L = ()> = Result<
    Status<<M as MachineDef<F, R, L>>::Pos, <M as MachineDef<F, R, L>>::End>,
    HandleError<<M as MachineDef<F, R, L>>::Pos, <M as MachineDef<F, R, L>>::Event>,
>;

impl<M: MachineDef<F, R, L>, F, R, L: Default> Run<M, F, R, L> {
    /// Handles an event: takes the first arc of the current state for this event whose condition
    /// holds (by priority, then declaration order), runs its transforms and the target's
    /// functions, then any eventless arcs that follow, until the run waits for the next event or
    /// ends. An event that is not taken is handed back in `HandleError::Rejected`, the run
    /// unchanged, with the reason: no arc of the state is for it ([`Reject::NoArc`]), the
    /// conditions of its arcs said no ([`Reject::Guard`]), or the run had finished or failed
    /// before ([`Reject::Finished`], [`Reject::Failed`]).
    #[inline]
    pub fn handle(&mut self, event: M::Event) -> Handled<M, F, R, L> {
        const { assert!(!M::ASYNC, "{}", super::SYNC_ON_ASYNC) };
        match self.live {
            Some(from) => self.dispatch(from, event, false),
            None => self.handle_slow(event),
        }
    }

    /// `handle` when the fast path does not apply: the first event, a run that history or
    /// tracing observes, a run `step` moved, a finished or failed run.
    #[cold]
    #[inline(never)]
    fn handle_slow(&mut self, event: M::Event) -> Handled<M, F, R, L> {
        if let Some(reason) = self.closed() {
            return Err(self.reject(self.pos, event, reason));
        }
        match &self.phase {
            Phase::Failed(_) | Phase::Finished(_) => {}
            Phase::Start => {
                self.base = 0;
                match self.begin().and_then(|()| self.rest()) {
                    Ok(Status::Finished(_)) => return Err(self.reject(self.pos, event, Reject::Finished)),
                    Ok(_) => {}
                    Err(e) => return Err(HandleError::Failed(Box::new(self.fail(e)))),
                }
            }
            Phase::Running => {}
        }
        let observe = self.observe;
        if !observe {
            self.live = Some(self.pos);
        }
        self.dispatch(self.pos, event, observe)
    }

    /// The arc for `event` from `from`, the current state, and what follows it.
    #[inline(always)]
    fn dispatch(&mut self, from: M::Pos, event: M::Event, observe: bool) -> Handled<M, F, R, L> {
        M::on_dispatch(&self.cx.fns, from, &event);
        let result = match M::dispatch(&mut self.cx, &mut self.data, from, &event) {
            // The common case of a hand-written `match`: the target waits for the next event
            // whatever its functions do, so the new status is known.
            Ok(Some(Next::To(to))) if M::settles(to) => {
                super::remember::<M, F, R, L>(&mut self.recall, from);
                M::on_transition(&self.cx.fns, from, to);
                self.transitions = self.transitions.wrapping_add(1);
                if !observe {
                    // `live` leads: the position is stored only when the run leaves the fast path.
                    // Set before the target's functions run (they do not see it; a failure
                    // clears it): each arm then ends in its target's entry, not in a tail that
                    // every arm jumps to.
                    self.live = Some(to);
                    if !M::bare(to)
                        && let Err(failed) = M::visit::<true, false>(&mut self.cx, &mut self.data, to)
                    {
                        return self.entry_failed(to, failed);
                    }
                    self.completed(to);
                    return Ok(Status::Waiting(to));
                }
                // Observed: entered with a span and a history entry; a failure may follow an
                // `on_error` arc elsewhere, so what follows is settled by `rest`.
                self.base = self.transitions.wrapping_sub(1);
                self.arrive(to).and_then(|()| self.rest())
            }
            // An internal transition in a state that waits whatever happens: it stays, waiting.
            Ok(Some(Next::Stay)) if M::settles(from) => {
                M::on_transition(&self.cx.fns, from, from);
                self.transitions = self.transitions.wrapping_add(1);
                return Ok(Status::Waiting(from));
            }
            Ok(Some(next)) => {
                self.pos = from;
                self.base = self.transitions;
                self.take(next, true).and_then(|()| self.rest())
            }
            Ok(None) => return Err(self.refuse(from, event)),
            Err(failed) => {
                self.base = self.transitions;
                self.arc_failed(from, failed).and_then(|()| self.rest())
            }
        };
        result.map_err(|e| HandleError::Failed(Box::new(self.fail(e))))
    }

    /// The fast path's target failed on entry: its `on_error` arcs, then what follows.
    #[cold]
    #[inline(never)]
    fn entry_failed(&mut self, to: M::Pos, failed: (&'static str, FnError)) -> Handled<M, F, R, L> {
        self.base = self.transitions.wrapping_sub(1);
        self.enter_failed(to, failed)
            .and_then(|()| self.rest())
            .map_err(|e| HandleError::Failed(Box::new(self.fail(e))))
    }

    /// Why a run takes no more events: it finished or failed (shared with `handle_async`).
    #[inline]
    pub(super) fn closed(&self) -> Option<Reject> {
        match &self.phase {
            Phase::Failed(_) => Some(Reject::Failed),
            Phase::Finished(_) => Some(Reject::Finished),
            Phase::Start | Phase::Running => None,
        }
    }

    /// An event no arc of `from` took, handed back: a guard said no, or no arc is for it.
    #[inline]
    pub(super) fn refuse(&self, from: M::Pos, event: M::Event) -> HandleError<M::Pos, M::Event> {
        let reason = if M::accepts(from, &event) {
            Reject::Guard
        } else {
            Reject::NoArc
        };
        self.reject(from, event, reason)
    }

    /// An event not taken, handed back: the `on_reject` hook, then the error.
    #[inline]
    pub(super) fn reject(&self, state: M::Pos, event: M::Event, reason: Reject) -> HandleError<M::Pos, M::Event> {
        M::on_reject(&self.cx.fns, state, &event, reason);
        HandleError::Rejected { state, event, reason }
    }

    /// After an event's arc: eventless arcs until the run waits or ends. Kept out of line so that
    /// `handle`'s common arms stay a leaf.
    #[inline(never)]
    pub(super) fn rest(&mut self) -> Result<Status<M::Pos, M::End>, RunError> {
        loop {
            if M::is_end(self.pos) {
                if self.frames.is_empty() {
                    return self.settle();
                }
                self.pop()?;
                continue;
            }
            if !self.eventless()? {
                return if M::waits(self.pos) {
                    if !self.observe {
                        self.live = Some(self.pos);
                    }
                    Ok(Status::Waiting(self.pos))
                } else {
                    Err(stuck::<M, F, R, L>(self.pos))
                };
            }
        }
    }
}
