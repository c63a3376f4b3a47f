//! Durable runs: a run whose record lives in a store saves its position (state, push-arc frames,
//! pending compensations, the transitions counted) with the record, in the same write, so that
//! another process can continue it after a crash ([`Run::resume`]).
//!
//! What is saved when:
//! - every save of a `reference` state writes the position "in this state, its functions done"
//!   (the state counted among the completed ones to compensate), so record and position always
//!   agree: a state after the last save runs again on the record as that save left it;
//! - when the run starts compensating, the position says so (with the cause), and again after
//!   each compensation: a run resumed then finishes the compensations not done yet;
//! - when it finishes or fails, the position says so: the store lists it no more as unfinished,
//!   and resuming it answers its outcome without running anything.
//!
//! A save of the position that fails (the store unreachable, another writer) does not stop the
//! run: it goes on, and a resume starts from the last position that was saved.

use std::time::Instant;

use super::{Frames, MachineDef, Phase, Run};
use crate::core::{FnError, RunError, RunOptions, StateError, StateName};
use crate::private::StoreSlot;
use crate::store::{RESUMED_FUNCTION, SavedPhase, SavedRun, StatePath, StoreError};

impl<M: MachineDef<F, R, L>, F, R, L: Default> Run<M, F, R, L> {
    /// Whether the run saves its position with its record.
    #[inline(always)]
    pub(super) fn durable(&self) -> bool {
        self.cx.store.as_ref().is_some_and(|slot| slot.is_durable())
    }

    /// The position of the run now, in `phase`, at `at`.
    fn position_at(&self, phase: SavedPhase, at: M::Pos) -> SavedRun {
        SavedRun {
            phase,
            at: path::<M, F, R, L>(at),
            frames: self
                .frames
                .to_vec()
                .into_iter()
                .map(|f| f.map(path::<M, F, R, L>))
                .collect(),
            pending: self.saga.iter().map(|p| path::<M, F, R, L>(*p)).collect(),
            transitions: self.transitions,
        }
    }

    /// Makes `run` the position the next save writes, unless it is that already.
    fn place(&mut self, run: SavedRun) {
        if let Some(slot) = self.cx.store.as_mut()
            && slot.position() != Some(&run)
            && let Some(position) = slot.position_mut()
        {
            *position = run;
        }
    }

    /// Writes the position with the record, unless the store holds it already.
    fn save_position(&mut self) {
        if let Some(slot) = self.cx.store.as_mut() {
            // A failed save leaves the last one in the store, to resume from: the run goes on.
            let _ = slot.save_position(&self.data);
        }
    }

    /// The run enters `to`: the position a save of its functions writes (done with them, so
    /// among the completed states; finished, at an end of the run that does not compensate).
    #[inline(never)]
    pub(super) fn entering(&mut self, to: M::Pos) {
        if !self.durable() {
            return;
        }
        let finishes = M::end_of(to).is_some() && self.frames.is_empty() && !M::compensates_at(to);
        let phase = if finishes {
            SavedPhase::Finished
        } else {
            SavedPhase::Running
        };
        let mut run = self.position_at(phase, to);
        if finishes {
            // Over: nothing left to compensate (as `finished_durably` saves it).
            run.pending.clear();
        } else if M::COMPENSATES && M::compensation(to) {
            let to = path::<M, F, R, L>(to);
            run.pending.retain(|p| *p != to);
            run.pending.push(to);
        }
        self.place(run);
    }

    /// The position while compensating, the compensations still to do being the run's pending
    /// ones; not saved yet.
    pub(super) fn place_compensating(&mut self, cause: &Option<String>) {
        if self.durable() {
            let run = self.position_at(SavedPhase::Compensating { cause: cause.clone() }, self.pos);
            self.place(run);
        }
    }

    /// As [`Self::place_compensating`], and saved.
    pub(super) fn compensating(&mut self, cause: &Option<String>) {
        if self.durable() {
            self.place_compensating(cause);
            self.save_position();
        }
    }

    /// The run failed with `error`, its compensations done: saved as over.
    pub(super) fn failed_durably(&mut self, error: &RunError) {
        if self.durable() {
            self.saga.clear();
            let run = self.position_at(
                SavedPhase::Failed {
                    error: error.to_string(),
                },
                self.pos,
            );
            self.place(run);
            self.save_position();
        }
    }

    /// The run finished at an end state: saved as over (the end state's own save wrote it
    /// already when it has functions in `reference` mode).
    pub(super) fn finished_durably(&mut self) {
        if self.durable() {
            self.saga.clear();
            let run = self.position_at(SavedPhase::Finished, self.pos);
            self.place(run);
            self.save_position();
        }
    }

    /// A durable run of the record `slot` loaded, `data`, from where `saved` says (see
    /// `StoreSlot::load_run`): from the start state when nothing was saved; in the state saved, its
    /// push-arc frames and pending compensations back, when it was running (nothing runs until the
    /// next step); its compensations finished here when it was compensating after a failure
    /// (the run then failed, with the saved cause); over, with its outcome, when it was.
    ///
    /// [`StoreError::Position`] when the position names a state the machine does not have, or
    /// does not hold together (a finished run not at an end state). For generated code
    /// (`start_durable`).
    #[doc(hidden)]
    pub fn resume(
        fns: F,
        res: R,
        options: RunOptions,
        mut slot: StoreSlot<M::Data>,
        data: M::Data,
        saved: Option<SavedRun>,
    ) -> Result<Self, StoreError> {
        let key = slot.key().to_owned();
        let mut run = Self::with_resources(fns, res, data, options);
        let Some(saved) = saved else {
            let start = run.position_at(SavedPhase::Running, M::START);
            slot.make_durable(start, false);
            run.cx.store = Some(Box::new(slot));
            return Ok(run);
        };
        let bad = |reason: String| StoreError::Position {
            key: key.clone(),
            reason,
        };
        let at = find::<M, F, R, L>(&saved.at).ok_or_else(|| bad(unknown::<M, F, R, L>(&saved.at)))?;
        for frame in &saved.frames {
            let frame = match frame {
                Some(p) => Some(find::<M, F, R, L>(p).ok_or_else(|| bad(unknown::<M, F, R, L>(p)))?),
                None => None,
            };
            if !run.frames.push(frame) {
                return Err(bad(format!(
                    "it has {} push-arc frames, more than machine `{}` nests",
                    saved.frames.len(),
                    M::NAME
                )));
            }
        }
        for pending in &saved.pending {
            let pos = find::<M, F, R, L>(pending).ok_or_else(|| bad(unknown::<M, F, R, L>(pending)))?;
            run.saga.push(pos);
        }
        run.pos = at;
        run.transitions = saved.transitions;
        if run.observe {
            run.started = Some(Instant::now());
        }
        run.phase = match &saved.phase {
            SavedPhase::Running | SavedPhase::Compensating { .. } => Phase::Running,
            SavedPhase::Finished => match M::end_of(at) {
                Some(end) if run.frames.is_empty() => Phase::Finished(end),
                _ => {
                    return Err(bad(format!(
                        "it says finished in `{}`, not an end of the run",
                        saved.at
                    )));
                }
            },
            SavedPhase::Failed { error } => Phase::Failed(Box::new(resumed::<M, F, R, L>(at, error))),
        };
        let cause = match &saved.phase {
            SavedPhase::Compensating { cause } => Some(cause.clone()),
            _ => None,
        };
        if let Some(None) = cause
            && !M::compensates_at(at)
        {
            return Err(bad(format!(
                "it compensates at `{}` without a cause, which is not an end state marked `compensate: true`",
                path::<M, F, R, L>(at)
            )));
        }
        slot.make_durable(saved, true);
        run.cx.store = Some(Box::new(slot));
        // After a failure: the rest of its compensations, and it failed. At an end state marked
        // `compensate: true`, `finish` compensates and finishes.
        if let Some(Some(cause)) = cause {
            let error = resumed::<M, F, R, L>(at, &cause);
            run.fail(error);
        }
        Ok(run)
    }
}

fn path<M: MachineDef<F, R, L>, F, R, L>(pos: M::Pos) -> StatePath {
    StatePath::of(M::network(pos), pos.name())
}

fn find<M: MachineDef<F, R, L>, F, R, L>(path: &StatePath) -> Option<M::Pos> {
    M::POSITIONS
        .iter()
        .copied()
        .find(|p| M::network(*p) == path.network && p.name() == path.state)
}

fn unknown<M: MachineDef<F, R, L>, F, R, L>(path: &StatePath) -> String {
    format!(
        "it names state `{}` of network `{}`, which machine `{}` does not have (its definition changed since?)",
        path.state,
        path.network,
        M::NAME
    )
}

/// The error a run saved as failed (or compensating after a failure) stopped with, from its
/// message: reported at the state it failed in, by function [`RESUMED_FUNCTION`].
fn resumed<M: MachineDef<F, R, L>, F, R, L>(at: M::Pos, message: &str) -> RunError {
    RunError::Function(StateError {
        network: M::network(at),
        state: at.name(),
        function: RESUMED_FUNCTION,
        error: FnError::new(message.to_owned()),
    })
}
