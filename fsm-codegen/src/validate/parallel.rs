//! A state's `parallel:` list: the functions a state runs at the same time. Each is an async
//! function (declared `async: true` in `functions:`), named once in the list, and used nowhere
//! else: it reads the record and returns a change (`Change<D>`), a signature of its own.
//!
//! A synchronous machine has no `parallel:`: its functions cannot run at the same time without
//! threads, and running the list one after another would only be `transform:` under another
//! name, so a function that is not async is refused here rather than run in sequence.

use super::{Context, functions_of, suggest};
use crate::ast::FunctionRef;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::Span;
use std::collections::HashMap;

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    let declared_async = |name: &str| {
        cx.functions
            .get(name)
            .and_then(|&i| cx.machine.functions[i].r#async.as_ref())
            .is_some_and(|a| a.value)
    };
    let async_names = || {
        cx.machine
            .functions
            .iter()
            .filter(|d| d.r#async.as_ref().is_some_and(|a| a.value))
            .map(|d| d.name.value.as_str())
    };
    // The functions of every list, and where each is listed, to refuse other uses.
    let mut listed: HashMap<&str, (Span, &str)> = HashMap::new();
    let mut in_lists: Vec<*const FunctionRef> = Vec::new();
    for network in &cx.machine.networks {
        for state in &network.states {
            let Some(list) = &state.parallel else { continue };
            let here = state.name.value.as_str();
            if list.value.is_empty() {
                diags.push(
                    Diagnostic::error(
                        codes::PARALLEL,
                        format!("state `{here}` has an empty `parallel` list"),
                        list.span,
                        "no function",
                    )
                    .with_help(
                        "name the async functions the state runs at the same time, \
                         `parallel: [fetch_orders, fetch_credit]`, or remove `parallel`",
                    ),
                );
            }
            let mut seen: HashMap<&str, Span> = HashMap::new();
            for f in &list.value {
                in_lists.push(f as *const FunctionRef);
                let name = match f {
                    FunctionRef::Named(name) if name.value.is_empty() => continue, // reported by the reader
                    FunctionRef::Named(name) => name,
                    FunctionRef::Rust { span, .. } | FunctionRef::Builtin { span, .. } => {
                        diags.push(
                            Diagnostic::error(
                                codes::PARALLEL,
                                format!("the `parallel` list of state `{here}` takes named async functions only"),
                                *span,
                                "not a named function",
                            )
                            .with_help(
                                "declare a function `{ name: f, async: true }` under `functions:` and name it here; \
                                 inline Rust and built-ins run in `transform:`",
                            ),
                        );
                        continue;
                    }
                };
                if let Some(first) = seen.insert(&name.value, name.span) {
                    diags.push(
                        Diagnostic::error(
                            codes::PARALLEL,
                            format!("`parallel` of state `{here}` names `{}` twice", name.value),
                            name.span,
                            "named again here",
                        )
                        .with_label(first, "first named here")
                        .with_help("name each function once: it runs once per entry into the state"),
                    );
                    continue;
                }
                listed.entry(&name.value).or_insert((name.span, here));
                if declared_async(&name.value) {
                    continue;
                }
                let diagnostic = match cx.functions.get(name.value.as_str()) {
                    Some(&i) => Diagnostic::error(
                        codes::PARALLEL,
                        format!(
                            "function `{}` in the `parallel` list of state `{here}` is not async",
                            name.value
                        ),
                        name.span,
                        "not declared `async: true`",
                    )
                    .with_label(cx.machine.functions[i].name.span, "declared here")
                    .with_help(
                        "the functions of a `parallel` list run at the same time by being awaited together: \
                         declare it `async: true`. A synchronous machine runs its functions one after another: \
                         list them in `transform:` instead",
                    ),
                    None => Diagnostic::error(
                        codes::PARALLEL,
                        format!(
                            "unknown function `{}` in the `parallel` list of state `{here}`",
                            name.value
                        ),
                        name.span,
                        "not declared in `functions:`",
                    )
                    .with_help(
                        match crate::diagnostics::did_you_mean(&name.value, async_names()) {
                            Some(better) => format!("did you mean `{better}`?"),
                            None => format!(
                                "declare it under `functions:` as `{{ name: {}, async: true }}`; {}",
                                name.value,
                                suggest(&name.value, "async functions", async_names())
                            ),
                        },
                    ),
                };
                diags.push(diagnostic);
            }
        }
    }
    if listed.is_empty() {
        return;
    }
    // A parallel function reads the record and returns a change: it cannot also be a transform,
    // a check, a condition or an action, which have other signatures.
    for (role, f) in functions_of(cx.machine) {
        if in_lists.contains(&(f as *const FunctionRef)) {
            continue;
        }
        let FunctionRef::Named(name) = f else { continue };
        let Some((at, state)) = listed.get(name.value.as_str()) else {
            continue;
        };
        diags.push(
            Diagnostic::error(
                codes::PARALLEL,
                format!(
                    "function `{}` is in the `parallel` list of state `{state}` and also used as a {}",
                    name.value,
                    role.as_str()
                ),
                name.span,
                format!("used as a {} here", role.as_str()),
            )
            .with_label(*at, "listed in `parallel` here")
            .with_help(
                "a function of a `parallel` list reads the record and returns the change to make \
                 (`Change<D>`), a signature of its own: give the other use its own function",
            ),
        );
    }
}
