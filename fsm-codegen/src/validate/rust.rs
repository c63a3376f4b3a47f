//! Rust inside the machine: inline functions (`{ rust: "..." }`) must parse, the record type
//! (`data`) must be a type path, and event payloads must be types. Errors are found with syn at
//! check time and point inside the YAML string, at the character syn stopped at, whenever the
//! string's content maps onto the source text one to one (plain and quoted strings without
//! escapes, literal block strings).
//!
//! A condition is an expression; a transform or check is a block body (statements, with an
//! optional final expression).

use super::{Context, functions_of};
use crate::ast::FunctionRef;
use crate::builtins::Role;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::{Source, Span, Spanned};
use syn::parse::Parser;

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    let machine = cx.machine;
    if let Some(data) = &machine.data
        && !too_deep(cx.source, data, "the record type", diags)
    {
        match syn::parse_str::<syn::Type>(&data.value) {
            Ok(syn::Type::Path(_)) => {}
            Ok(_) => diags.push(
                Diagnostic::error(
                    codes::INVALID_TYPE,
                    format!("the record type `{}` is not a type path", data.value),
                    data.span,
                    "not a path",
                )
                .with_help("`data` names a struct or enum by its path, e.g. `crate::Record`"),
            ),
            Err(e) => diags.push(
                Diagnostic::error(
                    codes::INVALID_TYPE,
                    format!("the record type `{}` does not parse: {e}", data.value),
                    locate(cx.source, data, &e),
                    "not a Rust type",
                )
                .with_help("`data` names a struct or enum by its path, e.g. `crate::Record`"),
            ),
        }
    }
    // Types written as text: state data and event payloads.
    let states = machine.networks.iter().flat_map(|n| &n.states).filter_map(|s| {
        let ty = s.data.as_ref()?;
        let what = format!("the data type of state `{}`", s.name.value);
        Some((ty, what, "`u32`, `std::time::Instant` or `crate::RedPhase`"))
    });
    let events = machine.events.iter().filter_map(|e| {
        let ty = e.payload.as_ref()?;
        let what = format!("the payload type of event `{}`", e.name.value);
        Some((ty, what, "`u32`, `String` or `crate::Track`"))
    });
    for (ty, what, examples) in states.chain(events) {
        if !too_deep(cx.source, ty, "a type", diags)
            && let Err(e) = syn::parse_str::<syn::Type>(&ty.value)
        {
            diags.push(
                Diagnostic::error(
                    codes::INVALID_TYPE,
                    format!("{what} does not parse: {e}"),
                    locate(cx.source, ty, &e),
                    "not a Rust type",
                )
                .with_help(format!("give a Rust type, e.g. {examples}")),
            );
        }
    }
    for (role, function) in functions_of(machine) {
        let FunctionRef::Rust { code, .. } = function else {
            continue;
        };
        if too_deep(cx.source, code, "inline Rust", diags) {
            continue;
        }
        let parsed = match role {
            Role::Condition | Role::MakeData => syn::parse_str::<syn::Expr>(&code.value).map(drop),
            Role::Transform | Role::Validate => syn::Block::parse_within.parse_str(&code.value).map(drop),
        };
        if let Err(e) = parsed {
            let what = match role {
                Role::Condition | Role::MakeData => "an expression",
                Role::Transform | Role::Validate => "a block of statements",
            };
            let span = locate(cx.source, code, &e);
            let message = if e.to_string() == "cannot parse string into token stream" {
                "inline Rust does not parse: an unclosed bracket, brace or string".to_owned()
            } else {
                format!("inline Rust does not parse: {e}")
            };
            let label = if span == code.span { "in this code" } else { "here" };
            diags.push(
                Diagnostic::error(codes::RUST_SYNTAX, message, span, label).with_help(format!(
                    "a {} is {what} with the record in scope as `data`",
                    role.as_str()
                )),
            );
        }
    }
}

/// Reports `fsm::too_deep` (and returns true) when `code` nests too deeply for syn to parse it
/// without risking the stack, the label at the place the limit is crossed; or `fsm::rust_syntax`
/// when it holds a number literal too long for syn to read in reasonable time.
pub(super) fn too_deep(source: Option<&Source>, code: &Spanned<String>, what: &str, diags: &mut Diagnostics) -> bool {
    if let Some(offset) = crate::depth::long_number_text(&code.value) {
        let span = source_offset(source, code, offset).map_or(code.span, |start| Span::new(start, start + 1));
        diags.push(crate::depth::long_number_diagnostic(span));
        return true;
    }
    let Some(offset) = crate::depth::too_deep_text(&code.value) else {
        return false;
    };
    let span = source_offset(source, code, offset).map_or(code.span, |start| Span::new(start, start + 1));
    diags.push(
        Diagnostic::error(
            codes::TOO_DEEP,
            format!("{what} nests too deeply to be read"),
            span,
            "too deep from here",
        )
        .with_help(format!(
            "brackets, generic arguments and operators of one expression may nest at most {} levels \
             (statements and list items count apart); split the code into a named function",
            crate::depth::MAX_DEPTH
        )),
    );
    true
}

/// The source span of the place syn reported `error` at inside `code`, or the whole string when
/// that place cannot be mapped exactly.
pub(super) fn locate(source: Option<&Source>, code: &Spanned<String>, error: &syn::Error) -> Span {
    let text = code.value.as_str();
    let offset = if error.to_string().contains("end of input") {
        Some(text.trim_end().len())
    } else {
        let at = error.span().start();
        offset_of(text, at.line, at.column)
    };
    offset
        .and_then(|offset| source_offset(source, code, offset))
        .map_or(code.span, |start| {
            let len = text
                .get(offset.unwrap_or(0)..)
                .and_then(|rest| rest.chars().next())
                .map_or(0, char::len_utf8);
            Span::new(start, start + u32::try_from(len).unwrap_or(0))
        })
}

/// Byte offset of 1-based `line`, 0-based char `column` in `text`.
pub(super) fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text.get(start..)?.find('\n')? + 1;
    }
    let line_text = text.get(start..)?.split('\n').next()?;
    let within = match line_text.char_indices().nth(column) {
        Some((i, _)) => i,
        None if line_text.chars().count() == column => line_text.len(),
        None => return None,
    };
    Some(start + within)
}

/// Maps a byte offset in the string's content to a byte offset in the source.
pub(super) fn source_offset(source: Option<&Source>, code: &Spanned<String>, offset: usize) -> Option<u32> {
    let text = code.value.as_str();
    let start = code.span.start;
    // Without the text (the `fsm!` front end, whose spans number tokens) the whole string is it.
    let source = source?;
    let written = source.text.get(code.span.range())?;
    if written == text {
        return Some(start + u32::try_from(offset).ok()?);
    }
    // A literal block: line k of the content is line k of the source minus the indentation,
    // which is the column the first content line starts at.
    let (_, column) = source.line_col(start);
    let indent = column - 1;
    let mut written_lines = written.split('\n');
    let mut at = 0usize; // offset of the current written line within `written`
    let mut content_at = 0usize;
    for (k, line) in text.split('\n').enumerate() {
        let written_line = written_lines.next()?;
        let skip = if k == 0 { 0 } else { indent };
        let matches = written_line.get(skip..) == Some(line) || (line.is_empty() && written_line.trim().is_empty());
        if !matches {
            return None;
        }
        if offset <= content_at + line.len() {
            return Some(start + u32::try_from(at + skip + (offset - content_at)).ok()?);
        }
        at += written_line.len() + 1;
        content_at += line.len() + 1;
    }
    None
}
