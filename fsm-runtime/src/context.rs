//! The context a state function receives next to the record.

use crate::core::StateError;

/// What a transform or check sees besides the record: where the run is, and the error that led
/// here when the run followed an `on_error` arc.
///
/// Generated code builds one per function call; it is cheap (a few references).
#[derive(Debug)]
pub struct Context<'a> {
    machine: &'static str,
    network: &'static str,
    state: &'static str,
    error: Option<&'a StateError>,
}

impl<'a> Context<'a> {
    /// A context for a function of `state` (in `network` of `machine`). `error` is the last error a
    /// run followed through an `on_error` arc.
    pub fn new(
        machine: &'static str,
        network: &'static str,
        state: &'static str,
        error: Option<&'a StateError>,
    ) -> Self {
        Context {
            machine,
            network,
            state,
            error,
        }
    }

    /// Name of the machine, as written in the YAML.
    pub fn machine(&self) -> &'static str {
        self.machine
    }

    /// Network of the state whose function runs.
    pub fn network(&self) -> &'static str {
        self.network
    }

    /// The state whose function runs (for an arc's transform: the arc's source state).
    pub fn state(&self) -> &'static str {
        self.state
    }

    /// The last failure the run followed through an `on_error` arc: in the functions of an error
    /// state, the error that sent the record there.
    pub fn error(&self) -> Option<&'a StateError> {
        self.error
    }
}
