//! Stored runs over keys: [`StoredMachine`] (what generated `reference` machines implement) and
//! [`ByKey`], which makes one a [`Machine`] over [`Keyed`] items for the streaming pipeline.

use std::fmt;
use std::sync::Arc;

use super::{RecordStore, STORE_FUNCTION, StoreError};
use crate::{Failure, FnError, Machine, Outcome, RunError, RunResult, StateError};

/// A generated data-driven machine with `reference` states: it runs a record it loads from a
/// store by key (`run_stored`). [`ByKey`] turns it into a [`Machine`] over keys for the streaming
/// pipeline.
pub trait StoredMachine: Machine {
    /// Loads the record under `key` and runs it to an end state; `Err` when it cannot be loaded.
    fn run_stored(
        &self,
        store: Arc<dyn RecordStore<Self::Data>>,
        key: String,
    ) -> Result<RunResult<Self::End, Self::Data>, StoreError>;

    /// Continues the durable run of the record under `key` to its end, from the position saved
    /// with it (from the start state when none was): generated as `resume_stored`.
    fn resume_stored(
        &self,
        store: Arc<dyn RecordStore<Self::Data>>,
        key: String,
    ) -> Result<RunResult<Self::End, Self::Data>, StoreError>;

    /// Network and name of the start state, where a record that cannot be loaded is reported.
    fn start_state(&self) -> (&'static str, &'static str);
}

/// A record by its key, as a pipeline of a [`ByKey`] machine reads it (`{"key": "order-17"}`: the
/// record is loaded from the store) and writes it (the key, and the record as the run left it:
/// absent when it could not be loaded).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Keyed<D> {
    /// The record's key in the store.
    pub key: String,
    /// The record: ignored on input, the run's result on output.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub record: Option<D>,
}

impl<D> Keyed<D> {
    /// A key, without its record.
    pub fn new(key: impl Into<String>) -> Self {
        Keyed {
            key: key.into(),
            record: None,
        }
    }
}

/// A `reference` machine over keys: each item names a record in `store`, which the run loads,
/// works on (saving it after each `reference` state) and hands on with its key. So a stream of keys
/// (a queue of order ids, a JSONL file of keys) flows through the pipeline, with one sink per end
/// state and the dead letters as usual; a key whose record cannot be loaded is a failed run
/// (function `<store>`, at the start state), so it goes to the dead-letter sink with the reason.
///
/// ```ignore
/// let by_key = ByKey::new(Orders::new(Fns), store.clone());
/// Pipeline::new(&by_key).route("shipped", shipped_sink).dead_letter(dead).run(JsonlSource::<Keyed<Order>>::open("keys.jsonl")?)?;
/// ```
pub struct ByKey<M: StoredMachine> {
    machine: M,
    store: Arc<dyn RecordStore<M::Data>>,
    durable: bool,
}

impl<M: StoredMachine> ByKey<M> {
    /// `machine` over the records of `store`.
    pub fn new(machine: M, store: Arc<dyn RecordStore<M::Data>>) -> Self {
        ByKey {
            machine,
            store,
            durable: false,
        }
    }

    /// `machine` over the records of `store`, each run durable (`resume_stored`): its position is
    /// saved with the record, and a key whose run is unfinished continues where it was saved. After
    /// a crash, [`Self::unfinished`] gives the keys to feed it again.
    ///
    /// ```ignore
    /// let by_key = ByKey::durable(Bookings::new(Agent), store.clone());
    /// Pipeline::new(&by_key).run(IterSource::new(by_key.unfinished()?))?;
    /// ```
    pub fn durable(machine: M, store: Arc<dyn RecordStore<M::Data>>) -> Self {
        ByKey {
            machine,
            store,
            durable: true,
        }
    }

    /// The keys of the store whose durable run is unfinished, in key order, as items for this
    /// machine (see [`RecordStore::unfinished`]).
    pub fn unfinished(&self) -> Result<Vec<Keyed<M::Data>>, StoreError> {
        Ok(self.store.unfinished()?.into_iter().map(Keyed::new).collect())
    }

    /// The machine.
    pub fn machine(&self) -> &M {
        &self.machine
    }
}

impl<M: StoredMachine> fmt::Debug for ByKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByKey").finish_non_exhaustive()
    }
}

impl<M: StoredMachine> Machine for ByKey<M> {
    type Data = Keyed<M::Data>;
    type End = M::End;

    fn run(&self, item: Keyed<M::Data>) -> RunResult<M::End, Keyed<M::Data>> {
        let Keyed { key, .. } = item;
        let ran = if self.durable {
            self.machine.resume_stored(self.store.clone(), key.clone())
        } else {
            self.machine.run_stored(self.store.clone(), key.clone())
        };
        match ran {
            Ok(Ok(out)) => Ok(Outcome {
                end: out.end,
                data: Keyed {
                    key,
                    record: Some(out.data),
                },
                error: out.error,
                transitions: out.transitions,
                history: out.history,
            }),
            Ok(Err(failure)) => Err(Failure {
                error: failure.error,
                data: Keyed {
                    key,
                    record: Some(failure.data),
                },
            }),
            Err(error) => {
                let (network, state) = self.machine.start_state();
                Err(Failure {
                    error: RunError::Function(StateError {
                        network,
                        state,
                        function: STORE_FUNCTION,
                        error: FnError::with_source("loading the record", error),
                    }),
                    data: Keyed { key, record: None },
                })
            }
        }
    }
}
