//! The attributes a machine passes through to its generated enums (`attributes:`): each entry
//! must be outer attributes (`#[..]`), and each attribute must be able to apply to its enum.
//! What rustc checks anyway (a derive that does not exist, a serde option it does not know) is
//! left to rustc, which reports it at the attribute's tokens in `fsm!`.
//!
//! Refused here, because the generated code needs the enum or because rustc's error would be
//! about generated code: `#[cfg]` (it would remove the enum; `#[cfg_attr]` is fine), `repr` of
//! an integer on an event enum whose events carry payloads (no `as` cast, and a layout nobody
//! asked for) or on an enum with more variants than the integer counts, `repr(packed)` and
//! `repr(transparent)` (not for these enums), a derive list that is not of paths.

use super::Context;
use super::rust::{locate, offset_of, source_offset, too_deep};
use crate::ast::AttributeTarget;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::{Source, Span, Spanned};
use syn::Meta;

const HELP: &str =
    "write outer attributes, e.g. `#[derive(Hash)]`, `#[repr(u8)]` or `#[serde(rename_all = \"snake_case\")]`";

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    let machine = cx.machine;
    let Some(attributes) = &machine.attributes else {
        return;
    };
    let payloads = machine.events.iter().any(|e| e.payload.is_some());
    for (target, list) in attributes.lists() {
        if target == AttributeTarget::Events
            && machine.events.is_empty()
            && let Some(first) = list.first()
        {
            diags.push(
                Diagnostic::warning(
                    codes::INVALID_ATTRIBUTE,
                    "attributes for the event enum of a machine without events",
                    first.span,
                    "no event enum to apply to",
                )
                .with_help("declare the machine's `events`, or remove `events` from `attributes`"),
            );
            continue;
        }
        let target = Target {
            target,
            payloads,
            variants: variants(cx, target),
        };
        for code in list {
            if too_deep(cx.source, code, "an attribute", diags) {
                continue;
            }
            let trimmed = code.value.trim_start();
            if trimmed.starts_with("#!") {
                diags.push(
                    Diagnostic::error(
                        codes::INVALID_ATTRIBUTE,
                        "an inner attribute (`#![..]`) cannot apply to a generated enum",
                        code.span,
                        "inner attribute",
                    )
                    .with_help(format!(
                        "write it as an outer attribute, `#[{}`",
                        trimmed.trim_start_matches("#!").trim_start_matches('[')
                    )),
                );
                continue;
            }
            match crate::attributes::parse(&code.value) {
                Ok(attrs) if attrs.is_empty() => diags.push(
                    Diagnostic::error(codes::INVALID_ATTRIBUTE, "no attribute here", code.span, "empty")
                        .with_help(HELP),
                ),
                Ok(attrs) => {
                    for attr in &attrs {
                        target.meta(cx.source, code, &attr.meta, diags);
                    }
                }
                Err(e) => {
                    let message = if e.to_string() == "cannot parse string into token stream" {
                        "the attribute does not parse: an unclosed bracket, brace or string".to_owned()
                    } else {
                        format!("`{}` is not an attribute: {e}", code.value)
                    };
                    diags.push(
                        Diagnostic::error(
                            codes::INVALID_ATTRIBUTE,
                            message,
                            locate(cx.source, code, &e),
                            "not an outer attribute",
                        )
                        .with_help(HELP),
                    );
                }
            }
        }
    }
}

/// The enum attributes are for, as the checks of one attribute need it.
struct Target {
    target: AttributeTarget,
    /// Some event carries a payload.
    payloads: bool,
    /// The most variants one enum of the target has (the state enums: the largest network), and
    /// what they are.
    variants: (usize, &'static str),
}

/// The variant count that bounds an integer `repr`: the states of the largest network, the end
/// states (at least those of the main network), the events.
fn variants(cx: &Context<'_>, target: AttributeTarget) -> (usize, &'static str) {
    let machine = cx.machine;
    match target {
        AttributeTarget::States => (
            machine.networks.iter().map(|n| n.states.len()).max().unwrap_or(0),
            "states",
        ),
        AttributeTarget::Ends => (
            machine
                .networks
                .iter()
                .flat_map(|n| &n.states)
                .filter(|s| s.is_end.as_ref().is_some_and(|e| e.value))
                .count(),
            "end states",
        ),
        AttributeTarget::Events => (machine.events.len(), "events"),
    }
}

impl Target {
    fn meta(&self, source: Option<&Source>, code: &Spanned<String>, meta: &Meta, diags: &mut Diagnostics) {
        let at = |node: &dyn quote::ToTokens| span_of(source, code, node);
        let name = match self.target {
            AttributeTarget::States => "state enum",
            AttributeTarget::Events => "event enum",
            AttributeTarget::Ends => "end-state enum",
        };
        if meta.path().is_ident("cfg") {
            diags.push(
                Diagnostic::error(
                    codes::INVALID_ATTRIBUTE,
                    format!("`#[cfg]` would remove the {name}, which the generated code uses"),
                    at(meta),
                    "cannot apply here",
                )
                .with_help("to add attributes under a condition, write `#[cfg_attr(<condition>, <attribute>)]`"),
            );
            return;
        }
        if let Some(nested) = crate::attributes::cfg_attr(meta) {
            match nested {
                Ok((_, metas)) => {
                    for m in &metas {
                        self.meta(source, code, m, diags);
                    }
                }
                Err(e) => diags.push(not_parsed(at(meta), "`cfg_attr`", &e)),
            }
            return;
        }
        if let Err(e) = crate::attributes::nested_meta(meta) {
            diags.push(
                Diagnostic::error(
                    codes::INVALID_ATTRIBUTE,
                    format!("the arguments of `#[{}(..)]` do not parse: {e}", path_text(meta.path())),
                    at(meta),
                    "here",
                )
                .with_help(
                    "arguments are Rust's meta items, separated by commas: `name`, `name = \"value\"`, \
                     `name(..)` or a literal",
                ),
            );
            return;
        }
        if let Some(Err(e)) = crate::attributes::derive_paths(meta) {
            diags.push(
                not_parsed(at(meta), "`derive`", &e)
                    .with_help("a derive lists traits: `#[derive(Hash, serde::Serialize)]`"),
            );
            return;
        }
        let Meta::List(list) = meta else { return };
        if !list.path.is_ident("repr") {
            return;
        }
        let reprs = match list.parse_args_with(syn::punctuated::Punctuated::<Meta, syn::Token![,]>::parse_terminated) {
            Ok(reprs) => reprs,
            Err(e) => {
                diags.push(not_parsed(at(meta), "`repr`", &e));
                return;
            }
        };
        for repr in &reprs {
            let Some(word) = repr.path().get_ident().map(ToString::to_string) else {
                continue;
            };
            let span = at(repr);
            if word == "packed" || word == "transparent" {
                diags.push(
                    Diagnostic::error(
                        codes::INVALID_ATTRIBUTE,
                        format!("`repr({word})` cannot apply to the {name}"),
                        span,
                        "not for an enum",
                    )
                    .with_help(format!(
                        "`{word}` is for structs{}; an enum takes an integer (`repr(u8)`) or `C`",
                        if word == "transparent" {
                            " and one-variant enums"
                        } else {
                            ""
                        }
                    )),
                );
                continue;
            }
            let Some(bits) = int_bits(&word) else { continue };
            if self.target == AttributeTarget::Events && self.payloads {
                diags.push(
                    Diagnostic::error(
                        codes::INVALID_ATTRIBUTE,
                        format!("`repr({word})` on the event enum, whose events carry payloads"),
                        span,
                        "events with payloads",
                    )
                    .with_help(
                        "an enum whose variants carry data cannot be cast `as` an integer; give `repr` to the state enum, or \
                         use `EventName::name` to tell events apart",
                    ),
                );
                continue;
            }
            let (count, what) = self.variants;
            let signed = word.starts_with('i');
            let capacity: u128 = match (bits, signed) {
                (b, false) if b < 128 => 1u128 << b,
                (b, true) if b < 128 => 1u128 << (b - 1),
                _ => u128::MAX,
            };
            if u128::try_from(count).unwrap_or(u128::MAX) > capacity {
                diags.push(
                    Diagnostic::error(
                        codes::INVALID_ATTRIBUTE,
                        format!("`repr({word})` counts {capacity} variants, and the {name} has {count} {what}"),
                        span,
                        "too small",
                    )
                    .with_help(format!(
                        "use a wider integer (`repr({}16)`)",
                        if signed { "i" } else { "u" }
                    )),
                );
            }
        }
    }
}

fn path_text(path: &syn::Path) -> String {
    quote::ToTokens::to_token_stream(path).to_string().replace(' ', "")
}

/// The bits of an integer `repr` (`usize`, `isize`: 16, the least Rust promises).
fn int_bits(word: &str) -> Option<u32> {
    let bits = word.strip_prefix('u').or_else(|| word.strip_prefix('i'))?;
    match bits {
        "size" => Some(16),
        "8" | "16" | "32" | "64" | "128" => bits.parse().ok(),
        _ => None,
    }
}

fn not_parsed(span: Span, what: &str, e: &syn::Error) -> Diagnostic {
    Diagnostic::error(
        codes::INVALID_ATTRIBUTE,
        format!("{what} does not parse: {e}"),
        span,
        "here",
    )
    .with_help(HELP)
}

/// The span of `node` (parsed from `code`'s text) in the source: its first to its last character
/// when both can be mapped, else the whole string.
fn span_of(source: Option<&Source>, code: &Spanned<String>, node: &dyn quote::ToTokens) -> Span {
    let tokens = node.to_token_stream();
    let mut iter = tokens.into_iter();
    let Some(first) = iter.next() else {
        return code.span;
    };
    let last = iter.last().unwrap_or_else(|| first.clone());
    let (start, end) = (first.span().start(), last.span().end());
    let text = code.value.as_str();
    let map = |line: usize, column: usize| offset_of(text, line, column).and_then(|o| source_offset(source, code, o));
    match (map(start.line, start.column), map(end.line, end.column)) {
        (Some(start), Some(end)) if start < end => Span::new(start, end),
        _ => code.span,
    }
}
