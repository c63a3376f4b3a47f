//! State data: a state that carries its own data (`data:` of the state) gets it from the arc that
//! enters it (`data:` of the arc, a function that makes it). So every arc into such a state names
//! a maker, only such arcs do, and no state with data is entered where no arc runs: as a start
//! state, an `on_error` target, a `return_state`, or a state a superstate's `history` resumes
//! (its data was dropped when the run left it).

use super::Context;
use crate::ast;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::Span;
use std::collections::HashSet;

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    // An arc from a list, `_` or a superstate is one arc per source: report it once.
    let mut reported: HashSet<(&'static str, Span)> = HashSet::new();
    let mut push = |d: Diagnostic, code: &'static str, at: Span| {
        if reported.insert((code, at)) {
            diags.push(d);
        }
    };
    for (n, net) in cx.machine.networks.iter().enumerate() {
        let data_of = |name: &str| {
            cx.state(n, name)
                .and_then(|s| net.states[s].data.as_ref())
                .map(|d| d.value.trim())
        };
        let has_history = |name: &str| {
            net.superstates
                .iter()
                .any(|s| s.name.value == name && s.history.as_ref().is_some_and(|h| h.value))
        };
        for arc in &net.arcs {
            // An arc into a superstate with history resumes a state: reported at that state.
            if arc.into.as_ref().is_some_and(|i| has_history(&i.value)) {
                continue;
            }
            arc_data(arc, &data_of, &mut push);
        }
        for state in &net.states {
            let Some(ty) = &state.data else { continue };
            let name = &state.name.value;
            if state.is_start.as_ref().is_some_and(|s| s.value) {
                let whose = if cx.machine.networks.len() > 1 {
                    format!(" of network `{}`", net.name.value)
                } else {
                    String::new()
                };
                push(
                    Diagnostic::error(
                        codes::STATE_DATA_UNMADE,
                        format!("start state `{name}`{whose} carries data, which nothing makes"),
                        ty.span,
                        "a run enters its start state without an arc",
                    )
                    .with_label(state.name.span, "the start state")
                    .with_help(format!(
                        "start in a state without data and go on to `{name}` by an arc that makes its data \
                         (`data: make_{name}` on the arc; an arc without `on:` is taken at once)"
                    )),
                    codes::STATE_DATA_UNMADE,
                    ty.span,
                );
            }
            let history = ast::superstate_chain(net, state.superstate.as_ref().map(|s| s.value.as_str()))
                .into_iter()
                .find(|sup| has_history(sup));
            if let Some(sup) = history {
                push(
                    Diagnostic::error(
                        codes::STATE_DATA_UNMADE,
                        format!("state `{name}` carries data, but superstate `{sup}` has `history`"),
                        ty.span,
                        "dropped when the run leaves the state",
                    )
                    .with_help(format!(
                        "an arc into `{sup}` resumes the state it remembers, which has no data to resume with: \
                         keep `{name}` out of `{sup}`, or its data in the record"
                    )),
                    codes::STATE_DATA_UNMADE,
                    ty.span,
                );
            }
        }
        // Entered without an arc: `on_error` targets and push arcs' return states.
        let unmade = net
            .states
            .iter()
            .flat_map(|s| s.on_error.iter().map(|e| (&e.to, "`on_error` leads here")))
            .chain(
                net.arcs
                    .iter()
                    .filter_map(|a| a.return_state.as_ref().map(|r| (r, "the push arc returns here"))),
            );
        for (target, how) in unmade {
            if data_of(&target.value).is_some() {
                push(
                    Diagnostic::error(
                        codes::STATE_DATA_UNMADE,
                        format!("state `{}` carries data, which nothing makes here", target.value),
                        target.span,
                        how,
                    )
                    .with_help(format!(
                        "lead here to a state without data, and from it to `{}` by an arc that makes its data",
                        target.value
                    )),
                    codes::STATE_DATA_UNMADE,
                    target.span,
                );
            }
        }
    }
}

fn arc_data<'a>(
    arc: &ast::Arc,
    data_of: &dyn Fn(&str) -> Option<&'a str>,
    push: &mut dyn FnMut(Diagnostic, &'static str, Span),
) {
    let internal = arc.internal.as_ref().is_some_and(|i| i.value);
    let target = arc.to.as_ref().filter(|_| arc.target_network.is_none() && !internal);
    let target_data = target.and_then(|t| data_of(&t.value).map(|d| (t, d)));
    match (&arc.data, target_data) {
        (None, Some((to, ty))) => push(
            Diagnostic::error(
                codes::STATE_DATA_MISSING,
                format!("the arc into `{}` does not make its data", to.value),
                to.span,
                format!("`{}` carries data: `{ty}`", to.value),
            )
            .with_help(format!(
                "name the function that makes it: `data: make_{0}` on the arc (`with make_{0}` in `fsm!`), \
                 which returns `Result<{ty}, FnError>` from the record (and the event's payload)",
                to.value
            )),
            codes::STATE_DATA_MISSING,
            to.span,
        ),
        (Some(f), None) => {
            let (label, help) = if internal {
                (
                    "an internal arc stays in its state and keeps its data".to_owned(),
                    "remove `data:`; to make the data again, drop `internal` (a self-transition leaves and \
                     enters the state)"
                        .to_owned(),
                )
            } else if let Some(tn) = &arc.target_network {
                (
                    format!(
                        "a push arc enters the start state of `{}`, which carries no data",
                        tn.value
                    ),
                    "remove `data:`".to_owned(),
                )
            } else {
                let to = arc.to.as_ref().map_or("", |t| t.value.as_str());
                (
                    format!("state `{to}` carries no data"),
                    format!("remove `data:`, or declare the type of `{to}`'s data with `data:` on the state"),
                )
            };
            push(
                Diagnostic::error(
                    codes::STATE_DATA_UNEXPECTED,
                    "the arc makes state data for a state that takes none",
                    f.span(),
                    label,
                )
                .with_help(help),
                codes::STATE_DATA_UNEXPECTED,
                f.span(),
            );
        }
        _ => {}
    }
}
