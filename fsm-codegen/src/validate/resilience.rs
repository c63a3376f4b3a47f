//! A state's `retry`, `timeout_seconds`, `circuit_breaker` and `rate_limit`: mappings with known keys and
//! numbers in range, on a state that has functions to retry, time or guard.

use super::Context;
use crate::ast::{State, Value};
use crate::diagnostics::{Diagnostic, Diagnostics, codes, did_you_mean};
use crate::ir::{Resilience, RetryPolicy};
use crate::span::Spanned;
use crate::syntax::keys;

/// Seconds before the second run when `retry` gives no `delay_seconds`.
const DEFAULT_DELAY: f64 = 0.1;
/// Longest wait between runs when `retry` gives no `max_delay_seconds`.
const DEFAULT_MAX_DELAY: f64 = 60.0;
/// Seconds a breaker stays open when `circuit_breaker` gives no `reset_seconds`.
const DEFAULT_RESET: f64 = 30.0;

/// A number (integer or float), if `value` is one.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) if f.is_finite() => Some(*f),
        _ => None,
    }
}

/// The value under `key` of a mapping.
fn map_get<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| &v.value),
        _ => None,
    }
}

/// The number under `key` of a mapping.
fn map_number(value: &Value, key: &str) -> Option<f64> {
    map_get(value, key).and_then(number)
}

/// The integer under `key` of a mapping, if it fits a `u32`.
fn map_u32(value: &Value, key: &str) -> Option<u32> {
    match map_get(value, key) {
        Some(Value::Int(i)) => u32::try_from(*i).ok(),
        _ => None,
    }
}

/// One key of a setting: its name, whether it is required, and the check of its value (`Err`:
/// what is expected).
type Check = fn(&Value) -> Result<(), &'static str>;

fn count(min: i64, max: i64) -> impl Fn(&Value) -> bool {
    move |v| matches!(v, Value::Int(i) if (min..=max).contains(i))
}

fn seconds(v: &Value, max: f64) -> bool {
    number(v).is_some_and(|s| s > 0.0 && s <= max)
}

const RETRY: &[(&str, bool, Check)] = &[
    (keys::ATTEMPTS, true, |v| {
        count(1, 100)(v)
            .then_some(())
            .ok_or("an integer from 1 to 100 (the first run included)")
    }),
    (keys::DELAY_SECONDS, false, |v| {
        (number(v).is_some_and(|s| (0.0..=3600.0).contains(&s)))
            .then_some(())
            .ok_or("a number of seconds from 0 to 3600")
    }),
    (keys::MAX_DELAY_SECONDS, false, |v| {
        seconds(v, 3600.0)
            .then_some(())
            .ok_or("a number of seconds above 0, at most 3600")
    }),
    (keys::BACKOFF, false, |v| {
        matches!(v, Value::String(s) if s == "exponential" || s == "fixed")
            .then_some(())
            .ok_or("`exponential` or `fixed`")
    }),
    (keys::JITTER, false, |v| {
        matches!(v, Value::Bool(_)).then_some(()).ok_or("`true` or `false`")
    }),
    // The kinds themselves are checked with the others (`validate::errors`).
    (keys::ON, false, |v| {
        let name = |v: &Value| matches!(v, Value::String(_));
        match v {
            Value::String(_) => Ok(()),
            Value::Seq(kinds) if !kinds.is_empty() && kinds.iter().all(|k| name(&k.value)) => Ok(()),
            _ => Err("a kind of error or a non-empty list of kinds (`on: [timeout, unavailable]`)"),
        }
    }),
];

const BREAKER: &[(&str, bool, Check)] = &[
    (keys::FAILURES, true, |v| {
        count(1, 1000)(v).then_some(()).ok_or("an integer from 1 to 1000")
    }),
    (keys::RESET_SECONDS, false, |v| {
        seconds(v, 86400.0)
            .then_some(())
            .ok_or("a number of seconds above 0, at most 86400")
    }),
];

const RATE_LIMIT: &[(&str, bool, Check)] = &[
    (keys::PER_SECOND, true, |v| {
        number(v)
            .is_some_and(|r| r > 0.0 && r <= 1e6)
            .then_some(())
            .ok_or("a number of runs a second above 0, at most 1000000")
    }),
    (keys::BURST, false, |v| {
        count(1, 1_000_000)(v)
            .then_some(())
            .ok_or("an integer from 1 to 1000000")
    }),
];

/// Checks every state's settings and returns them typed, per network and state (what is wrong is
/// reported and left out; the gate then stops at the error).
pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) -> Vec<Vec<Resilience>> {
    cx.networks()
        .map(|(_, network)| network.states.iter().map(|s| check_state(s, diags)).collect())
        .collect()
}

fn check_state(state: &State, diags: &mut Diagnostics) -> Resilience {
    fn valid<'s>(
        node: &'s Option<Spanned<Value>>,
        what: &str,
        keys: &[(&str, bool, Check)],
        diags: &mut Diagnostics,
    ) -> Option<&'s Value> {
        let node = node.as_ref()?;
        mapping(node, what, keys, diags).then_some(&node.value)
    }
    let retry = valid(&state.retry, "retry", RETRY, diags).and_then(|r| {
        Some(RetryPolicy {
            attempts: map_u32(r, keys::ATTEMPTS)?,
            delay: map_number(r, keys::DELAY_SECONDS).unwrap_or(DEFAULT_DELAY),
            max_delay: map_number(r, keys::MAX_DELAY_SECONDS).unwrap_or(DEFAULT_MAX_DELAY),
            exponential: !matches!(map_get(r, keys::BACKOFF), Some(Value::String(b)) if b == "fixed"),
            jitter: !matches!(map_get(r, keys::JITTER), Some(Value::Bool(false))),
            on: match map_get(r, keys::ON) {
                Some(Value::Seq(kinds)) => kinds
                    .iter()
                    .filter_map(|k| match &k.value {
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                Some(Value::String(one)) => vec![one.clone()],
                _ => Vec::new(),
            },
        })
    });
    let breaker = valid(&state.circuit_breaker, "circuit_breaker", BREAKER, diags).and_then(|b| {
        Some((
            map_u32(b, keys::FAILURES)?,
            map_number(b, keys::RESET_SECONDS).unwrap_or(DEFAULT_RESET),
        ))
    });
    let rate_limit = valid(&state.rate_limit, "rate_limit", RATE_LIMIT, diags).and_then(|r| {
        let per_second = map_number(r, keys::PER_SECOND)?;
        // At most 1e6 runs a second: the default burst fits a `u32`.
        let burst = map_u32(r, keys::BURST).unwrap_or(per_second.ceil().max(1.0) as u32);
        Some((per_second, burst))
    });
    let mut timeout = None;
    if let Some(t) = &state.timeout_seconds {
        if seconds(&t.value, 86400.0) {
            timeout = number(&t.value);
        } else {
            diags.push(
                Diagnostic::error(
                    codes::RESILIENCE,
                    "`timeout_seconds` must be a number of seconds above 0, at most 86400",
                    t.span,
                    "not a timeout",
                )
                .with_help("e.g. `timeout_seconds: 2.5`"),
            );
        }
    }
    let mut max_concurrency = None;
    if let Some(m) = &state.max_concurrency {
        match &m.value {
            Value::Int(n) if (1..=1_000_000).contains(n) => max_concurrency = u32::try_from(*n).ok(),
            _ => diags.push(
                Diagnostic::error(
                    codes::RESILIENCE,
                    "`max_concurrency` must be an integer from 1 to 1000000",
                    m.span,
                    "not a number of runs",
                )
                .with_help("e.g. `max_concurrency: 10` (at most ten runs in the state's functions at once)"),
            ),
        }
    }
    let has_functions = !state.validate.is_empty()
        || !state.transform.is_empty()
        || state.parallel.as_ref().is_some_and(|p| !p.value.is_empty());
    if !has_functions {
        for (key, node) in [
            ("retry", &state.retry),
            ("timeout_seconds", &state.timeout_seconds),
            ("circuit_breaker", &state.circuit_breaker),
            ("rate_limit", &state.rate_limit),
            ("max_concurrency", &state.max_concurrency),
        ] {
            if let Some(node) = node {
                diags.push(
                    Diagnostic::warning(
                        codes::RESILIENCE,
                        format!("`{key}` on state `{}`, which runs no function", state.name.value),
                        node.span,
                        "nothing to guard",
                    )
                    .with_help("give the state `validate:` or `transform:` functions, or remove the setting"),
                );
            }
        }
    }
    Resilience {
        retry,
        timeout,
        breaker,
        rate_limit,
        max_concurrency,
    }
}

/// Checks a mapping against its keys; returns whether it is valid.
fn mapping(node: &Spanned<Value>, what: &str, keys: &[(&str, bool, Check)], diags: &mut Diagnostics) -> bool {
    let before = diags.len();
    let Value::Map(entries) = &node.value else {
        let example = match what {
            "retry" => "`retry: { attempts: 3, delay_seconds: 0.2 }`",
            "rate_limit" => "`rate_limit: { per_second: 10, burst: 20 }`",
            _ => "`circuit_breaker: { failures: 5, reset_seconds: 30 }`",
        };
        diags.push(
            Diagnostic::error(
                codes::RESILIENCE,
                format!("`{what}` takes a mapping"),
                node.span,
                "not a mapping",
            )
            .with_help(format!("e.g. {example}")),
        );
        return false;
    };
    for (key, value) in entries {
        match keys.iter().find(|(k, _, _)| *k == key.value) {
            None => {
                let names = keys.iter().map(|(k, _, _)| *k);
                let help = match did_you_mean(&key.value, names.clone()) {
                    Some(better) => format!("did you mean `{better}`?"),
                    None => format!("`{what}` takes {}", names.collect::<Vec<_>>().join(", ")),
                };
                diags.push(
                    Diagnostic::error(
                        codes::RESILIENCE,
                        format!("unknown key `{}` in `{what}`", key.value),
                        key.span,
                        "unknown key",
                    )
                    .with_help(help),
                );
            }
            Some((name, _, check)) => {
                if let Err(expected) = check(&value.value) {
                    diags.push(
                        Diagnostic::error(
                            codes::RESILIENCE,
                            format!("`{name}` of `{what}` must be {expected}"),
                            value.span,
                            "invalid value",
                        )
                        .with_help(format!("expected {expected}")),
                    );
                }
            }
        }
    }
    for (name, required, _) in keys {
        if *required && !entries.iter().any(|(k, _)| k.value == *name) {
            diags.push(
                Diagnostic::error(
                    codes::RESILIENCE,
                    format!("`{what}` needs `{name}`"),
                    node.span,
                    format!("no `{name}`"),
                )
                .with_help(format!("add `{name}:`")),
            );
        }
    }
    diags.len() == before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::keys::Place;

    #[test]
    fn the_keys_are_those_of_the_table() {
        for (place, checked) in [
            (Place::Retry, RETRY),
            (Place::CircuitBreaker, BREAKER),
            (Place::RateLimit, RATE_LIMIT),
        ] {
            let names: Vec<&str> = checked.iter().map(|(k, _, _)| *k).collect();
            assert_eq!(names, keys::names(place).collect::<Vec<_>>(), "{place:?}");
        }
    }
}
