//! Graph facts: states no run reaches, states from which no end state can be reached (both
//! warnings), and push arcs that form a cycle between networks (an error).
//!
//! Within a network the edges of a state are its arcs' `to` and `return_state`, and its
//! `on_error`. A push arc without `return_state` ends the run where the pushed network ends, so
//! its source state counts as reaching an end. Networks with an unresolved reference or without
//! exactly one start state are skipped: those problems are reported already.

use super::Context;
use super::refs::Unresolved;
use super::structure::is_end;
use crate::ast::Network;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};

pub(super) fn check(cx: &Context<'_>, unresolved: &Unresolved, diags: &mut Diagnostics) {
    for (net, network) in cx.networks() {
        if !unresolved.in_network(net) {
            reachability(cx, net, network, diags);
        }
    }
    push_cycles(cx, diags);
}

fn reachability(cx: &Context<'_>, net: usize, network: &Network, diags: &mut Diagnostics) {
    let n = network.states.len();
    let mut starts = network
        .states
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_start.as_ref().is_some_and(|b| b.value));
    let (Some((start, _)), None) = (starts.next(), starts.next()) else {
        return;
    };
    // Edges, forward and backward; `terminal` marks states that end a run.
    let mut forward: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut backward: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut terminal: Vec<bool> = network.states.iter().map(is_end).collect();
    let mut edge = |from: usize, to: usize| {
        forward[from].push(to);
        backward[to].push(from);
    };
    for (i, state) in network.states.iter().enumerate() {
        for to in state.on_error.iter().filter_map(|t| cx.state(net, &t.to.value)) {
            edge(i, to);
        }
    }
    for arc in &network.arcs {
        let Some(from) = cx.state(net, &arc.from.value) else {
            continue;
        };
        for target in [&arc.to, &arc.return_state].into_iter().flatten() {
            if let Some(to) = cx.state(net, &target.value) {
                edge(from, to);
            }
        }
        if arc.target_network.is_some() && arc.return_state.is_none() {
            terminal[from] = true;
        }
    }
    let reached = flood(&[start], &forward);
    let productive_from: Vec<usize> = (0..n).filter(|&i| terminal[i]).collect();
    let productive = flood(&productive_from, &backward);
    // Without end states there is nothing to reach: reported by `structure` (data-driven
    // networks) or legitimate (event-driven ones run until stopped).
    let has_end = network.states.iter().any(is_end);
    for (i, state) in network.states.iter().enumerate() {
        if cx.state(net, &state.name.value) != Some(i) {
            continue; // a duplicate, reported as such
        }
        if !reached[i] {
            diags.push(
                Diagnostic::warning(
                    codes::UNREACHABLE_STATE,
                    format!("state `{}` is unreachable", state.name.value),
                    state.name.span,
                    "no run gets here",
                )
                .with_label(network.states[start].name.span, "runs start here")
                .with_help("add an arc to it from a reachable state, or remove it"),
            );
        } else if !productive[i] && has_end && !is_end(state) && !forward[i].is_empty() {
            // (a state without any way out is a dead end, reported by `structure`)
            diags.push(
                Diagnostic::warning(
                    codes::NO_PATH_TO_END,
                    format!("no end state can be reached from state `{}`", state.name.value),
                    state.name.span,
                    "runs that get here never end",
                )
                .with_help("add an arc that leads towards an end state"),
            );
        }
    }
}

/// The states reachable from `from` along `edges`.
fn flood(from: &[usize], edges: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    let mut stack: Vec<usize> = from.to_vec();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        stack.extend(edges[i].iter().copied().filter(|&j| !seen[j]));
    }
    seen
}

/// Push arcs between networks must not form a cycle (the run's stack of networks would grow
/// without bound). Each cycle is reported once, at the push arc that closes it.
fn push_cycles(cx: &Context<'_>, diags: &mut Diagnostics) {
    let networks = &cx.machine.networks;
    // For each network, its push arcs: (target network, index of the arc).
    let pushes: Vec<Vec<(usize, usize)>> = networks
        .iter()
        .map(|n| {
            n.arcs
                .iter()
                .enumerate()
                .filter_map(|(a, arc)| {
                    let target = arc.target_network.as_ref()?;
                    cx.networks.get(target.value.as_str()).map(|&t| (t, a))
                })
                .collect()
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; networks.len()];
    for root in 0..networks.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative depth-first search; `path` holds (network, arc taken to the next one).
        let mut path: Vec<(usize, usize)> = Vec::new();
        let mut next: Vec<usize> = vec![0; networks.len()];
        let mut stack = vec![root];
        mark[root] = Mark::Open;
        while let Some(&net) = stack.last() {
            let Some(&(target, arc)) = pushes[net].get(next[net]) else {
                mark[net] = Mark::Done;
                stack.pop();
                path.pop();
                continue;
            };
            next[net] += 1;
            match mark[target] {
                Mark::New => {
                    mark[target] = Mark::Open;
                    path.push((net, arc));
                    stack.push(target);
                }
                Mark::Open => {
                    let from = path.iter().position(|&(n, _)| n == target).unwrap_or(path.len());
                    let mut cycle: Vec<(usize, usize)> = path[from..].to_vec();
                    cycle.push((net, arc));
                    diags.push(cycle_diagnostic(cx, &cycle));
                }
                Mark::Done => {}
            }
        }
    }
}

fn cycle_diagnostic(cx: &Context<'_>, cycle: &[(usize, usize)]) -> Diagnostic {
    let networks = &cx.machine.networks;
    let push_span = |&(net, arc): &(usize, usize)| {
        let arc = &networks[net].arcs[arc];
        arc.target_network.as_ref().map_or(arc.from.span, |t| t.span)
    };
    let names: Vec<&str> = cycle.iter().map(|&(n, _)| networks[n].name.value.as_str()).collect();
    let mut route = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>();
    route.push(format!("`{}`", names[0]));
    let (closing, rest) = match cycle.split_last() {
        Some((last, rest)) => (last, rest),
        None => (&(0, 0), &[][..]),
    };
    let mut d = Diagnostic::error(
        codes::PUSH_CYCLE,
        format!("push arcs form a cycle between networks: {}", route.join(" -> ")),
        push_span(closing),
        "this push closes the cycle",
    )
    .with_help("a pushed network must not push, directly or not, the network that pushed it");
    for step in rest {
        let target = networks[step.0].arcs[step.1].target_network.as_ref();
        d = d.with_label(
            push_span(step),
            format!("pushes `{}`", target.map_or("", |t| t.value.as_str())),
        );
    }
    d
}
