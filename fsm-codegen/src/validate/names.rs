//! Names: duplicates, names that cannot become Rust identifiers, and names that collide once
//! converted (`my-state` and `my_state` are both `MyState`). Conversions come from
//! [`crate::naming`], the same functions the code generator uses.

use super::Context;
use crate::ast::FunctionRef;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::naming::{fn_ident, is_keyword, is_valid_ident, type_ident};
use crate::span::{Span, Spanned};
use std::collections::HashMap;

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    let machine = cx.machine;
    if !machine.name.value.is_empty() {
        let ident = type_ident(&machine.name.value);
        if !is_valid_ident(&ident) {
            diags.push(invalid_type_name(&machine.name, "machine", &ident));
        }
    }
    unique(
        machine.networks.iter().map(|n| &n.name),
        Kind::TYPE.named("network", codes::DUPLICATE_NETWORK),
        "",
        diags,
    );
    for network in &machine.networks {
        let scope = if machine.implicit_network {
            String::new()
        } else {
            format!(" in network `{}`", network.name.value)
        };
        unique(
            network.states.iter().map(|s| &s.name),
            Kind::TYPE.named("state", codes::DUPLICATE_STATE),
            &scope,
            diags,
        );
    }
    unique(
        machine.events.iter().map(|e| &e.name),
        Kind::TYPE.named("event", codes::DUPLICATE_EVENT),
        "",
        diags,
    );
    unique(
        machine.errors.iter().map(|e| &e.name),
        Kind::TYPE.named("kind of error", codes::DUPLICATE_ERROR_KIND),
        "",
        diags,
    );
    unique(
        machine.resources.iter().map(|r| &r.name),
        Kind::FN.named("resource", codes::DUPLICATE_RESOURCE),
        "",
        diags,
    );
    function_names(cx, diags);
}

/// How a kind of name becomes an identifier.
#[derive(Clone, Copy)]
struct Kind {
    what: &'static str,
    duplicate: &'static str,
    convert: fn(&str) -> String,
    /// `"type"` or `"method"`, for help texts.
    becomes: &'static str,
}

impl Kind {
    const TYPE: Kind = Kind {
        what: "",
        duplicate: "",
        convert: type_ident,
        becomes: "Rust type names",
    };
    const FN: Kind = Kind {
        what: "",
        duplicate: "",
        convert: fn_ident,
        becomes: "Rust field names",
    };

    const fn named(self, what: &'static str, duplicate: &'static str) -> Kind {
        Kind {
            what,
            duplicate,
            ..self
        }
    }
}

/// Reports duplicates, invalid identifiers and identifier collisions among `names`.
fn unique<'a>(names: impl Iterator<Item = &'a Spanned<String>>, kind: Kind, scope: &str, diags: &mut Diagnostics) {
    let mut by_name: HashMap<&str, Span> = HashMap::new();
    let mut by_ident: HashMap<String, &Spanned<String>> = HashMap::new();
    for name in names {
        if name.value.is_empty() {
            continue; // missing, already reported by the reader
        }
        if let Some(first) = by_name.get(name.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    kind.duplicate,
                    format!("duplicate {} `{}`{scope}", kind.what, name.value),
                    name.span,
                    "defined again here",
                )
                .with_label(*first, "first defined here")
                .with_help(format!(
                    "{} names must be unique{scope}; rename or remove one",
                    kind.what
                )),
            );
            continue;
        }
        by_name.insert(&name.value, name.span);
        let ident = (kind.convert)(&name.value);
        if !is_valid_ident(&ident) {
            diags.push(invalid_type_name(name, kind.what, &ident).with_help(format!(
                "{} names become {} (`{}` here): start with a letter and do not use a Rust keyword",
                kind.what,
                kind.becomes,
                if ident.is_empty() { "nothing" } else { &ident }
            )));
            continue;
        }
        match by_ident.get(&ident) {
            Some(first) => diags.push(
                Diagnostic::error(
                    codes::IDENT_COLLISION,
                    format!(
                        "{} names `{}` and `{}` both become the Rust name `{ident}`",
                        kind.what, first.value, name.value
                    ),
                    name.span,
                    format!("becomes `{ident}`"),
                )
                .with_label(first.span, format!("also becomes `{ident}`"))
                .with_help("rename one of them so that they differ in more than case and punctuation"),
            ),
            None => {
                by_ident.insert(ident, name);
            }
        }
    }
}

fn invalid_type_name(name: &Spanned<String>, what: &str, ident: &str) -> Diagnostic {
    let message = if is_keyword(ident) {
        format!("{what} name `{}` becomes the Rust keyword `{ident}`", name.value)
    } else {
        format!("{what} name `{}` cannot become a Rust identifier", name.value)
    };
    Diagnostic::error(codes::INVALID_IDENT, message, name.span, "not usable as a Rust name").with_help(format!(
        "{what} names become Rust type names: start with a letter and do not use a Rust keyword"
    ))
}

/// Named functions become trait methods, spelled exactly as written: each must already be a
/// snake_case identifier. Reported once per name, at its first use.
/// The provided methods of every functions trait: no function of a machine may take their names.
pub(crate) const HOOKS: &[&str] = &["on_transition", "on_dispatch", "on_reject"];

fn function_names(cx: &Context<'_>, diags: &mut Diagnostics) {
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let named = super::functions_of(cx.machine).filter_map(|(_, f)| match f {
        FunctionRef::Named(name) => Some(name),
        _ => None,
    });
    for name in named {
        if name.value.is_empty() || seen.insert(&name.value, ()).is_some() {
            continue;
        }
        let ident = fn_ident(&name.value);
        if HOOKS.contains(&name.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::IDENT_COLLISION,
                    format!("function name `{}` is a hook of the functions trait", name.value),
                    name.span,
                    "reserved for the hook",
                )
                .with_help(format!(
                    "`{}` is a provided method of the generated trait (override it there to observe runs); \
                     give this function another name",
                    name.value
                )),
            );
            continue;
        }
        if is_valid_ident(&name.value) && ident == name.value {
            continue;
        }
        let looks_like_code = name.value.contains(['(', '.', ' ', '=', '!', '<', '>', '&', '|']);
        let (message, help) = if is_keyword(&name.value) {
            (
                format!("function name `{}` is a Rust keyword", name.value),
                "function names become methods of the generated trait; choose another name".to_owned(),
            )
        } else if looks_like_code {
            (
                format!("function name `{}` is not an identifier", name.value),
                format!(
                    "a bare string names a method of the generated trait; write inline Rust as {{ rust: \"{}\" }}",
                    name.value.escape_default()
                ),
            )
        } else if is_valid_ident(&ident) {
            (
                format!("function name `{}` is not snake_case", name.value),
                format!("function names are the trait's method names as written: write `{ident}`"),
            )
        } else {
            (
                format!("function name `{}` cannot become a Rust identifier", name.value),
                "function names are method names: start with a letter and use letters, digits and `_`".to_owned(),
            )
        };
        diags.push(Diagnostic::error(codes::INVALID_IDENT, message, name.span, "not a method name").with_help(help));
    }
}
