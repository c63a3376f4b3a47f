//! Kinds of errors: the kinds named by a state's `on_error` entries and its `retry: { on: .. }`
//! are declared in `errors:` or built in; a catch-all entry comes last (the entries after it are
//! never tried); and a kind no function of the state can return is worth a warning (the entry
//! is dead).
//!
//! What can return what: a kind declared in `errors:`, `timeout` and `rate_limited` come from a
//! function the state runs (its checks, transforms, entry and exit actions, the transforms and
//! fallible conditions of its arcs) that is not declared `infallible` (the resources report
//! `timeout` and `rate_limited` too), and `timeout` from the state's `timeout_seconds`;
//! `circuit_open` only from the state's `circuit_breaker`, `store_conflict` only from the
//! `reference` data mode. `step_limit` stops the run: no `on_error` entry ever takes it.

use super::{Context, suggest};
use crate::ast::{DataMode, FunctionRef, Network, State, Value};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::Spanned;
use crate::syntax::keys;

/// The kinds the runtime reports (`fsm_runtime::ErrorKind::BUILTIN`, same order).
pub(crate) const BUILTIN: &[&str] = &[
    "timeout",
    "circuit_open",
    "rate_limited",
    "store_conflict",
    "step_limit",
];

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    let machine = cx.machine;
    for decl in &machine.errors {
        if BUILTIN.contains(&decl.name.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_ERROR_KIND,
                    format!("`{}` is a built-in kind of error", decl.name.value),
                    decl.name.span,
                    "built in",
                )
                .with_help(format!(
                    "the runtime reports it; name it in `on_error` and `retry` without declaring it (built in: {})",
                    BUILTIN.join(", ")
                )),
            );
        }
    }
    let declared = || machine.errors.iter().map(|e| e.name.value.as_str());
    let known = |name: &str| BUILTIN.contains(&name) || declared().any(|d| d == name);
    let unknown = |kind: &Spanned<String>, diags: &mut Diagnostics| {
        let help = match crate::diagnostics::did_you_mean(&kind.value, declared().chain(BUILTIN.iter().copied())) {
            Some(better) => format!("did you mean `{better}`?"),
            None if machine.errors.is_empty() => format!(
                "declare it in the machine's `errors:` (built in: {})",
                BUILTIN.join(", ")
            ),
            None => format!(
                "{}; or declare it in `errors:` (built in: {})",
                suggest(&kind.value, "kinds of errors", declared()),
                BUILTIN.join(", ")
            ),
        };
        diags.push(
            Diagnostic::error(
                codes::UNKNOWN_ERROR_KIND,
                format!("unknown kind of error `{}`", kind.value),
                kind.span,
                "no such kind",
            )
            .with_help(help),
        );
    };
    let default_mode = machine.data_mode.as_ref().map(|m| m.value);
    for (_, network) in cx.networks() {
        for state in &network.states {
            entries(state, diags);
            let sources = Sources::of(cx, network, state, default_mode);
            for entry in &state.on_error {
                for kind in &entry.kinds {
                    if !known(&kind.value) {
                        unknown(kind, diags);
                    } else if let Some(why) = sources.cannot_return(&kind.value) {
                        diags.push(
                            Diagnostic::warning(
                                codes::UNRETURNED_ERROR_KIND,
                                format!(
                                    "no function of state `{}` can fail with `{}`",
                                    state.name.value, kind.value
                                ),
                                kind.span,
                                "never caught here",
                            )
                            .with_help(why),
                        );
                    }
                }
            }
            for kind in retry_kinds(state) {
                if !known(&kind.value) {
                    unknown(&kind, diags);
                }
            }
        }
    }
}

/// The entries of one state's `on_error`: a catch-all last, each kind once.
fn entries(state: &State, diags: &mut Diagnostics) {
    let mut catch_all = None;
    for entry in &state.on_error {
        if let Some(first) = catch_all {
            diags.push(
                Diagnostic::error(
                    codes::SHADOWED_ERROR_ARC,
                    format!("this `on_error` entry of state `{}` is never tried", state.name.value),
                    entry.span,
                    "never tried",
                )
                .with_label(first, "this entry takes every error")
                .with_help("put the entry without `kinds` last"),
            );
            continue;
        }
        if entry.kinds.is_empty() {
            catch_all = Some(entry.span);
        }
    }
    let all: Vec<&Spanned<String>> = state.on_error.iter().flat_map(|e| &e.kinds).collect();
    for (i, kind) in all.iter().enumerate() {
        if let Some(first) = all[..i].iter().find(|k| k.value == kind.value) {
            diags.push(
                Diagnostic::error(
                    codes::SHADOWED_ERROR_ARC,
                    format!("kind `{}` is taken by an earlier entry", kind.value),
                    kind.span,
                    "never taken here",
                )
                .with_label(first.span, "taken here")
                .with_help("name each kind in one entry of `on_error`"),
            );
        }
    }
}

/// The kinds of a state's `retry: { on: .. }`, with their spans.
fn retry_kinds(state: &State) -> Vec<Spanned<String>> {
    let Some(Value::Map(entries)) = state.retry.as_ref().map(|r| &r.value) else {
        return Vec::new();
    };
    let Some((_, on)) = entries.iter().find(|(k, _)| k.value == keys::ON) else {
        return Vec::new();
    };
    let name = |v: &Spanned<Value>| match &v.value {
        Value::String(s) => Some(Spanned::new(s.clone(), v.span)),
        _ => None,
    };
    match &on.value {
        Value::Seq(kinds) => kinds.iter().filter_map(name).collect(),
        _ => name(on).into_iter().collect(),
    }
}

/// What in a state can fail, and so which kinds its errors may have.
struct Sources {
    /// A function that may fail (not declared `infallible`; a condition declared `fallible`).
    fallible: bool,
    timeout: bool,
    breaker: bool,
    reference: bool,
}

impl Sources {
    fn of(cx: &Context<'_>, network: &Network, state: &State, default_mode: Option<DataMode>) -> Self {
        let decl = |name: &str| cx.functions.get(name).map(|&i| &cx.machine.functions[i]);
        let may_fail = |f: &FunctionRef| match f {
            FunctionRef::Named(n) => !decl(&n.value).is_some_and(|d| d.infallible.as_ref().is_some_and(|i| i.value)),
            FunctionRef::Rust { .. } | FunctionRef::Builtin { .. } => true,
        };
        let condition_may_fail = |f: &FunctionRef| match f {
            FunctionRef::Named(n) => decl(&n.value).is_some_and(|d| d.fallible.as_ref().is_some_and(|i| i.value)),
            _ => false,
        };
        let own = state
            .validate
            .iter()
            .chain(&state.transform)
            .chain(&state.on_entry)
            .chain(&state.on_exit);
        let arcs = network.arcs.iter().filter(|a| a.from.value == state.name.value);
        let fallible = own.clone().any(may_fail)
            || arcs
                .clone()
                .any(|a| a.transform.iter().any(may_fail) || a.condition.iter().any(condition_may_fail));
        let mode = state.data_mode.as_ref().map(|m| m.value).or(default_mode);
        let has_functions = own.clone().next().is_some();
        Sources {
            fallible,
            timeout: state.timeout_seconds.is_some() && has_functions,
            breaker: state.circuit_breaker.is_some() && has_functions,
            reference: mode == Some(DataMode::Reference) && has_functions,
        }
    }

    /// Why the state's errors never have `kind`, or `None` when they may.
    fn cannot_return(&self, kind: &str) -> Option<String> {
        let (may, why) = match kind {
            "timeout" => (
                self.timeout || self.fallible,
                "give the state `timeout_seconds` (and functions), or remove the kind from the entry",
            ),
            "circuit_open" => (
                self.breaker,
                "give the state a `circuit_breaker`, or remove the kind from the entry",
            ),
            "store_conflict" => (
                self.reference,
                "only a `reference` state that runs functions saves the record (and may conflict)",
            ),
            "rate_limited" => (
                self.fallible,
                "it comes from a function (a resource's HTTP 429); the state's own `rate_limit` waits and never fails",
            ),
            "step_limit" => (
                false,
                "the step limit stops the run: no `on_error` entry takes it (see `RunError::kind`)",
            ),
            _ => (
                self.fallible,
                "every function of the state (and of its arcs) is declared `infallible`, or it has none",
            ),
        };
        (!may).then(|| why.to_owned())
    }
}
