//! `${NAME}` in a resource's text settings is replaced by environment variable `NAME` when the
//! resource opens (`fsm_runtime::resources::expand_env`); `$${` is a literal `${`. A malformed
//! reference would fail only then, so its syntax is checked here: a `${` must be closed and hold
//! a variable name.

use super::Context;
use crate::ast::Value;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::Spanned;

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    for resource in &cx.machine.resources {
        let Some(Value::Map(entries)) = resource.config.as_ref().map(|c| &c.value) else {
            continue;
        };
        for (key, value) in entries {
            match &value.value {
                Value::String(text) => one(&resource.name.value, &key.value, text, value, diags),
                Value::Map(inner) => {
                    for (_, v) in inner {
                        if let Value::String(text) = &v.value {
                            one(&resource.name.value, &key.value, text, v, diags);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn one(resource: &str, key: &str, text: &str, value: &Spanned<Value>, diags: &mut Diagnostics) {
    let Some(problem) = malformed(text) else { return };
    diags.push(
        Diagnostic::error(
            codes::RESOURCE_CONFIG,
            format!("setting `{key}` of resource `{resource}`: {problem}"),
            value.span,
            "malformed `${...}`",
        )
        .with_help(
            "`${NAME}` is replaced by environment variable NAME (letters, digits and `_`) when the \
             resource opens; write `$${` for a literal `${`",
        ),
    );
}

/// What is wrong with the `${...}` references of `text`, if anything.
pub(crate) fn malformed(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            rest = &rest[at + 2..];
            continue;
        }
        let after = &rest[at + 2..];
        let Some(close) = after.find('}') else {
            return Some("`${` is not closed by `}`".to_owned());
        };
        let name = &after[..close];
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            let shown: String = name.chars().take(40).collect();
            return Some(format!("`${{{shown}}}` does not name an environment variable"));
        }
        rest = &after[close + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::malformed;

    #[test]
    fn references_are_checked() {
        for good in ["${API_URL}/v1", "plain", "$x ${_A1}", "$${not a var}", "${A}${B}"] {
            assert_eq!(malformed(good), None, "{good}");
        }
        assert_eq!(malformed("${API_URL"), Some("`${` is not closed by `}`".to_owned()));
        assert_eq!(
            malformed("${API-URL}"),
            Some("`${API-URL}` does not name an environment variable".to_owned())
        );
        assert!(malformed("${}").is_some() && malformed("${1A}").is_some());
    }
}
