//! Resources: each resource's `config` against the [catalog](crate::resources) of its kind's
//! settings: required keys present, no unknown key, values of the right type; and the settings
//! of the resource itself (pool size, time limit, retries, health-check interval): in range,
//! meaningful for its kind, not given twice. A mistake here would otherwise surface only when the
//! program opens its resources, or never.

use super::Context;
use crate::ast::{Resource, ResourceKind, TransactionMode, Value};
use crate::diagnostics::{Diagnostic, Diagnostics, codes, did_you_mean};
use crate::ir::{self, Connection, SettingValue};
use crate::resources::{OWN, SettingType, at_most_one_of, one_of, settings};
use crate::syntax::keys;

/// Checks every resource and returns them typed, in declaration order (a resource with errors is
/// returned too; the gate then stops at the error).
pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) -> Vec<ir::Resource> {
    cx.machine
        .resources
        .iter()
        .map(|resource| {
            async_only(cx, resource, diags);
            config(resource, diags);
            own_settings(resource, diags);
            let mut typed = typed(resource);
            typed.transaction = transaction(resource, diags);
            typed
        })
        .collect()
}

/// A resource and the settings of its config that fit the catalog (what does not fit was
/// reported): the values the generated `open()` passes to the runtime, typed.
fn typed(r: &Resource) -> ir::Resource {
    let config = match r.config.as_ref().map(|c| &c.value) {
        Some(Value::Map(entries)) => entries.as_slice(),
        _ => &[],
    };
    let get = |key: &str| config.iter().find(|(k, _)| k.value == key).map(|(_, v)| &v.value);
    let mut out = Vec::new();
    for setting in settings(r.kind.value) {
        let Some(value) = get(setting.name) else { continue };
        let value = match (setting.ty, value) {
            (SettingType::Str, Value::String(s)) => SettingValue::Str(s.clone()),
            (SettingType::Count | SettingType::Positive, Value::Int(i)) => match u64::try_from(*i) {
                Ok(i) => SettingValue::Int(i),
                Err(_) => continue,
            },
            // A number of the runtime's builders is an `f64`, even when written `2`.
            (SettingType::Number, Value::Int(i)) if *i >= 0 => SettingValue::Float(*i as f64),
            (SettingType::Number, Value::Float(f)) if f.is_finite() && *f >= 0.0 => SettingValue::Float(*f),
            (SettingType::Bool, Value::Bool(b)) => SettingValue::Bool(*b),
            (SettingType::StrMap, Value::Map(entries)) => SettingValue::Map(
                entries
                    .iter()
                    .filter_map(|(k, v)| match &v.value {
                        Value::String(s) => Some((k.value.clone(), s.clone())),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => continue,
        };
        // One spelling of the time limit reaches the generator: milliseconds.
        if setting.name == "timeout" {
            if let SettingValue::Float(s) = value {
                out.push(("timeout_ms".to_owned(), SettingValue::Int((s * 1000.0).round() as u64)));
            }
            continue;
        }
        out.push((setting.name.to_owned(), value));
    }
    // The settings of the resource itself that validation accepted.
    let own = |value: &Option<crate::span::Spanned<Value>>, key: &str| {
        let own = crate::resources::own(key)?;
        own.not_for(r.kind.value).is_none().then_some(())?;
        own.fits(&value.as_ref()?.value)
    };
    let ms = |seconds: f64| ((seconds * 1000.0).round() as u64).max(1);
    if let Some(n) = own(&r.connection_pool_size, "connection_pool_size") {
        out.push(("pool_size".to_owned(), SettingValue::Int(n as u64)));
    }
    if let Some(seconds) = own(&r.timeout_seconds, "timeout_seconds") {
        let key = match r.kind.value {
            ResourceKind::Sqlite => "busy_timeout_ms",
            _ => "timeout_ms",
        };
        out.push((key.to_owned(), SettingValue::Int(ms(seconds))));
    }
    let retry = own(&r.retry_attempts, "retry_attempts")
        .filter(|n| *n >= 1.0)
        .map(|n| ir::Retry {
            attempts: n as u32,
            delay_ms: own(&r.retry_delay_seconds, "retry_delay_seconds").map_or(1000, ms),
        });
    let text = |key: &str| match get(key) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let connection = match r.kind.value {
        ResourceKind::Sqlite => Connection::Sqlite { path: text("path") },
        ResourceKind::Postgres => match get("url_env") {
            Some(_) => Connection::PostgresUrlEnv { var: text("url_env") },
            None => Connection::PostgresUrl { url: text("url") },
        },
        ResourceKind::File => Connection::File { dir: text("dir") },
        ResourceKind::Http => Connection::Http {
            base_url: text("base_url"),
        },
        ResourceKind::Llm => Connection::Llm {
            base_url: text("base_url"),
            model: text("model"),
        },
    };
    ir::Resource {
        name: r.name.value.clone(),
        ident: crate::naming::fn_ident(&r.name),
        kind: r.kind.value,
        description: r
            .description
            .as_ref()
            .map(|d| d.value.trim().to_owned())
            .filter(|d| !d.is_empty()),
        connection,
        settings: out,
        retry,
        health_check_interval_ms: own(&r.health_check_interval, "health_check_interval").map(ms),
        transaction: None,
    }
}

/// The settings of an `http` resource that only the async handle has, in a machine without
/// async functions (whose resources are blocking handles).
fn async_only(cx: &Context<'_>, resource: &Resource, diags: &mut Diagnostics) {
    if resource.kind.value != ResourceKind::Http
        || cx
            .machine
            .functions
            .iter()
            .any(|f| f.r#async.as_ref().is_some_and(|a| a.value))
    {
        return;
    }
    let Some(Value::Map(entries)) = resource.config.as_ref().map(|c| &c.value) else {
        return;
    };
    for (key, _) in entries {
        if crate::resources::ASYNC_HTTP_ONLY.contains(&key.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::RESOURCE_CONFIG,
                    format!(
                        "`{}` of http resource `{}` needs a machine with async functions",
                        key.value, resource.name.value
                    ),
                    key.span,
                    "only for the async client",
                )
                .with_help(
                    "in a machine with async functions an http resource is the async client (`AsyncHttp`), \
                     with a bulkhead and a circuit breaker per endpoint; a synchronous machine's blocking \
                     client has neither: use a state's `circuit_breaker`, or remove it",
                ),
            );
        }
    }
}

/// `transaction:`: one of the modes (did-you-mean for a misspelt one), on a database.
fn transaction(resource: &Resource, diags: &mut Diagnostics) -> Option<TransactionMode> {
    let value = resource.transaction.as_ref()?;
    let name = &resource.name.value;
    let modes = keys::words(keys::TRANSACTION_MODES);
    let mode = match &value.value {
        Value::String(s) => match keys::word(keys::TRANSACTION_MODES, s) {
            Some(mode) => Some(mode),
            None => {
                let help = match did_you_mean(s, modes.iter().copied()) {
                    Some(better) => format!("did you mean `{better}`?"),
                    None => format!("a transaction mode is one of: {}", modes.join(", ")),
                };
                diags.push(
                    Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!("`{s}` is not a valid transaction mode of resource `{name}`"),
                        value.span,
                        "unknown transaction mode",
                    )
                    .with_help(help),
                );
                None
            }
        },
        _ => {
            diags.push(
                Diagnostic::error(
                    codes::INVALID_VALUE,
                    format!("`transaction` of resource `{name}` must be a word"),
                    value.span,
                    "expected a transaction mode",
                )
                .with_help(format!("write one of: {}", modes.join(", "))),
            );
            None
        }
    };
    let kind = resource.kind.value;
    if !matches!(kind, ResourceKind::Sqlite | ResourceKind::Postgres) {
        let why = match kind {
            ResourceKind::File => "a file resource is a directory: its writes are files, with no transaction to join",
            _ => "an HTTP request cannot be rolled back: it has no transaction to join",
        };
        diags.push(
            Diagnostic::error(
                codes::TRANSACTION,
                format!("{} resource `{name}` cannot have a transaction", kind.as_str()),
                value.span,
                "not for this kind of resource",
            )
            .with_label(resource.kind.span, format!("`{name}` is {} resource", a(kind)))
            .with_help(format!(
                "remove `transaction:`: only database resources (sqlite, postgres) have transactions; {why}"
            )),
        );
        return None;
    }
    mode
}

/// `connection_pool_size`, `timeout_seconds`, `retry_attempts`, `retry_delay_seconds`,
/// `health_check_interval`.
fn own_settings(resource: &Resource, diags: &mut Diagnostics) {
    let kind = resource.kind.value;
    let name = &resource.name.value;
    let config_key = |key: &str| match resource.config.as_ref().map(|c| &c.value) {
        Some(Value::Map(entries)) => entries.iter().find(|(k, _)| k.value == key).map(|(k, _)| k.span),
        _ => None,
    };
    for (own, value) in OWN.iter().zip(resource.own_settings()) {
        let Some(value) = value.1 else { continue };
        if let Some(why) = own.not_for(kind) {
            diags.push(
                Diagnostic::error(
                    codes::RESOURCE_CONFIG,
                    format!("`{}` does not apply to {} resource `{name}`", own.name, kind.as_str()),
                    value.span,
                    format!("not for {} resource", a(kind)),
                )
                .with_label(resource.kind.span, format!("`{name}` is {} resource", a(kind)))
                .with_help(format!("remove it: {why}")),
            );
            continue;
        }
        if own.fits(&value.value).is_none() {
            diags.push(
                Diagnostic::error(
                    codes::RESOURCE_CONFIG,
                    format!("`{}` of resource `{name}` must be {}", own.name, own.describe()),
                    value.span,
                    format!("expected {}", own.describe()),
                )
                .with_help(format!("`{}`: {}", own.name, own.doc)),
            );
        }
        for same in own.same_as(kind) {
            if let Some(other) = config_key(same) {
                diags.push(
                    Diagnostic::error(
                        codes::RESOURCE_CONFIG,
                        format!(
                            "resource `{name}` gives the same setting twice: `{}`, and `{same}` in its config",
                            own.name
                        ),
                        value.span,
                        "second setting of the same thing",
                    )
                    .with_label(other, "also given here")
                    .with_help(format!(
                        "keep one of them: for {} resource, `{}` and `{same}` are one setting",
                        a(kind),
                        own.name,
                    )),
                );
            }
        }
    }
    let retries = resource
        .retry_attempts
        .as_ref()
        .filter(|v| matches!(v.value, Value::Int(n) if n > 0));
    if let (None, Some(delay)) = (retries, &resource.retry_delay_seconds) {
        diags.push(
            Diagnostic::error(
                codes::RESOURCE_CONFIG,
                format!("`retry_delay_seconds` of resource `{name}` has no effect without retries"),
                delay.span,
                "no retry to wait for",
            )
            .with_help("add `retry_attempts: 3` (how many times opening is tried again), or remove it"),
        );
    }
    if let Some(retries) = retries
        && matches!(kind, ResourceKind::Http | ResourceKind::Llm)
        && config_key("health_path").is_none()
    {
        diags.push(
            Diagnostic::error(
                codes::RESOURCE_CONFIG,
                format!(
                    "{} resource `{name}` opens without contacting its server: there is nothing to retry",
                    kind.as_str()
                ),
                retries.span,
                "never retried",
            )
            .with_help(
                "add `health_path` to its config (a path that answers GET when the service is up, \
                 such as `/health`): opening then waits for it, retrying; or remove `retry_attempts`",
            ),
        );
    }
}

fn config(resource: &Resource, diags: &mut Diagnostics) {
    let kind = resource.kind.value;
    let name = &resource.name.value;
    let entries = match resource.config.as_ref().map(|c| &c.value) {
        None | Some(Value::Null) => &[][..],
        Some(Value::Map(entries)) => entries.as_slice(),
        Some(_) => {
            let span = resource.config.as_ref().map_or(resource.span, |c| c.span);
            diags.push(
                Diagnostic::error(
                    codes::RESOURCE_CONFIG,
                    format!("the config of resource `{name}` must be a mapping"),
                    span,
                    "expected a mapping",
                )
                .with_help("write `config: { key: value, ... }`"),
            );
            return;
        }
    };
    let known = settings(kind);
    // Missing keys point at the config mapping, or at the kind when there is none.
    let at = resource.config.as_ref().map_or(resource.kind.span, |c| c.span);
    let has = |key: &str| entries.iter().any(|(k, _)| k.value == key);
    for setting in known.iter().filter(|s| s.required) {
        if !has(setting.name) {
            diags.push(
                Diagnostic::error(
                    codes::RESOURCE_CONFIG,
                    format!(
                        "{} resource `{name}` needs `{}` in its config",
                        kind.as_str(),
                        setting.name
                    ),
                    at,
                    format!("no `{}`", setting.name),
                )
                .with_help(format!(
                    "add `{}:` ({}): {}",
                    setting.name,
                    setting.ty.describe(),
                    setting.doc
                )),
            );
        }
    }
    for group in one_of(kind) {
        let given: Vec<&str> = group.iter().copied().filter(|k| has(k)).collect();
        if given.is_empty() {
            let keys = group.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" or ");
            diags.push(
                Diagnostic::error(
                    codes::RESOURCE_CONFIG,
                    format!("{} resource `{name}` needs {keys} in its config", kind.as_str()),
                    at,
                    "no connection setting",
                )
                .with_help(format!("add one of {keys}")),
            );
        }
    }
    for group in one_of(kind).iter().chain(at_most_one_of(kind)) {
        let mut given = entries.iter().filter(|(k, _)| group.contains(&k.value.as_str()));
        if let (Some((first, _)), Some((second, _))) = (given.next(), given.next()) {
            diags.push(
                Diagnostic::error(
                    codes::RESOURCE_CONFIG,
                    format!("resource `{name}` gives both `{}` and `{}`", first.value, second.value),
                    second.span,
                    "second setting of the same thing",
                )
                .with_label(first.span, "first given here")
                .with_help(format!("keep one of `{}` and `{}`", first.value, second.value)),
            );
        }
    }
    for (key, value) in entries {
        let Some(setting) = known.iter().find(|s| s.name == key.value) else {
            let names = known.iter().map(|s| s.name);
            let help = match did_you_mean(&key.value, names.clone()) {
                _ if crate::resources::own(&key.value).is_some() => format!(
                    "`{}` is a setting of the resource itself: write it beside `config:`, not inside",
                    key.value
                ),
                Some(better) => format!("did you mean `{better}`?"),
                None => format!(
                    "{} resource takes {}",
                    a(kind),
                    names.map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            diags.push(
                Diagnostic::error(
                    codes::RESOURCE_CONFIG,
                    format!("unknown setting `{}` of {} resource `{name}`", key.value, kind.as_str()),
                    key.span,
                    "unknown setting",
                )
                .with_help(help),
            );
            continue;
        };
        if !fits(setting.ty, &value.value) {
            diags.push(
                Diagnostic::error(
                    codes::RESOURCE_CONFIG,
                    format!(
                        "setting `{}` of resource `{name}` must be {}",
                        setting.name,
                        setting.ty.describe()
                    ),
                    value.span,
                    format!("expected {}", setting.ty.describe()),
                )
                .with_help(format!("`{}`: {}", setting.name, setting.doc)),
            );
        }
    }
}

fn fits(ty: SettingType, value: &Value) -> bool {
    match (ty, value) {
        (SettingType::Str, Value::String(s)) => !s.is_empty(),
        (SettingType::Count, Value::Int(i)) => *i >= 0,
        (SettingType::Positive, Value::Int(i)) => *i >= 1 && u32::try_from(*i).is_ok(),
        (SettingType::Number, Value::Int(i)) => *i >= 0,
        (SettingType::Number, Value::Float(f)) => f.is_finite() && *f >= 0.0,
        (SettingType::Bool, Value::Bool(_)) => true,
        (SettingType::StrMap, Value::Map(entries)) => entries
            .iter()
            .all(|(k, v)| !k.value.is_empty() && matches!(v.value, Value::String(_))),
        _ => false,
    }
}

/// `a sqlite`, `an http`: the kind with its article.
fn a(kind: ResourceKind) -> String {
    match kind {
        ResourceKind::Http | ResourceKind::Llm => format!("an {}", kind.as_str()),
        ResourceKind::Sqlite | ResourceKind::Postgres | ResourceKind::File => format!("a {}", kind.as_str()),
    }
}
