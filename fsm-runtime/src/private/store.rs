//! The glue between generated `reference` states and a record store: the run's [`StoreSlot`],
//! and what a state does with it before ([`store_snapshot`]) and after ([`store_settle`]) its
//! functions. Reached as `::fsm_runtime::__private::*`. Not public API.

use std::fmt;
use std::sync::Arc;

use crate::core::FnError;
use crate::store::{RecordStore, STORE_FUNCTION, SavedRun, StoreError, Versioned};

/// A run's hold on its record in a store: generated code commits through it after every
/// `reference` state and rolls back by reloading. Not public API.
#[doc(hidden)]
pub struct StoreSlot<D> {
    store: Arc<dyn RecordStore<D>>,
    key: String,
    version: u64,
    /// Why the run's record may not be the stored one plus the current state's changes, so that
    /// saving it could apply a change twice.
    stale: Option<Stale>,
    /// A durable run's position, written with the record at every save (`None`: the run is not
    /// durable). The run loop keeps it up to date; boxed, so a run that is not durable stays small.
    run: Option<Box<SavedRun>>,
    /// Whether the store holds `run` as it is now.
    run_saved: bool,
}

/// How a run's record got out of step with the store.
#[derive(Clone, Debug)]
enum Stale {
    /// A save or a function failed and reloading the stored record failed too: the record still
    /// holds changes that were not saved. The next successful reload puts it back in step.
    Unsaved,
    /// A write's outcome is unknown (see [`StoreError::Unknown`]): whether the store holds its
    /// changes cannot be told, so the run saves nothing more.
    Unknown(String),
}

impl<D> StoreSlot<D> {
    /// Loads the record under `key`; the slot and the record.
    pub fn load(store: Arc<dyn RecordStore<D>>, key: String) -> Result<(Self, D), StoreError> {
        let Versioned { data, version } = store.load(&key)?;
        let slot = StoreSlot {
            store,
            key,
            version,
            stale: None,
            run: None,
            run_saved: false,
        };
        Ok((slot, data))
    }

    /// Loads the record under `key` and the position its durable run saved with it; the slot
    /// (durable: every save writes the position), the record and the position (`None` for a
    /// record no durable run saved).
    pub fn load_run(store: Arc<dyn RecordStore<D>>, key: String) -> Result<(Self, D, Option<SavedRun>), StoreError> {
        let (Versioned { data, version }, saved) = store.load_run(&key)?;
        let slot = StoreSlot {
            store,
            key,
            version,
            stale: None,
            run: None,
            run_saved: false,
        };
        Ok((slot, data, saved))
    }

    /// Whether the run is durable (its position is saved with the record).
    #[inline(always)]
    pub fn is_durable(&self) -> bool {
        self.run.is_some()
    }

    /// Makes the run durable from `run` on: its position, as the store holds it already when
    /// `saved`.
    pub fn make_durable(&mut self, run: SavedRun, saved: bool) {
        self.run = Some(Box::new(run));
        self.run_saved = saved;
    }

    /// The durable run's position, to move (the store no longer holds it as it is).
    #[inline]
    pub fn position_mut(&mut self) -> Option<&mut SavedRun> {
        self.run_saved = false;
        self.run.as_deref_mut()
    }

    /// The durable run's position as it is now.
    pub fn position(&self) -> Option<&SavedRun> {
        self.run.as_deref()
    }

    /// Writes the durable run's position with `data` unless the store holds it already: the run
    /// moved without a save of a state (an end reached, compensations done). Nothing for a run that
    /// is not durable, or that cannot save any more.
    pub fn save_position(&mut self, data: &D) -> Result<(), StoreError> {
        let Some(run) = self.run.as_deref() else {
            return Ok(());
        };
        if self.run_saved || self.stale.is_some() {
            return Ok(());
        }
        match self.store.save_run(&self.key, data, self.version, run) {
            Ok(version) => {
                self.version = version;
                self.run_saved = true;
                Ok(())
            }
            Err(e) => {
                if let StoreError::Unknown { .. } = e {
                    self.stale = Some(Stale::Unknown(e.to_string()));
                }
                Err(e)
            }
        }
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The version the run last loaded or saved.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Saves `data` at the version the run holds. On a conflict, reloads the record into `data`
    /// (the run goes on with what the other writer saved) and reports the conflict. On another
    /// failure the save did not land: the stored record is reloaded too, so that a retry of the
    /// state starts from it and applies its changes once. A save whose outcome is unknown ends
    /// the run's saving.
    fn commit(&mut self, data: &mut D) -> Result<(), (&'static str, FnError)> {
        match &self.stale {
            None => {}
            Some(Stale::Unknown(why)) => {
                return Err((
                    STORE_FUNCTION,
                    FnError::new(format!("not saved: an earlier write's outcome is unknown ({why})")),
                ));
            }
            Some(Stale::Unsaved) => {
                // The record holds changes an earlier failure could not roll back: saving it
                // would apply them twice. Put the stored one back, and fail this state.
                self.reload(data)?;
                return Err((
                    STORE_FUNCTION,
                    FnError::new("not saved: the record held changes of an earlier failure; reloaded it"),
                ));
            }
        }
        let saved = match self.run.as_deref() {
            Some(run) => self.store.save_run(&self.key, data, self.version, run),
            None => self.store.save(&self.key, data, self.version),
        };
        match saved {
            Ok(version) => {
                self.version = version;
                self.run_saved = true;
                Ok(())
            }
            Err(conflict @ StoreError::Conflict { .. }) => {
                self.reload(data)?;
                Err((
                    STORE_FUNCTION,
                    FnError::with_source("optimistic locking", conflict)
                        .with_kind(crate::core::ErrorKind::STORE_CONFLICT),
                ))
            }
            Err(unknown @ StoreError::Unknown { .. }) => {
                self.stale = Some(Stale::Unknown(unknown.to_string()));
                Err((STORE_FUNCTION, FnError::with_source("saving the record", unknown)))
            }
            Err(e) => match self.reload(data) {
                Ok(()) => Err((STORE_FUNCTION, FnError::with_source("saving the record", e))),
                Err((_, reload)) => Err((
                    STORE_FUNCTION,
                    FnError::new(format!("saving the record failed ({e}), then {reload}")),
                )),
            },
        }
    }

    /// Puts the stored record back into `data`.
    fn reload(&mut self, data: &mut D) -> Result<(), (&'static str, FnError)> {
        match self.store.load(&self.key) {
            Ok(Versioned { data: stored, version }) => {
                *data = stored;
                self.version = version;
                if matches!(self.stale, Some(Stale::Unsaved)) {
                    self.stale = None;
                }
                Ok(())
            }
            Err(e) => {
                if self.stale.is_none() {
                    self.stale = Some(Stale::Unsaved);
                }
                Err((
                    STORE_FUNCTION,
                    FnError::with_source("reloading the record to roll back", e),
                ))
            }
        }
    }
}

impl<D> fmt::Debug for StoreSlot<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSlot")
            .field("key", &self.key)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Before a `reference` state's functions: a copy of the record to roll back to when the run
/// has no store (it then behaves as `copy`); with a store, none (the store holds the last commit).
#[doc(hidden)]
#[inline]
pub fn store_snapshot<D: Clone>(slot: &Option<Box<StoreSlot<D>>>, data: &D) -> Option<D> {
    match slot {
        Some(_) => None,
        None => Some(data.clone()),
    }
}

/// After a `reference` state's functions: with a store, commit on success (a conflict reloads
/// and fails the state) or roll back by reloading on failure; without, put `saved` back on failure.
#[doc(hidden)]
#[inline]
pub fn store_settle<D>(
    slot: &mut Option<Box<StoreSlot<D>>>,
    data: &mut D,
    saved: Option<D>,
    result: Result<(), (&'static str, FnError)>,
) -> Result<(), (&'static str, FnError)> {
    match (slot, result) {
        (Some(slot), Ok(())) => slot.commit(data),
        (Some(slot), Err((function, error))) => match slot.reload(data) {
            Ok(()) => Err((function, error)),
            // The record may be half-changed and the store cannot give it back: say both.
            Err((_, reload)) => Err((
                STORE_FUNCTION,
                FnError::new(format!("`{function}` failed ({error}), then {reload}")),
            )),
        },
        (None, Ok(())) => Ok(()),
        (None, Err(failed)) => {
            if let Some(saved) = saved {
                *data = saved;
            }
            Err(failed)
        }
    }
}
