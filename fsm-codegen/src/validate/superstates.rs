//! Superstates: unique names (among the network's states too), a `superstate:` or `parent:` that
//! names a superstate of the same network, and parents that do not go round in a circle.

use super::{Context, suggest};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::Spanned;

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    for (_, network) in cx.networks() {
        let names = || network.superstates.iter().map(|s| s.name.value.as_str());
        for (i, sup) in network.superstates.iter().enumerate() {
            if let Some(state) = network.states.iter().find(|s| s.name.value == sup.name.value) {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_STATE,
                        format!("`{}` is both a state and a superstate", sup.name.value),
                        sup.name.span,
                        "superstate",
                    )
                    .with_label(state.name.span, "state")
                    .with_help("an arc `from:` it would be ambiguous; rename one of them"),
                );
            } else if let Some(first) = network.superstates[..i].iter().find(|s| s.name.value == sup.name.value) {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_STATE,
                        format!("duplicate superstate `{}`", sup.name.value),
                        sup.name.span,
                        "defined again here",
                    )
                    .with_label(first.name.span, "first defined here")
                    .with_help("superstate names are unique in a network; rename or remove one"),
                );
            }
        }
        let unknown = |name: &Spanned<String>, diags: &mut Diagnostics| {
            if name.value.is_empty() || names().any(|n| n == name.value) {
                return;
            }
            let help = if network.superstates.is_empty() {
                format!(
                    "declare it in the network's `superstates`: `superstates: [{{ name: {} }}]`",
                    name.value
                )
            } else {
                suggest(&name.value, "superstates", names())
            };
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_STATE,
                    format!("unknown superstate `{}`", name.value),
                    name.span,
                    "no such superstate",
                )
                .with_help(help),
            );
        };
        for state in &network.states {
            if let Some(sup) = &state.superstate {
                unknown(sup, diags);
            }
        }
        for sup in &network.superstates {
            if let Some(parent) = &sup.parent {
                unknown(parent, diags);
            }
        }
        // `initial`: a state inside the superstate; `history`: with an `initial`, and no
        // superstate inside (the state remembered is then the superstate's own child).
        for sup in &network.superstates {
            if let Some(initial) = &sup.initial {
                match network.states.iter().find(|s| s.name.value == initial.value) {
                    None if !initial.value.is_empty() => diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_STATE,
                            format!("unknown state `{}`", initial.value),
                            initial.span,
                            "no such state",
                        )
                        .with_help(suggest(
                            &initial.value,
                            "states",
                            network.states.iter().map(|s| s.name.value.as_str()),
                        )),
                    ),
                    Some(state)
                        if !crate::ast::superstate_chain(
                            network,
                            state.superstate.as_ref().map(|n| n.value.as_str()),
                        )
                        .contains(&sup.name.value.as_str()) =>
                    {
                        diags.push(
                            Diagnostic::error(
                                codes::INVALID_VALUE,
                                format!("`initial` of superstate `{}` is outside it", sup.name.value),
                                initial.span,
                                "not inside the superstate",
                            )
                            .with_label(state.name.span, "this state is not in the superstate")
                            .with_help(format!(
                                "name a state inside `{}` (`superstate: {}`), or put this one in it",
                                sup.name.value, sup.name.value
                            )),
                        );
                    }
                    _ => {}
                }
            }
            let Some(history) = sup.history.as_ref().filter(|h| h.value) else {
                continue;
            };
            if sup.initial.is_none() {
                diags.push(
                    Diagnostic::error(
                        codes::MISSING_KEY,
                        format!("superstate `{}` has `history` but no `initial` state", sup.name.value),
                        history.span,
                        "history needs a first state",
                    )
                    .with_help("add `initial: <state>`: the state entered before the run was ever inside"),
                );
            }
            if let Some(inner) = network
                .superstates
                .iter()
                .find(|s| s.parent.as_ref().is_some_and(|p| p.value == sup.name.value))
            {
                diags.push(
                    Diagnostic::error(
                        codes::UNSUPPORTED,
                        format!(
                            "history of superstate `{}`, which has a superstate inside it",
                            sup.name.value
                        ),
                        history.span,
                        "history here",
                    )
                    .with_label(inner.name.span, "a superstate inside it")
                    .with_help(
                        "history remembers a state; give the inner superstate the history instead, \
                         or put its states directly in this one",
                    ),
                );
            }
        }
        // Cycles: from each superstate, follow the parents; report a cycle once, at the first
        // superstate of it in declaration order.
        let index = |name: &str| network.superstates.iter().position(|s| s.name.value == name);
        for (start, sup) in network.superstates.iter().enumerate() {
            let mut path = vec![start];
            let mut parent = sup.parent.as_ref();
            while let Some(next) = parent.and_then(|p| index(&p.value)) {
                if let Some(pos) = path.iter().position(|&p| p == next) {
                    let cycle = &path[pos..];
                    let first = cycle.iter().copied().min().unwrap_or(next);
                    // Each circle is reported once: from its first superstate.
                    if first == start {
                        let names: Vec<String> = cycle
                            .iter()
                            .chain(std::iter::once(&next))
                            .map(|&i| format!("`{}`", network.superstates[i].name.value))
                            .collect();
                        let at = sup.parent.as_ref().map_or(sup.name.span, |p| p.span);
                        diags.push(
                            Diagnostic::error(
                                codes::SUPERSTATE_CYCLE,
                                format!("superstates inside each other in a circle: {}", names.join(" in ")),
                                at,
                                "this parent closes the circle",
                            )
                            .with_help("a superstate cannot be inside itself; remove one of the `parent`s"),
                        );
                    }
                    break;
                }
                path.push(next);
                parent = network.superstates[next].parent.as_ref();
            }
        }
    }
}
