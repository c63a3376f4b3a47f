//! The context a state function receives next to the record.

use crate::core::StateError;

/// What a transform or check sees besides the record: where the run is, the error that led here
/// when the run followed an `on_error` arc, and the machine's resources.
///
/// `R` is the machine's resources struct (`OrderResources` for a machine `Order` that declares
/// `resources:`), reached through [`Context::resources`]; machines without resources use the
/// default, `()`, so their functions take a plain `Context<'_>`.
///
/// Generated code builds one per function call; it is cheap (a few references).
pub struct Context<'a, R: ?Sized = ()> {
    machine: &'static str,
    network: &'static str,
    state: &'static str,
    error: Option<&'a StateError>,
    resources: &'a R,
}

impl<'a> Context<'a> {
    /// A context for a function of `state` (in `network` of `machine`), for a machine without
    /// resources. `error` is the last error a run followed through an `on_error` arc.
    pub fn new(
        machine: &'static str,
        network: &'static str,
        state: &'static str,
        error: Option<&'a StateError>,
    ) -> Self {
        Context::with_resources(machine, network, state, error, &())
    }
}

impl<'a, R: ?Sized> Context<'a, R> {
    /// A context for a function of `state` (in `network` of `machine`) that reaches `resources`.
    /// `error` is the last error a run followed through an `on_error` arc.
    pub fn with_resources(
        machine: &'static str,
        network: &'static str,
        state: &'static str,
        error: Option<&'a StateError>,
        resources: &'a R,
    ) -> Self {
        Context {
            machine,
            network,
            state,
            error,
            resources,
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

    /// The machine's resources: the generated `<Machine>Resources` struct, one typed handle per
    /// resource the YAML declares (`ctx.resources().db.execute(...)`).
    #[inline]
    pub fn resources(&self) -> &'a R {
        self.resources
    }

    /// The tokens the run's language-model calls ([`AsyncLlm`](crate::resources::AsyncLlm)) used
    /// so far: the run's count in a pipeline (every run of a
    /// [`Concurrent`](crate::stream::Concurrent) machine is counted once an `AsyncLlm` is open),
    /// or inside [`resources::track`](crate::resources::track); zero elsewhere.
    #[cfg(feature = "llm-async")]
    pub fn tokens(&self) -> crate::resources::TokenUsage {
        crate::resources::tokens_this_run().unwrap_or_default()
    }
}

// By hand: resources need not be `Debug`, and would flood the output if they were.
impl<R: ?Sized> std::fmt::Debug for Context<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("machine", &self.machine)
            .field("network", &self.network)
            .field("state", &self.state)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}
