//! Compensation (sagas): the states a run completed that declare `compensate: undo_fn` are
//! undone in reverse order when the run fails, or when it finishes in an end state marked
//! `compensate: true`.
//!
//! The run keeps those states, each once (a state completed again moves to the top), in the
//! order they completed: a pushed network's states complete after the state that pushed it, so
//! they are undone first (inside out). Each compensation runs once, on the record as the run holds
//! it, in its state's data mode and under its state's `retry`; it is recorded in the history
//! (`HistoryEntry::compensation`) and traced (`fsm.compensate` spans). A compensation that still
//! fails does not stop the others: the run ends with [`RunError::Compensation`], which keeps both
//! the failure that made it compensate and every compensation that failed.
//!
//! Machines without compensations pay nothing: [`MachineDef::COMPENSATES`] is `false`, and each
//! test of it folds away.

use std::time::Instant;

use super::{MachineDef, Run, state_error};
use crate::core::{RunError, StateError, StateName as _};

impl<M: MachineDef<F, R, L>, F, R, L: Default> Run<M, F, R, L> {
    /// The run completed `pos` (its functions succeeded): it is compensated if the run fails.
    #[inline(always)]
    pub(super) fn completed(&mut self, pos: M::Pos) {
        if M::COMPENSATES && M::compensation(pos) {
            self.remember_completed(pos);
        }
    }

    #[inline(never)]
    fn remember_completed(&mut self, pos: M::Pos) {
        self.saga.retain(|p| *p != pos);
        self.saga.push(pos);
    }

    /// The states completed that would be compensated, the next to be compensated last (for
    /// saving a run's position, and for tests).
    pub fn pending_compensations(&self) -> &[M::Pos] {
        &self.saga
    }

    /// A run that is at `at` already (see [`Run::start_in`]) and completed `done`, in that
    /// order: they are compensated, last first, if it fails. For restoring a run saved in the
    /// middle of a saga.
    pub fn with_completed(mut self, done: impl IntoIterator<Item = M::Pos>) -> Self {
        for pos in done {
            self.completed(pos);
        }
        self
    }

    /// The run failed with `error`: compensates what it completed; `error`, or
    /// [`RunError::Compensation`] with it when a compensation failed too.
    #[cold]
    pub(super) fn compensate_failure(&mut self, error: RunError) -> RunError {
        if !M::COMPENSATES || self.saga.is_empty() || matches!(error, RunError::Compensation { .. }) {
            return error;
        }
        match self.compensate_all(Some(&error)) {
            Ok(()) => error,
            Err(failed) => RunError::Compensation {
                cause: Some(Box::new(error)),
                failed,
            },
        }
    }

    /// The run reached an end state marked `compensate: true`.
    #[cold]
    pub(super) fn compensate_at_end(&mut self) -> Result<(), RunError> {
        self.compensate_all(None)
            .map_err(|failed| RunError::Compensation { cause: None, failed })
    }

    /// Every pending compensation, last completed first; the ones that failed. `cause` is why
    /// (none at an end state marked `compensate: true`): a durable run saves it with its position.
    fn compensate_all(&mut self, cause: Option<&RunError>) -> Result<(), Vec<StateError>> {
        let mut failed = Vec::new();
        let mut cause = cause.map(ToString::to_string);
        self.compensating(&cause);
        while let Some(pos) = self.saga.pop() {
            // The position its save (a `reference` state's) writes: this one done.
            self.place_compensating(&cause);
            let result = self.compensate_one(pos);
            if let Err(e) = result {
                let e = state_error::<M, F, R, L>(pos, e);
                if self.durable() {
                    // Saved with the position, so a run resumed after a crash still says it.
                    let text = cause.get_or_insert_with(String::new);
                    if !text.is_empty() {
                        text.push_str("; then ");
                    }
                    text.push_str(&format!("compensating `{}` failed: {e}", pos.name()));
                }
                failed.push(e);
            }
            self.compensating(&cause);
        }
        if failed.is_empty() { Ok(()) } else { Err(failed) }
    }

    fn compensate_one(&mut self, pos: M::Pos) -> super::CallResult {
        if !self.observe {
            return M::compensate(&mut self.cx, &mut self.data, pos);
        }
        let _span = crate::private::compensation_span(M::NAME, M::network(pos), pos.name());
        let begin = Instant::now();
        let result = M::compensate(&mut self.cx, &mut self.data, pos);
        if self.options.history {
            self.record(pos, begin, true);
        }
        result
    }
}
