//! The skeleton the macros emit next to their errors, so that one mistake in a machine gives one
//! error rather than a cascade of "cannot find type `OrderState`" errors in the code that uses it
//! (askama's `build_skeleton`; DEPENDENCIES.md: "still emit the generated module, minus the
//! broken parts").
//!
//! The machine is repaired, not guessed at: each error's node is taken out (the misspelled
//! `on_error`, the arc to an unknown state, the second of two states with one name), or, for the
//! few errors that are about something missing, the smallest fix is made (the first state becomes
//! the start state). Validation runs again after each round; once the machine is valid, the real
//! generator produces its code. A machine that cannot be repaired in a few rounds gets no
//! skeleton; its errors are all there is.

use crate::ast::{Arc, FunctionRef, Machine, State};
use crate::diagnostics::{Diagnostics, Severity, codes};
use crate::span::Span;
use proc_macro2::TokenStream;

/// Rounds of repair before giving up (each removes at least one node).
const MAX_ROUNDS: usize = 16;

/// The generated code of `machine` with its broken parts removed, or nothing when it cannot be
/// repaired. The repaired machine goes through the one pipeline ([`crate::generate`]) with the
/// caller's `options` (e.g. the runtime path).
pub fn skeleton(machine: &Machine, options: &crate::codegen::Options) -> TokenStream {
    repair(machine)
        .and_then(|m| crate::generate(&m, None, options).ok())
        .map_or_else(TokenStream::new, |g| g.tokens)
}

/// A valid machine obtained from `machine` by taking out or fixing what validation reports, if
/// there is one within a few rounds.
pub fn repair(machine: &Machine) -> Option<Machine> {
    let mut m = machine.clone();
    for _ in 0..MAX_ROUNDS {
        let diagnostics = crate::validate::validate(&m);
        if !diagnostics.has_errors() {
            return Some(m);
        }
        if !fix_round(&mut m, &diagnostics) {
            return None;
        }
    }
    None
}

/// Fixes every error it can; returns whether anything changed.
fn fix_round(m: &mut Machine, diagnostics: &Diagnostics) -> bool {
    let mut changed = false;
    for d in diagnostics.iter().filter(|d| d.severity == Severity::Error) {
        changed |= fix(m, d.code, d.span());
    }
    changed
}

fn inside(outer: Span, inner: Span) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && !outer.is_empty()
}

fn fix(m: &mut Machine, code: &str, at: Span) -> bool {
    // Things that are missing: the smallest addition.
    match code {
        codes::NO_START_STATE => {
            for n in &mut m.networks {
                if n.states.iter().all(|s| s.is_start.as_ref().is_none_or(|v| !v.value))
                    && let Some(s) = n.states.first_mut()
                {
                    s.is_start = Some(crate::span::Spanned::new(true, s.name.span));
                    return true;
                }
            }
        }
        codes::NO_END_STATE => {
            for n in &mut m.networks {
                if n.states.iter().all(|s| s.is_end.as_ref().is_none_or(|v| !v.value)) {
                    // An end state has no arcs: the last state without outgoing arcs, if any.
                    let candidate = n
                        .states
                        .iter()
                        .rposition(|s| n.arcs.iter().all(|a| a.from.value != s.name.value));
                    if let Some(i) = candidate {
                        let s = &mut n.states[i];
                        s.is_end = Some(crate::span::Spanned::new(true, s.name.span));
                        return true;
                    }
                }
            }
        }
        codes::DEAD_END => {
            // A state with no way out: make it an end state rather than lose its variant.
            for n in &mut m.networks {
                if let Some(s) = n.states.iter_mut().find(|s| inside(s.span, at) && s.is_end.is_none()) {
                    s.is_end = Some(crate::span::Spanned::new(true, s.name.span));
                    return true;
                }
            }
        }
        codes::MAIN_NETWORK => {
            if let Some(first) = m.networks.first() {
                let name = first.name.clone();
                if m.main_network.as_ref().is_none_or(|mn| mn.value != name.value) {
                    m.main_network = Some(name);
                    return true;
                }
            }
        }
        _ => {}
    }
    // An attribute that cannot apply: the enum without it.
    if let Some(attributes) = &mut m.attributes {
        for list in [&mut attributes.states, &mut attributes.events, &mut attributes.ends] {
            if let Some(i) = list.iter().position(|a| inside(a.span, at)) {
                list.remove(i);
                return true;
            }
        }
    }
    // Machine-level optional settings.
    if m.data.as_ref().is_some_and(|d| inside(d.span, at)) {
        m.data = None;
        return true;
    }
    if m.main_network.as_ref().is_some_and(|d| inside(d.span, at)) {
        m.main_network = None;
        return true;
    }
    // The smallest node holding the error: a part of a state or an arc, then the whole of it.
    for n in &mut m.networks {
        for s in &mut n.states {
            if inside(s.span, at) && !inside(s.name.span, at) && fix_state_part(s, at) {
                return true;
            }
        }
        for a in &mut n.arcs {
            if inside(a.span, at) && fix_arc_part(a, at) {
                return true;
            }
        }
    }
    for e in &mut m.events {
        if let Some(p) = &e.payload
            && inside(p.span, at)
        {
            e.payload = None;
            return true;
        }
    }
    for n in &mut m.networks {
        if let Some(i) = n.arcs.iter().position(|a| inside(a.span, at)) {
            n.arcs.remove(i);
            return true;
        }
        // The last match: of two states with one name, the second one is the mistake.
        if let Some(i) = n.states.iter().rposition(|s| inside(s.span, at)) {
            let was_start = n.states[i].is_start.as_ref().is_some_and(|v| v.value);
            n.states.remove(i);
            if was_start
                && n.states.iter().all(|s| s.is_start.is_none())
                && let Some(first) = n.states.first_mut()
            {
                first.is_start = Some(crate::span::Spanned::new(true, first.name.span));
            }
            return true;
        }
    }
    if let Some(i) = m.events.iter().rposition(|e| inside(e.span, at)) {
        m.events.remove(i);
        return true;
    }
    if let Some(i) = m.resources.iter().rposition(|r| inside(r.span, at)) {
        m.resources.remove(i);
        return true;
    }
    if let Some(i) = m.errors.iter().rposition(|e| inside(e.span, at)) {
        m.errors.remove(i);
        return true;
    }
    if let Some(i) = m.networks.iter().rposition(|n| inside(n.span, at))
        && m.networks.len() > 1
    {
        m.networks.remove(i);
        return true;
    }
    false
}

fn remove_function(list: &mut Vec<FunctionRef>, at: Span) -> bool {
    match list.iter().position(|f| inside(f.span(), at)) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

fn fix_state_part(s: &mut State, at: Span) -> bool {
    if s.compensate.as_ref().is_some_and(|c| inside(c.span(), at)) {
        s.compensate = None;
        return true;
    }
    if let Some(i) = s
        .on_error
        .iter()
        .position(|o| inside(o.to.span, at) || o.kinds.iter().any(|k| inside(k.span, at)))
    {
        s.on_error.remove(i);
        return true;
    }
    if let Some(i) = s.resources.iter().position(|r| inside(r.span, at)) {
        s.resources.remove(i);
        return true;
    }
    if s.superstate.as_ref().is_some_and(|o| inside(o.span, at)) {
        s.superstate = None;
        return true;
    }
    // A mistake in a `parallel` list (or the empty list itself): the skeleton runs none of it.
    if s.parallel
        .as_ref()
        .is_some_and(|p| inside(p.span, at) || p.value.iter().any(|f| inside(f.span(), at)))
    {
        s.parallel = None;
        return true;
    }
    remove_function(&mut s.validate, at)
        || remove_function(&mut s.transform, at)
        || remove_function(&mut s.on_entry, at)
        || remove_function(&mut s.on_exit, at)
}

fn fix_arc_part(a: &mut Arc, at: Span) -> bool {
    if remove_function(&mut a.condition, at) {
        return true;
    }
    if let Some(i) = a.resources.iter().position(|r| inside(r.span, at)) {
        a.resources.remove(i);
        return true;
    }
    remove_function(&mut a.transform, at)
}
