//! Arc order: arcs of the same state and event are tried by `priority` (highest first), then in
//! declaration order, and the first whose condition holds is taken. An arc without a condition
//! therefore ends the list: an arc after it is never taken (shadowed), and two unconditional arcs
//! of equal priority say two different things for the same situation (non-deterministic).

use super::Context;
use crate::ast::Arc;
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
            // Stable: ties keep declaration order.
            arcs.sort_by_key(|a| std::cmp::Reverse(priority(a)));
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
    format!("the arc from `{}`{event} {target}", arc.from.value)
}

/// `arcs` share a source state and event and are in the order they are tried.
fn check_group(arcs: &[&Arc], diags: &mut Diagnostics) {
    let Some(first) = arcs.iter().position(|a| a.condition.is_none()) else {
        return;
    };
    let winner = arcs[first];
    for later in &arcs[first + 1..] {
        if later.condition.is_none() && priority(later) == priority(winner) {
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
