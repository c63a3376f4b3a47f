//! References: every name that points at something (`from`, `to`, `return_state`, `on_error`,
//! `target_network`, `on`, `resources`, `main_network`) must name something declared, with a
//! did-you-mean when it almost does.

use super::{Context, suggest};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::Spanned;

/// Which networks have a reference that did not resolve (their graph facts are not computed).
pub(super) struct Unresolved {
    networks: Vec<bool>,
}

impl Unresolved {
    /// Whether network `net` has an unresolved state or network reference.
    pub fn in_network(&self, net: usize) -> bool {
        self.networks.get(net).copied().unwrap_or(true)
    }
}

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) -> Unresolved {
    let machine = cx.machine;
    let mut unresolved = Unresolved {
        networks: vec![false; machine.networks.len()],
    };
    if let Some(main) = &machine.main_network
        && !cx.networks.contains_key(main.value.as_str())
    {
        diags.push(
            Diagnostic::error(
                codes::MAIN_NETWORK,
                format!("`main_network` names no network: `{}`", main.value),
                main.span,
                "no such network",
            )
            .with_help(suggest(&main.value, "networks", network_names(cx))),
        );
    }
    for (net, network) in cx.networks() {
        let state_names = || network.states.iter().map(|s| s.name.value.as_str());
        let scope = if machine.implicit_network {
            String::new()
        } else {
            format!(" in network `{}`", network.name.value)
        };
        let mut state_ref = |name: &Spanned<String>, diags: &mut Diagnostics| {
            if cx.state(net, &name.value).is_none() {
                unresolved.networks[net] = true;
                if name.value.is_empty() {
                    return; // not a name, reported by the reader
                }
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_STATE,
                        format!("unknown state `{}`{scope}", name.value),
                        name.span,
                        "no such state",
                    )
                    .with_help(suggest(&name.value, "states", state_names())),
                );
            }
        };
        for state in &network.states {
            for entry in &state.on_error {
                state_ref(&entry.to, diags);
            }
        }
        let mut into_unresolved = false;
        for arc in &network.arcs {
            state_ref(&arc.from, diags);
            // An arc into a superstate without `initial` (the readers resolved those with one).
            let into_superstate = arc.to.as_ref().and_then(|to| {
                let sup = network.superstates.iter().find(|s| s.name.value == to.value)?;
                cx.state(net, &to.value).is_none().then_some((to, sup))
            });
            if let Some((to, sup)) = into_superstate {
                into_unresolved = true;
                // An `initial` that is not inside it is reported at the `initial`.
                if sup.initial.is_none() {
                    diags.push(
                        Diagnostic::error(
                            codes::INVALID_ARC,
                            format!("an arc into superstate `{}`, which has no `initial` state", to.value),
                            to.span,
                            "a superstate, not a state",
                        )
                        .with_help(format!(
                            "give superstate `{}` the state an arc into it enters: `initial: <state>`, or write the state here",
                            to.value
                        )),
                    );
                }
            } else if let Some(to) = &arc.to {
                state_ref(to, diags);
            }
            if let Some(back) = &arc.return_state {
                state_ref(back, diags);
            }
        }
        if into_unresolved {
            unresolved.networks[net] = true;
        }
        for arc in &network.arcs {
            if let Some(target) = &arc.target_network
                && !cx.networks.contains_key(target.value.as_str())
            {
                unresolved.networks[net] = true;
            }
            if let Some(target) = &arc.target_network
                && !target.value.is_empty()
                && !cx.networks.contains_key(target.value.as_str())
            {
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_NETWORK,
                        format!("unknown network `{}`", target.value),
                        target.span,
                        "no such network",
                    )
                    .with_help(suggest(&target.value, "networks", network_names(cx))),
                );
            }
            if let Some(event) = &arc.on
                && !event.value.is_empty()
                && !cx.events.contains_key(event.value.as_str())
            {
                let names = machine.events.iter().map(|e| e.name.value.as_str());
                let help = if machine.events.is_empty() {
                    format!("declare it: `events: [{}]`", event.value)
                } else {
                    suggest(&event.value, "events", names)
                };
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_EVENT,
                        format!("unknown event `{}`", event.value),
                        event.span,
                        "not declared in `events`",
                    )
                    .with_help(help),
                );
            }
        }
        let used = network
            .states
            .iter()
            .flat_map(|s| &s.resources)
            .chain(network.arcs.iter().flat_map(|a| &a.resources));
        for resource in used {
            if !cx.resources.contains_key(resource.value.as_str()) {
                diags.push(unknown_resource(cx, resource));
            }
        }
    }
    unresolved
}

fn network_names<'m>(cx: &Context<'m>) -> impl Iterator<Item = &'m str> + Clone {
    cx.machine.networks.iter().map(|n| n.name.value.as_str())
}

/// A reference to a resource the machine does not declare, with a suggestion.
pub(super) fn unknown_resource(cx: &Context<'_>, resource: &crate::span::Spanned<String>) -> Diagnostic {
    let names = cx.machine.resources.iter().map(|r| r.name.value.as_str());
    Diagnostic::error(
        codes::UNKNOWN_RESOURCE,
        format!("unknown resource `{}`", resource.value),
        resource.span,
        "not declared in `resources`",
    )
    .with_help(suggest(&resource.value, "resources", names))
}
