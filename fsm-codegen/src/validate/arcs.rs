//! Arc order: arcs of the same state and event are tried by `priority` (highest first), then in
//! declaration order, and the first whose condition holds is taken. An arc without a condition
//! therefore ends the list: an arc after it is never taken (shadowed), and two unconditional arcs
//! of equal priority say two different things for the same situation (non-deterministic).

use super::Context;
use crate::ast::{Arc, Origin};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::Span;
use std::collections::BTreeMap;

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    for (net, network) in cx.networks() {
        // (source state, event) -> arcs in declaration order.
        let mut groups: BTreeMap<(usize, Option<&str>), Vec<&Arc>> = BTreeMap::new();
        for arc in &network.arcs {
            if let Some(from) = cx.state(net, &arc.from.value) {
                let event = arc.on.as_ref().map(|e| e.value.as_str());
                groups.entry((from, event)).or_default().push(arc);
            }
        }
        for mut arcs in groups.into_values() {
            // Stable: ties keep declaration order; a superstate's arcs come after the state's own.
            arcs.sort_by_key(|a| (a.origin.level(), std::cmp::Reverse(priority(a))));
            check_group(&arcs, diags);
        }
    }
}

fn priority(arc: &Arc) -> i64 {
    arc.priority.as_ref().map_or(0, |p| p.value)
}

/// Where to point at an arc: its target.
fn target_span(arc: &Arc) -> Span {
    arc.to
        .as_ref()
        .or(arc.target_network.as_ref())
        .map_or(arc.from.span, |t| t.span)
}

fn describe(arc: &Arc) -> String {
    let target = arc
        .to
        .as_ref()
        .map(|t| format!("to `{}`", t.value))
        .or_else(|| arc.target_network.as_ref().map(|t| format!("pushing `{}`", t.value)))
        .unwrap_or_default();
    let event = arc
        .on
        .as_ref()
        .map(|e| format!(" on `{}`", e.value))
        .unwrap_or_default();
    let from = match &arc.origin {
        Origin::Wildcard => crate::ast::WILDCARD,
        Origin::Superstate { name, .. } => name.as_str(),
        Origin::Written | Origin::List => arc.from.value.as_str(),
    };
    format!("the arc from `{from}`{event} {target}")
}

/// `arcs` share a source state and event and are in the order they are tried.
///
/// Arcs written for many states are the exceptions: a superstate's arc that a state's own arc
/// (or a nearer superstate's) takes precedence over, and a wildcard arc that an arc written before
/// it takes precedence over, are what they are for (the general rule, overridden), so nothing is
/// said; an arc after a wildcard arc that always wins is a warning, said once for the wildcard.
fn check_group(arcs: &[&Arc], diags: &mut Diagnostics) {
    let Some(first) = arcs.iter().position(|a| a.condition.is_empty()) else {
        return;
    };
    let winner = arcs[first];
    for later in &arcs[first + 1..] {
        let overridden = later.origin.level() > winner.origin.level()
            || (later.origin == Origin::Wildcard && winner.origin != Origin::Wildcard);
        if overridden {
            continue;
        }
        if winner.origin == Origin::Wildcard && later.origin != Origin::Wildcard {
            diags.push(
                Diagnostic::warning(
                    codes::SHADOWED_ARC,
                    format!("{} is never taken", describe(later)),
                    target_span(later),
                    "never taken",
                )
                .with_label(
                    winner.from.span,
                    "this wildcard arc has no condition and is tried first",
                )
                .with_help(
                    "a wildcard arc (source `_`) takes its event in every state, in declaration order; \
                     write this arc before it, or give it a higher `priority`",
                ),
            );
        } else if later.condition.is_empty() && priority(later) == priority(winner) {
            diags.push(
                Diagnostic::error(
                    codes::NONDETERMINISTIC_ARCS,
                    format!("{} competes with an earlier arc", describe(later)),
                    target_span(later),
                    "no condition, same priority",
                )
                .with_label(target_span(winner), "this arc also has no condition")
                .with_help("add a `condition` to one of them, or give them different `priority` values"),
            );
        } else {
            diags.push(
                Diagnostic::error(
                    codes::SHADOWED_ARC,
                    format!("{} is never taken", describe(later)),
                    target_span(later),
                    "never taken",
                )
                .with_label(target_span(winner), "this arc has no condition and is tried first")
                .with_help(
                    "arcs are tried by priority, then in order; give this arc a higher `priority`, or a \
                     `condition` to the arc that takes precedence",
                ),
            );
        }
    }
}
