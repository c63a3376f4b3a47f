//! Structure: one start state per network, end states without outgoing arcs, no dead ends,
//! well-formed arcs (`to` or `target_network`, `return_state` only on push arcs), and a
//! `main_network` when there are several networks.

use super::Context;
use crate::ast::{Network, State};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};

/// Checks the structure; returns the step limit of a run (`max_transitions`, or the default).
pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) -> u32 {
    let machine = cx.machine;
    let mut max_transitions = crate::lower::DEFAULT_MAX_TRANSITIONS;
    if let Some(max) = &machine.max_transitions {
        match u32::try_from(max.value) {
            Ok(max) => max_transitions = max,
            Err(_) => diags.push(
                Diagnostic::error(
                    codes::INVALID_VALUE,
                    format!("`max_transitions` must be at most {}", u32::MAX),
                    max.span,
                    "too large",
                )
                .with_help("a run that needs more steps is better split, or run by `handle` one event at a time"),
            ),
        }
    }
    if machine.main_network.is_none() && machine.networks.len() > 1 {
        let names: Vec<String> = machine.networks.iter().map(|n| format!("`{}`", n.name.value)).collect();
        diags.push(
            Diagnostic::error(
                codes::MAIN_NETWORK,
                "the machine has several networks but no `main_network`",
                machine.name.span,
                "which network does a run start in?",
            )
            .with_help(format!("add `main_network:` naming one of {}", names.join(", "))),
        );
    }
    for (net, network) in cx.networks() {
        start_states(cx, network, diags);
        arcs(network, diags);
        outgoing(cx, net, network, diags);
    }
    max_transitions
}

/// A machine without networks or with a network without states: the front ends report them where
/// they were written (an empty list, a broken or missing `states:`), so this check runs only at
/// the gate, for a machine built otherwise; it is never a second diagnostic for one mistake.
pub(super) fn empty(cx: &Context<'_>, diags: &mut Diagnostics) {
    let machine = cx.machine;
    if machine.networks.is_empty() {
        diags.push(
            Diagnostic::error(
                codes::NO_START_STATE,
                "the machine has no states",
                machine.name.span,
                "no network, no state",
            )
            .with_help("add `states:` and `arcs:` for one network, or `networks:` for several"),
        );
    }
    for network in machine.networks.iter().filter(|n| n.states.is_empty()) {
        diags.push(
            Diagnostic::error(
                codes::NO_START_STATE,
                format!("{} has no states", network_label(cx, network)),
                network.name.span,
                "no state to start in",
            )
            .with_help("add its states, one of them with `is_start: true` and one with `is_end: true`"),
        );
    }
}

fn is_start(state: &State) -> bool {
    state.is_start.as_ref().is_some_and(|b| b.value)
}

pub(super) fn is_end(state: &State) -> bool {
    state.is_end.as_ref().is_some_and(|b| b.value)
}

/// How a network is named in messages: a machine written without `networks` has one network the
/// user never named.
fn network_label(cx: &Context<'_>, network: &Network) -> String {
    if cx.machine.implicit_network {
        "the machine".to_owned()
    } else {
        format!("network `{}`", network.name.value)
    }
}

fn start_states(cx: &Context<'_>, network: &Network, diags: &mut Diagnostics) {
    if network.states.is_empty() {
        // The front ends report empty lists of states; see [`empty`].
        return;
    }
    let starts: Vec<&State> = network.states.iter().filter(|s| is_start(s)).collect();
    match starts.as_slice() {
        [] => diags.push(
            Diagnostic::error(
                codes::NO_START_STATE,
                format!("{} has no start state", network_label(cx, network)),
                network.name.span,
                "no state has `is_start: true`",
            )
            .with_help(format!(
                "mark the state a run begins in with `is_start: true` (probably `{}`)",
                network.states[0].name.value
            )),
        ),
        [first, rest @ ..] => {
            for other in rest {
                let span = other.is_start.as_ref().map_or(other.name.span, |b| b.span);
                diags.push(
                    Diagnostic::error(
                        codes::MULTIPLE_START_STATES,
                        format!(
                            "{} has several start states: `{}` and `{}`",
                            network_label(cx, network),
                            first.name.value,
                            other.name.value
                        ),
                        span,
                        "second start state",
                    )
                    .with_label(
                        first.is_start.as_ref().map_or(first.name.span, |b| b.span),
                        "first start state",
                    )
                    .with_help("a network has exactly one start state; remove `is_start: true` from all but one"),
                );
            }
        }
    }
}

fn arcs(network: &Network, diags: &mut Diagnostics) {
    for arc in &network.arcs {
        match (&arc.to, &arc.target_network) {
            (Some(to), Some(target)) => diags.push(
                Diagnostic::error(
                    codes::INVALID_ARC,
                    "an arc has both `to` and `target_network`",
                    target.span,
                    "push into a network",
                )
                .with_label(to.span, "and go to a state")
                .with_help(
                    "an arc either goes to a state (`to`) or pushes a network (`target_network`, \
                     optionally with `return_state`)",
                ),
            ),
            (None, None) => diags.push(
                Diagnostic::error(
                    codes::INVALID_ARC,
                    format!("the arc from `{}` goes nowhere", arc.from.value),
                    arc.from.span,
                    "neither `to` nor `target_network`",
                )
                .with_help("add `to:` naming the target state, or `target_network:` to push a network"),
            ),
            _ => {}
        }
        if let Some(internal) = arc.internal.as_ref().filter(|i| i.value) {
            let problem = if arc.on.is_none() {
                Some((
                    "an internal arc needs an event",
                    "add `on:` naming the event; a state that stays on every step would loop",
                ))
            } else if arc.target_network.is_some() {
                Some((
                    "a push arc cannot be internal",
                    "an internal arc stays in its state; remove `internal` or `target_network`",
                ))
            } else if arc.to.as_ref().is_some_and(|to| to.value != arc.from.value) {
                Some((
                    "an internal arc stays in its state",
                    "give it no `to` (or `to` its own state), or remove `internal` to leave the state",
                ))
            } else {
                None
            };
            if let Some((message, help)) = problem {
                diags.push(Diagnostic::error(codes::INVALID_ARC, message, internal.span, "internal").with_help(help));
            }
        }
        if let (Some(back), None) = (&arc.return_state, &arc.target_network) {
            diags.push(
                Diagnostic::error(
                    codes::INVALID_ARC,
                    "`return_state` is only allowed on a push arc",
                    back.span,
                    "no `target_network` to return from",
                )
                .with_help("add `target_network:` to push a network, or remove `return_state`"),
            );
        }
    }
}

/// End states have no outgoing arcs; other states have at least one; a data-driven network has
/// an end state.
fn outgoing(cx: &Context<'_>, net: usize, network: &Network, diags: &mut Diagnostics) {
    let mut out = vec![0usize; network.states.len()];
    for arc in &network.arcs {
        let Some(from) = cx.state(net, &arc.from.value) else {
            continue;
        };
        out[from] += 1;
        let state = &network.states[from];
        if is_end(state) {
            let end = state.is_end.as_ref().map_or(state.name.span, |b| b.span);
            diags.push(
                Diagnostic::error(
                    codes::END_STATE_HAS_ARCS,
                    format!("end state `{}` has an outgoing arc", state.name.value),
                    arc.from.span,
                    "arc leaves an end state",
                )
                .with_label(end, "marked as an end state here")
                .with_help("a run stops in an end state; remove the arc or drop `is_end: true`"),
            );
        }
    }
    for (i, state) in network.states.iter().enumerate() {
        // Only the first definition of a duplicated name counts (the duplicate is reported).
        if cx.state(net, &state.name.value) != Some(i) || is_end(state) || out[i] > 0 {
            continue;
        }
        diags.push(
            Diagnostic::error(
                codes::DEAD_END,
                format!(
                    "state `{}` has no outgoing arc and is not an end state",
                    state.name.value
                ),
                state.name.span,
                "a run would get stuck here",
            )
            .with_help(format!(
                "add an arc `from: {}`, or mark the state `is_end: true`",
                state.name.value
            )),
        );
    }
    let event_driven = network.arcs.iter().any(|a| a.on.is_some());
    if !event_driven && !network.states.is_empty() && !network.states.iter().any(is_end) {
        diags.push(
            Diagnostic::error(
                codes::NO_END_STATE,
                format!("{} has no end state", network_label(cx, network)),
                network.name.span,
                "no state has `is_end: true`",
            )
            .with_help("a run without events stops only in an end state; mark one with `is_end: true`"),
        );
    }
}
