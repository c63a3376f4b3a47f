//! Functions: a named function becomes one method of the generated trait, with the signature of
//! its role, so a name cannot be both a condition (`fn(&Data) -> bool`) and a transform or check
//! (which share `fn(&mut Data, ..) -> Result<(), FnError>`). Built-ins must
//! exist in the [catalog](crate::builtins), be used in their role, and get the parameters they
//! take with the right types.

use super::{Context, functions_of, suggest};
use crate::ast::{FunctionRef, Value};
use crate::builtins::{self, BUILTINS, ParamType, Role};
use crate::diagnostics::{Diagnostic, Diagnostics, codes, did_you_mean};
use crate::span::{Span, Spanned};
use std::collections::HashMap;

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    let mut roles: HashMap<&str, (Role, Span)> = HashMap::new();
    for (role, function) in functions_of(cx.machine) {
        match function {
            FunctionRef::Named(name) if name.value.is_empty() => {} // broken, reported by the reader
            FunctionRef::Named(name) => {
                let (first_role, first_span) = *roles.entry(&name.value).or_insert((role, name.span));
                // Checks and transforms share a signature; conditions and state data makers
                // have their own.
                let kind = |r: Role| match r {
                    Role::Condition => 0,
                    Role::MakeData => 1,
                    Role::Transform | Role::Validate => 2,
                };
                if kind(first_role) != kind(role) {
                    diags.push(
                        Diagnostic::error(
                            codes::FUNCTION_ROLE,
                            format!(
                                "function `{}` is used as a {} and as a {}",
                                name.value,
                                first_role.as_str(),
                                role.as_str()
                            ),
                            name.span,
                            format!("used as a {} here", role.as_str()),
                        )
                        .with_label(first_span, format!("used as a {} here", first_role.as_str()))
                        .with_help(format!(
                            "each name is one method of the generated trait, with the signature of its role; \
                             give the {} its own name",
                            role.as_str()
                        )),
                    );
                }
            }
            FunctionRef::Builtin { name, params, .. } => builtin(role, name, params.as_ref(), diags),
            FunctionRef::Rust { .. } => {}
        }
    }
    declarations(cx, &roles, diags);
    async_uses(cx, diags);
}

/// Async functions run only where a run can wait for them: the functions a state runs on entering
/// it (`validate`, `transform`, `on_entry`), which the async loop awaits. Conditions, arcs'
/// transforms, exit actions and superstates' actions run while the run picks and takes an arc, a
/// synchronous `match`: an async function there is refused at the place it is used. `atomic`
/// (the change returned to apply) has no async form, and `max_concurrency` bounds async states only.
fn async_uses(cx: &Context<'_>, diags: &mut Diagnostics) {
    let declared: HashMap<&str, Span> = cx
        .machine
        .functions
        .iter()
        .filter_map(|d| {
            d.r#async
                .as_ref()
                .filter(|a| a.value)
                .map(|a| (d.name.value.as_str(), a.span))
        })
        .collect();
    for decl in &cx.machine.functions {
        if let (Some(a), Some(atomic)) = (
            decl.r#async.as_ref().filter(|a| a.value),
            decl.atomic.as_ref().filter(|a| a.value),
        ) {
            diags.push(
                Diagnostic::error(
                    codes::ASYNC_FUNCTION,
                    format!("function `{}` cannot be both `async` and `atomic`", decl.name.value),
                    atomic.span,
                    "atomic",
                )
                .with_label(a.span, "async")
                .with_help(
                    "an atomic function returns the change to apply, which has no async form; in copy mode an \
                     async transform's changes are rolled back when it fails: remove `atomic`",
                ),
            );
        }
    }
    fn is_async<'f>(declared: &HashMap<&str, Span>, f: &'f FunctionRef) -> Option<(&'f Spanned<String>, Span)> {
        match f {
            FunctionRef::Named(n) => declared.get(n.value.as_str()).map(|d| (n, *d)),
            _ => None,
        }
    }
    let mut refuse = |f: &FunctionRef, place: String| {
        let Some((name, declared_at)) = is_async(&declared, f) else {
            return;
        };
        diags.push(
            Diagnostic::error(
                codes::ASYNC_FUNCTION,
                format!(
                    "async function `{}` is used as {place}, which runs synchronously",
                    name.value
                ),
                name.span,
                "a synchronous call site",
            )
            .with_label(declared_at, "declared async here")
            .with_help(
                "a run awaits only the functions a state runs on entering it (`validate`, `transform`, \
                 `on_entry`); conditions, arcs' transforms, exit actions and superstates' actions run while \
                 it picks and takes an arc. Move the call into the target state's `transform`, or declare a \
                 synchronous function for it",
            ),
        );
    };
    for network in &cx.machine.networks {
        for state in &network.states {
            for f in &state.on_exit {
                refuse(f, format!("an exit action of state `{}`", state.name.value));
            }
            if let Some(crate::ast::Compensate::Function(f)) = &state.compensate {
                refuse(f, format!("the compensation of state `{}`", state.name.value));
            }
        }
        for sup in &network.superstates {
            for f in sup.on_entry.iter().chain(&sup.on_exit) {
                refuse(f, format!("an action of superstate `{}`", sup.name.value));
            }
        }
        for arc in &network.arcs {
            for f in &arc.condition {
                refuse(f, format!("a condition of an arc from `{}`", arc.from.value));
            }
            for f in &arc.transform {
                refuse(f, format!("a transform of an arc from `{}`", arc.from.value));
            }
            if let Some(f) = &arc.data {
                refuse(
                    f,
                    format!("the maker of state data on an arc from `{}`", arc.from.value),
                );
            }
        }
    }
    // State data and async functions do not meet yet: the async run loop has no state data.
    let first_async = cx
        .machine
        .functions
        .iter()
        .find_map(|d| d.r#async.as_ref().filter(|a| a.value).map(|a| a.span));
    if let Some(first_async) = first_async {
        for network in &cx.machine.networks {
            for state in &network.states {
                let Some(data) = &state.data else { continue };
                diags.push(
                    Diagnostic::error(
                        codes::ASYNC_FUNCTION,
                        format!(
                            "state `{}` carries data in a machine with async functions",
                            state.name.value
                        ),
                        data.span,
                        "state data",
                    )
                    .with_label(first_async, "an async function")
                    .with_help(
                        "the async run loop does not keep state data yet: keep the data in the record, or make \
                         the machine's functions synchronous",
                    ),
                );
            }
        }
    }
    for network in &cx.machine.networks {
        for state in &network.states {
            let Some(m) = &state.max_concurrency else { continue };
            let awaits = state
                .validate
                .iter()
                .chain(state.parallel.iter().flat_map(|p| &p.value))
                .chain(&state.transform)
                .chain(&state.on_entry)
                .any(|f| is_async(&declared, f).is_some());
            if !awaits {
                diags.push(
                    Diagnostic::error(
                        codes::ASYNC_FUNCTION,
                        format!(
                            "`max_concurrency` on state `{}`, which runs no async function",
                            state.name.value
                        ),
                        m.span,
                        "nothing to bound",
                    )
                    .with_help(
                        "a bulkhead bounds the runs waiting in a state's async functions; a synchronous state \
                         runs at most as many at once as there are threads: declare its functions `async: true`, \
                         or remove `max_concurrency`",
                    ),
                );
            }
        }
    }
}

/// `functions:` declares named functions: each at most once, each used somewhere, and only
/// transforms and checks can be `infallible` or `atomic` (conditions return `bool`), not both.
fn declarations(cx: &Context<'_>, roles: &HashMap<&str, (Role, Span)>, diags: &mut Diagnostics) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for decl in &cx.machine.functions {
        let name = &decl.name;
        if name.value.is_empty() {
            continue; // missing, reported by the reader
        }
        if let Some(first) = seen.insert(&name.value, name.span) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_FUNCTION,
                    format!("function `{}` is declared twice", name.value),
                    name.span,
                    "declared again here",
                )
                .with_label(first, "first declared here")
                .with_help("merge the two declarations into one"),
            );
            continue;
        }
        if let (Some(infallible), Some(atomic)) = (
            decl.infallible.as_ref().filter(|i| i.value),
            decl.atomic.as_ref().filter(|a| a.value),
        ) {
            diags.push(
                Diagnostic::error(
                    codes::FUNCTION_ROLE,
                    format!("function `{}` cannot be both `infallible` and `atomic`", name.value),
                    atomic.span,
                    "atomic",
                )
                .with_label(infallible.span, "infallible")
                .with_help(
                    "`infallible`: it cannot fail, the method returns `()`; `atomic`: it can fail, but only \
                     before it changes anything. Keep the one that holds",
                ),
            );
        }
        match roles.get(name.value.as_str()) {
            None => {
                let mut used: Vec<&str> = roles.keys().copied().collect();
                used.sort_unstable();
                let help = match did_you_mean(&name.value, used) {
                    Some(s) => format!("did you mean `{s}`? (a declaration names a function that states or arcs use)"),
                    None => "remove the declaration, or use the function in a state or an arc".to_owned(),
                };
                diags.push(
                    Diagnostic::warning(
                        codes::UNUSED_FUNCTION,
                        format!("function `{}` is declared but never used", name.value),
                        name.span,
                        "no state or arc uses it",
                    )
                    .with_help(help),
                );
            }
            Some((Role::Condition, used_at)) => {
                let flags = [
                    (
                        &decl.atomic,
                        "atomic",
                        "only transforms and checks change the record",
                        "conditions read the record and return `bool`",
                    ),
                    (
                        &decl.infallible,
                        "infallible",
                        "only transforms and checks can fail",
                        "conditions return `bool` and never fail",
                    ),
                ];
                for (flag, word, label, why) in flags {
                    let Some(flag) = flag.as_ref().filter(|f| f.value) else {
                        continue;
                    };
                    diags.push(
                        Diagnostic::error(
                            codes::FUNCTION_ROLE,
                            format!("condition `{}` cannot be declared `{word}`", name.value),
                            flag.span,
                            label,
                        )
                        .with_label(*used_at, "used as a condition here")
                        .with_help(format!("{why}: remove `{word}: true`")),
                    );
                }
            }
            Some((_, used_at)) => {
                if let Some(flag) = decl.fallible.as_ref().filter(|f| f.value) {
                    diags.push(
                        Diagnostic::error(
                            codes::FUNCTION_ROLE,
                            format!("transform `{}` cannot be declared `fallible`", name.value),
                            flag.span,
                            "only conditions are declared fallible",
                        )
                        .with_label(*used_at, "used as a check or transform here")
                        .with_help(
                            "checks and transforms can always fail (they return `Result<(), FnError>`): \
                             remove `fallible: true`",
                        ),
                    );
                }
            }
        }
    }
}

fn builtin(role: Role, name: &Spanned<String>, params: Option<&Spanned<Value>>, diags: &mut Diagnostics) {
    let Some(builtin) = builtins::find(&name.value) else {
        let names = BUILTINS.iter().map(|b| b.name);
        diags.push(
            Diagnostic::error(
                codes::UNKNOWN_BUILTIN,
                format!("unknown built-in function `{}`", name.value),
                name.span,
                "no such built-in",
            )
            .with_help(suggest(&name.value, "built-ins", names)),
        );
        return;
    };
    if builtin.role != role {
        diags.push(
            Diagnostic::error(
                codes::FUNCTION_ROLE,
                format!(
                    "built-in `{}` is a {}, it cannot be used as a {}",
                    builtin.name,
                    builtin.role.as_str(),
                    role.as_str()
                ),
                name.span,
                format!("a {} built-in", builtin.role.as_str()),
            )
            .with_help(format!("use it where a {} is expected", builtin.role.as_str())),
        );
    }
    let entries: &[(Spanned<String>, Spanned<Value>)] = match params.map(|p| &p.value) {
        None | Some(Value::Null) => &[],
        Some(Value::Map(entries)) => entries,
        Some(_) => {
            let span = params.map_or(name.span, |p| p.span);
            diags.push(
                Diagnostic::error(
                    codes::WRONG_TYPE,
                    format!("the params of built-in `{}` must be a mapping", builtin.name),
                    span,
                    "expected a mapping",
                )
                .with_help("write `params: { name: value, ... }`"),
            );
            return;
        }
    };
    let params_span = params.map_or(name.span, |p| p.span);
    for param in builtin.params.iter().filter(|p| p.required) {
        if !entries.iter().any(|(k, _)| k.value == param.name) {
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_BUILTIN,
                    format!("built-in `{}` needs the parameter `{}`", builtin.name, param.name),
                    params_span,
                    format!("`{}` missing", param.name),
                )
                .with_help(format!("add `{}:` ({}) to `params`", param.name, param.ty.describe())),
            );
        }
    }
    for (key, value) in entries {
        let Some(param) = builtin.params.iter().find(|p| p.name == key.value) else {
            let known = builtin.params.iter().map(|p| p.name);
            let help = match did_you_mean(&key.value, known.clone()) {
                Some(better) => format!("did you mean `{better}`?"),
                None => format!(
                    "`{}` takes: {}",
                    builtin.name,
                    known.map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_BUILTIN,
                    format!("built-in `{}` has no parameter `{}`", builtin.name, key.value),
                    key.span,
                    "unknown parameter",
                )
                .with_help(help),
            );
            continue;
        };
        if !fits(param.ty, &value.value) {
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_BUILTIN,
                    format!(
                        "parameter `{}` of built-in `{}` must be {}",
                        param.name,
                        builtin.name,
                        param.ty.describe()
                    ),
                    value.span,
                    format!("expected {}", param.ty.describe()),
                )
                .with_help(format!("give `{}` {}", param.name, param.ty.describe())),
            );
        }
    }
}

fn fits(ty: ParamType, value: &Value) -> bool {
    match ty {
        ParamType::Any => true,
        ParamType::Str => matches!(value, Value::String(_)),
        ParamType::Number => matches!(value, Value::Int(_) | Value::Float(_)),
        ParamType::StrList => match value {
            Value::Seq(items) => items.iter().all(|i| matches!(i.value, Value::String(_))),
            _ => false,
        },
        ParamType::StrMap => match value {
            Value::Map(entries) => entries.iter().all(|(_, v)| matches!(v.value, Value::String(_))),
            _ => false,
        },
    }
}
