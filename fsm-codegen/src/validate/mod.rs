//! Every semantic check of a machine, one file per family, all writing into one [`Diagnostics`]
//! sink so the user sees every problem at once.
//!
//! | family | checks |
//! |---|---|
//! | `names` | duplicate names; names that cannot become Rust identifiers or collide once converted |
//! | `refs` | references to states, networks, events and resources that do not exist |
//! | `resources` | each resource's `config` against the settings of its kind |
//! | `resilience` | a state's `retry`, `timeout_seconds`, `circuit_breaker` |
//! | `compensate` | `compensate: true` only on end states, a function only on the others |
//! | `errors` | kinds of errors in `on_error` and `retry: { on }`, shadowed entries, kinds no function returns |
//! | `store` | the record store of a `reference` machine: a database resource, a table name |
//! | `structure` | start and end states, dead ends, malformed arcs, `main_network` |
//! | `graph` | unreachable states, states with no path to an end, push cycles |
//! | `arcs` | shadowed arcs, non-deterministic arcs |
//! | `functions` | a function name in two roles, built-ins and their parameters |
//! | `parallel` | a state's `parallel:` list: not empty, declared async functions used nowhere else |
//! | `rust` | inline Rust, the record type, event payload types and state data types |
//! | `attributes` | the attributes passed through to the generated enums |
//! | `state_data` | arcs into states with data make it, only they do, and nothing enters such a state without it |
//!
//! Checks that depend on others (graph facts need resolved references) skip what an earlier
//! family already reported, so one mistake gives one diagnostic.

mod arcs;
mod attributes;
mod compensate;
mod env_refs;
mod errors;
mod functions;
mod graph;
mod names;
mod parallel;
mod refs;
pub(crate) mod resilience;
mod resources;
mod rust;
mod state_data;
mod store;
mod structure;
mod superstates;

use crate::ast::{FunctionRef, Machine, Network};
use crate::builtins::Role;
use crate::diagnostics::Diagnostics;
use crate::span::Source;
use std::collections::HashMap;

/// Checks a machine and returns every problem, sorted by position. Warnings become errors when
/// the machine says `deny_warnings: true`.
///
/// Without the source text, a syntax error in inline Rust points at the whole string; use
/// [`validate_in`] when the text is at hand.
pub fn validate(machine: &Machine) -> Diagnostics {
    run(machine, None)
}

/// [`validate`], with the source text the machine was read from, so that a Rust syntax error
/// inside a YAML block string points at the exact character.
pub fn validate_in(machine: &Machine, source: &Source) -> Diagnostics {
    run(machine, Some(source))
}

fn run(machine: &Machine, source: Option<&Source>) -> Diagnostics {
    checked(machine, source).1
}

/// Every check, and the typed values they read.
fn checked<'m>(machine: &'m Machine, source: Option<&'m Source>) -> (Context<'m>, Diagnostics, Typed) {
    let cx = Context::new(machine, source);
    let mut diags = Diagnostics::new();
    names::check(&cx, &mut diags);
    let unresolved = refs::check(&cx, &mut diags);
    let resources = resources::check(&cx, &mut diags);
    env_refs::check(&cx, &mut diags);
    store::check(&cx, &mut diags);
    let resilience = resilience::check(&cx, &mut diags);
    errors::check(&cx, &mut diags);
    compensate::check(&cx, &mut diags);
    let max_transitions = structure::check(&cx, &mut diags);
    superstates::check(&cx, &mut diags);
    graph::check(&cx, &unresolved, &mut diags);
    arcs::check(&cx, &mut diags);
    functions::check(&cx, &mut diags);
    parallel::check(&cx, &mut diags);
    rust::check(&cx, &mut diags);
    attributes::check(&cx, &mut diags);
    state_data::check(&cx, &mut diags);
    if machine.deny_warnings.as_ref().is_some_and(|d| d.value) {
        diags.deny_warnings();
    }
    diags.sort();
    let typed = Typed {
        resources,
        resilience,
        max_transitions,
    };
    (cx, diags, typed)
}

/// The one way past validation (serde_derive's `Ctxt::check`): a machine without errors, with
/// its names resolved and its settings read into typed values, or every diagnostic. Only
/// [`crate::lower`] consumes a [`Valid`], so the IR exists only for machines that passed.
pub(crate) fn gate<'m>(
    machine: &'m Machine,
    source: Option<&'m Source>,
) -> Result<(Valid<'m>, Diagnostics), Diagnostics> {
    let (cx, mut diags, typed) = checked(machine, source);
    if !diags.has_errors() {
        structure::empty(&cx, &mut diags);
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok((
        Valid {
            cx,
            typed,
            _sealed: Sealed,
        },
        diags,
    ))
}

/// A machine that passed every check. Built only by [`gate`].
pub(crate) struct Valid<'m> {
    /// The machine and its name lookups.
    pub cx: Context<'m>,
    /// What the checks read, typed.
    pub typed: Typed,
    _sealed: Sealed,
}

/// Keeps [`Valid`] from being built outside this module.
struct Sealed;

/// The values validation read and checked, so that lowering never parses the YAML values again.
pub(crate) struct Typed {
    /// Per resource (declaration order), the IR resource with its settings.
    pub resources: Vec<crate::ir::Resource>,
    /// Per network, per state: its `retry`, `timeout_seconds`, `circuit_breaker`, `rate_limit`.
    pub resilience: Vec<Vec<crate::ir::Resilience>>,
    /// The step limit of a run (`max_transitions`, or the default).
    pub max_transitions: u32,
}

/// The machine with name lookups built once. Maps are only looked up, never iterated, so output
/// order never depends on hashing.
pub(crate) struct Context<'m> {
    pub machine: &'m Machine,
    pub source: Option<&'m Source>,
    /// Per network (same order as `machine.networks`): state name -> index of its first definition.
    pub states: Vec<HashMap<&'m str, usize>>,
    /// Network name -> index of its first definition.
    pub networks: HashMap<&'m str, usize>,
    /// Event name -> index.
    pub events: HashMap<&'m str, usize>,
    /// Resource name -> index.
    pub resources: HashMap<&'m str, usize>,
    /// Declared function (`functions:`) name -> index of its first declaration.
    pub functions: HashMap<&'m str, usize>,
}

impl<'m> Context<'m> {
    fn new(machine: &'m Machine, source: Option<&'m Source>) -> Self {
        fn index<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
            let mut map = HashMap::new();
            for (i, name) in names.enumerate() {
                map.entry(name).or_insert(i);
            }
            map
        }
        Context {
            machine,
            source,
            states: machine
                .networks
                .iter()
                .map(|n| index(n.states.iter().map(|s| s.name.value.as_str())))
                .collect(),
            networks: index(machine.networks.iter().map(|n| n.name.value.as_str())),
            events: index(machine.events.iter().map(|e| e.name.value.as_str())),
            resources: index(machine.resources.iter().map(|r| r.name.value.as_str())),
            functions: index(machine.functions.iter().map(|f| f.name.value.as_str())),
        }
    }

    /// The networks with their index.
    pub fn networks(&self) -> impl Iterator<Item = (usize, &'m Network)> {
        self.machine.networks.iter().enumerate()
    }

    /// The index of state `name` in network `net`.
    pub fn state(&self, net: usize, name: &str) -> Option<usize> {
        self.states.get(net).and_then(|m| m.get(name)).copied()
    }
}

/// "did you mean `x`?", or the list of what exists (at most eight names) when nothing is close.
pub(crate) fn suggest<'a>(name: &str, what: &str, candidates: impl Iterator<Item = &'a str> + Clone) -> String {
    if let Some(better) = crate::diagnostics::did_you_mean(name, candidates.clone()) {
        return format!("did you mean `{better}`?");
    }
    let all: Vec<&str> = candidates.collect();
    if all.is_empty() {
        return format!("no {what} is declared");
    }
    let shown: Vec<String> = all.iter().take(8).map(|n| format!("`{n}`")).collect();
    let more = if all.len() > 8 {
        format!(" and {} more", all.len() - 8)
    } else {
        String::new()
    };
    format!("the {what} declared are {}{more}", shown.join(", "))
}

/// Every function reference of the machine with the role it plays, in declaration order: per
/// network, the states' `validate`, `transform`, `on_entry` and `on_exit`, the superstates'
/// `on_entry` and `on_exit`, then the arcs' `condition` and `transform`.
pub(crate) fn functions_of(machine: &Machine) -> impl Iterator<Item = (Role, &FunctionRef)> {
    machine.networks.iter().flat_map(|n| {
        let states = n.states.iter().flat_map(|s| {
            let validate = s.validate.iter().map(|f| (Role::Validate, f));
            let parallel = s.parallel.iter().flat_map(|p| &p.value).map(|f| (Role::Transform, f));
            let validate = validate.chain(parallel);
            let compensate = match &s.compensate {
                Some(crate::ast::Compensate::Function(f)) => Some(f),
                _ => None,
            };
            let actions = s
                .transform
                .iter()
                .chain(&s.on_entry)
                .chain(&s.on_exit)
                .chain(compensate);
            validate.chain(actions.map(|f| (Role::Transform, f)))
        });
        let superstates = n
            .superstates
            .iter()
            .flat_map(|s| s.on_entry.iter().chain(&s.on_exit).map(|f| (Role::Transform, f)));
        let arcs = n.arcs.iter().flat_map(|a| {
            let condition = a.condition.iter().map(|f| (Role::Condition, f));
            let transform = a.transform.iter().map(|f| (Role::Transform, f));
            condition
                .chain(transform)
                .chain(a.data.iter().map(|f| (Role::MakeData, f)))
        });
        states.chain(superstates).chain(arcs)
    })
}
