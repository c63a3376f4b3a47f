//! Diagnostics: every problem found in a machine, with a stable code, labels on exact spans and
//! help. Stages push into a [`Diagnostics`] sink and keep going; the caller decides at one gate
//! (`Diagnostics::has_errors`) whether to continue (the pattern of serde_derive's `Ctxt`).
//!
//! Rendering is done here, once: [`Diagnostics::render`] gives the miette graphical report
//! (unicode, no colour) that the CLI prints, build.rs prints, the proc-macro puts in
//! `compile_error!` and snapshot tests compare; [`Diagnostics::to_json`] gives the machine-readable
//! form of `fsm check --format json`.

use crate::span::{Source, Span};
use crate::syntax::keys;
#[cfg(feature = "fancy")]
use std::fmt;

/// Stable diagnostic codes. Never rename one: editors and CI scripts match on them.
pub mod codes {
    macro_rules! codes {
        ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
            $($(#[$doc])* pub const $name: &str = $code;)*
            /// Every code, for documentation and tests.
            pub const ALL: &[&str] = &[$($code),*];
        };
    }
    codes! {
        /// The YAML text does not parse (indentation, tabs, unclosed quotes, ...).
        YAML_SYNTAX = "fsm::yaml_syntax";
        /// A mapping has the same key twice.
        DUPLICATE_KEY = "fsm::duplicate_key";
        /// A key the format does not know.
        UNKNOWN_KEY = "fsm::unknown_key";
        /// A required key is missing.
        MISSING_KEY = "fsm::missing_key";
        /// A value of the wrong type (a list where a string is expected, ...).
        WRONG_TYPE = "fsm::wrong_type";
        /// A value outside the allowed set (`data_mode: fast`).
        INVALID_VALUE = "fsm::invalid_value";
        /// Two states of a network share a name.
        DUPLICATE_STATE = "fsm::duplicate_state";
        /// Two networks share a name.
        DUPLICATE_NETWORK = "fsm::duplicate_network";
        /// Two events share a name.
        DUPLICATE_EVENT = "fsm::duplicate_event";
        /// Two resources share a name.
        DUPLICATE_RESOURCE = "fsm::duplicate_resource";
        /// Two declarations (`functions:`) of the same function.
        DUPLICATE_FUNCTION = "fsm::duplicate_function";
        /// Two kinds of errors (`errors:`) share a name, or one has the name of a built-in kind.
        DUPLICATE_ERROR_KIND = "fsm::duplicate_error_kind";
        /// A kind of error in `on_error` or `retry: { on: .. }` that is neither declared in
        /// `errors:` nor built in.
        UNKNOWN_ERROR_KIND = "fsm::unknown_error_kind";
        /// An `on_error` entry never tried: after the entry without kinds, or a kind an earlier
        /// entry takes.
        SHADOWED_ERROR_ARC = "fsm::shadowed_error_arc";
        /// An `on_error` entry names a kind no function of the state can fail with (warning).
        UNRETURNED_ERROR_KIND = "fsm::unreturned_error_kind";
        /// A function is declared in `functions:` but no state or arc uses it (warning).
        UNUSED_FUNCTION = "fsm::unused_function";
        /// A reference to a state that does not exist in the network.
        UNKNOWN_STATE = "fsm::unknown_state";
        /// A reference to a network that does not exist.
        UNKNOWN_NETWORK = "fsm::unknown_network";
        /// A reference to an event that is not declared.
        UNKNOWN_EVENT = "fsm::unknown_event";
        /// A reference to a resource that is not declared.
        UNKNOWN_RESOURCE = "fsm::unknown_resource";
        /// A resource's `config` lacks a setting its kind needs, or has an unknown or ill-typed one.
        RESOURCE_CONFIG = "fsm::resource_config";
        /// `transaction:` on a resource that cannot have one (a file, http or llm resource: only
        /// databases have transactions).
        TRANSACTION = "fsm::transaction";
        /// A state's `retry`, `timeout_seconds` or `circuit_breaker` is malformed or out of range, or
        /// guards a state without functions (warning).
        RESILIENCE = "fsm::resilience";
        /// The record store of a `reference` machine (`store:`) is not a database resource, its
        /// table is not a table name, or no state uses it (warning).
        STORE = "fsm::store";
        /// A reference to a built-in function that does not exist, or with bad params.
        UNKNOWN_BUILTIN = "fsm::unknown_builtin";
        /// A network has no start state.
        NO_START_STATE = "fsm::no_start_state";
        /// A network has several start states.
        MULTIPLE_START_STATES = "fsm::multiple_start_states";
        /// A network has no end state.
        NO_END_STATE = "fsm::no_end_state";
        /// An end state has outgoing arcs.
        END_STATE_HAS_ARCS = "fsm::end_state_has_arcs";
        /// A state that is not an end state has no outgoing arc.
        DEAD_END = "fsm::dead_end";
        /// A state no run can reach (warning).
        UNREACHABLE_STATE = "fsm::unreachable_state";
        /// A state from which no end state can be reached (warning).
        NO_PATH_TO_END = "fsm::no_path_to_end";
        /// An unconditional arc makes later arcs of the same state and event unreachable.
        SHADOWED_ARC = "fsm::shadowed_arc";
        /// Two arcs of the same state and event, neither with a condition nor distinct priorities.
        NONDETERMINISTIC_ARCS = "fsm::nondeterministic_arcs";
        /// Push arcs form a cycle between networks.
        PUSH_CYCLE = "fsm::push_cycle";
        /// Two names become the same Rust identifier.
        IDENT_COLLISION = "fsm::ident_collision";
        /// A name is a Rust keyword or cannot become a Rust identifier.
        INVALID_IDENT = "fsm::invalid_ident";
        /// Inline Rust that does not parse.
        RUST_SYNTAX = "fsm::rust_syntax";
        /// A Rust type (record, payload) that does not parse.
        INVALID_TYPE = "fsm::invalid_type";
        /// The same function name is used in incompatible roles (condition and transform).
        FUNCTION_ROLE = "fsm::function_role";
        /// A key is accepted by the reference framework but not supported here.
        UNSUPPORTED = "fsm::unsupported";
        /// An arc is malformed (both `to` and `target_network`, neither, ...).
        INVALID_ARC = "fsm::invalid_arc";
        /// `main_network` missing while there are several networks, or naming no network.
        MAIN_NETWORK = "fsm::main_network";
        /// A file could not be read.
        IO = "fsm::io";
        /// `fsm!` tokens that do not follow the DSL's grammar (a missing `;`, a stray token).
        DSL_SYNTAX = "fsm::dsl_syntax";
        /// Inline Rust, a Rust type, the YAML document or the `fsm!` tokens nest too deeply to be
        /// read safely (thousands of brackets, operators or generic arguments).
        TOO_DEEP = "fsm::too_deep";
        /// A machine file that is not UTF-8 text.
        NOT_UTF8 = "fsm::not_utf8";
        /// Superstates whose `parent`s go round in a circle.
        SUPERSTATE_CYCLE = "fsm::superstate_cycle";
        /// An entry of `attributes` that is not outer attributes (with arguments of Rust's meta
        /// syntax), or one that cannot apply to its
        /// enum (`#[cfg]`, `#[repr(u8)]` on events with payloads or on more than 256 states); or
        /// attributes for an enum the machine does not have (warning).
        INVALID_ATTRIBUTE = "fsm::invalid_attribute";
        /// An arc into a state that carries data (`data:` of the state) names no function that
        /// makes it (`data:` of the arc).
        STATE_DATA_MISSING = "fsm::state_data_missing";
        /// An arc names a function that makes state data, but its target carries none (or the
        /// arc is internal, or a push arc).
        STATE_DATA_UNEXPECTED = "fsm::state_data_unexpected";
        /// A state that carries data is entered where no arc makes it: a start state, an
        /// `on_error` target, a `return_state`, a state inside a superstate with `history`.
        STATE_DATA_UNMADE = "fsm::state_data_unmade";
        /// An async function where a run is synchronous (a condition, an arc's transform, an exit
        /// action, a superstate's action), declared `async` with `atomic`, or `max_concurrency` on
        /// a state without async functions.
        ASYNC_FUNCTION = "fsm::async_function";
        /// A state's `parallel:` list that is empty, names a function twice, names one that is
        /// not declared `async: true` (or not declared at all), inline Rust or a built-in, or a
        /// function also used elsewhere (a parallel function has a signature of its own).
        PARALLEL = "fsm::parallel";
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Generation still happens.
    Warning,
    /// Nothing is generated.
    Error,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A labelled span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there (may be empty).
    pub message: String,
    /// The primary label is the one the diagnostic is "at" (line/column in JSON, token in macros).
    pub primary: bool,
}

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code, one of [`codes`].
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One line: what is wrong.
    pub message: String,
    /// The primary label first, then secondary ones ("first defined here").
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label {
                span,
                message: label.into(),
                primary: true,
            }],
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span, label)
        }
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    /// Sets the help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The primary span.
    pub fn span(&self) -> Span {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map_or(Span::default(), |l| l.span)
    }
}

/// The sink every stage writes into.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Records several.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// All diagnostics, in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Error).count()
    }

    /// Turns every warning into an error (a machine or a caller that denies warnings).
    pub fn deny_warnings(&mut self) {
        for d in &mut self.items {
            d.severity = Severity::Error;
        }
    }

    /// Sorts by position (then code), so output does not depend on the order checks ran in.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| (a.span(), a.code).cmp(&(b.span(), b.code)));
        // An arc written for several states (`from: [a, b]`, `_`, a superstate) is one node:
        // what is wrong with it once is said once.
        let mut kept: Vec<Diagnostic> = Vec::with_capacity(self.items.len());
        for d in self.items.drain(..) {
            let repeated = kept
                .iter()
                .rev()
                .take_while(|k| k.span() == d.span())
                .any(|k| k.code == d.code && k.message == d.message);
            if !repeated {
                kept.push(d);
            }
        }
        self.items = kept;
    }

    /// Sorts, after dropping what only follows from a key that was not understood: a misspelt
    /// `is_start` (`is_strat`) or `is_end` leaves its network without a start or end state, and
    /// a misspelt function key (`transfrom: enrich`) leaves the function it named unused. The
    /// unknown key is the cause and is reported, with its did-you-mean; the consequences would
    /// only send the reader to the wrong place. What the front ends and the checks found, merged,
    /// goes through here.
    pub fn settle(&mut self) {
        let meant: Vec<String> = self
            .items
            .iter()
            .filter(|d| d.code == codes::UNKNOWN_KEY)
            .filter_map(|d| {
                let help = d.help.as_deref()?;
                let rest = help.strip_prefix("did you mean `")?;
                Some(rest.split('`').next()?.to_owned())
            })
            .collect();
        let meant = |key: &str| meant.iter().any(|m| m == key);
        // The keys that name functions: a function named under a misspelt one is not unused.
        let functions_unread = [keys::TRANSFORM, keys::VALIDATE, keys::CONDITION]
            .iter()
            .any(|k| meant(k));
        self.items.retain(|d| {
            !((d.code == codes::NO_START_STATE && meant(keys::IS_START))
                || (d.code == codes::NO_END_STATE && meant(keys::IS_END))
                || (d.code == codes::UNUSED_FUNCTION && functions_unread))
        });
        self.sort();
    }

    /// Consumes the sink.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }

    /// The report of every diagnostic as one string: miette's graphical report, unicode without
    /// colour, with the `fancy` feature (on by default); without it, the same plain form rustc
    /// uses (`error[code]: message`, `--> file:line:column`, the line, a caret under the span,
    /// `help:`). At most [`MAX_REPORTED`] are rendered; a last line says how many more there are.
    pub fn render(&self, source: &Source) -> String {
        #[cfg(feature = "fancy")]
        {
            self.render_with(source, miette::GraphicalTheme::unicode_nocolor(), 100)
        }
        #[cfg(not(feature = "fancy"))]
        {
            let lines = LineIndex::new(&source.text);
            let shown = self.items.len().min(MAX_REPORTED);
            let mut out: String = self.items[..shown]
                .iter()
                .map(|d| plain_report(d, source, &lines))
                .collect();
            if self.items.len() > shown {
                out.push_str(&more_line(self.items.len() - shown));
            }
            out
        }
    }

    /// The report with a given theme (the CLI uses colour on terminals) and width.
    #[cfg(feature = "fancy")]
    pub fn render_with(&self, source: &Source, theme: miette::GraphicalTheme, width: usize) -> String {
        let (reports, more) = self.render_each(source, theme, width);
        let mut out = reports.concat();
        if more > 0 {
            out.push_str(&more_line(more));
        }
        out
    }

    /// The reports of the first [`MAX_REPORTED`] diagnostics, one string each, and the number
    /// left out. A diagnostic on a very long line (minified YAML, a long string) is rendered in a
    /// plain form with the line clipped around it, rather than by miette (which panics past
    /// column 65,535 and would print the whole line).
    #[cfg(feature = "fancy")]
    pub fn render_each(&self, source: &Source, theme: miette::GraphicalTheme, width: usize) -> (Vec<String>, usize) {
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(width)
            .with_links(false);
        let lines = LineIndex::new(&source.text);
        let shown = self.items.len().min(MAX_REPORTED);
        let mut reports = Vec::with_capacity(shown);
        // miette needs the text as an owned source: shared, not copied per diagnostic.
        let text: std::sync::Arc<str> = std::sync::Arc::from(source.text.as_str());
        for d in &self.items[..shown] {
            let plain = d.labels.iter().any(|l| lines.is_long(&source.text, l.span));
            let graphical = if plain {
                None
            } else {
                let report = Report {
                    diagnostic: d,
                    source: miette::NamedSource::new(&source.name, SharedText(std::sync::Arc::clone(&text))),
                };
                let mut one = String::new();
                // The last line of defence: a renderer panic (not expected once long lines are
                // kept away from miette) must not take the report, or the tool, down.
                let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handler.render_report(&mut one, &report).is_ok()
                }));
                matches!(rendered, Ok(true)).then_some(one)
            };
            reports.push(graphical.unwrap_or_else(|| plain_report(d, source, &lines)));
        }
        (reports, self.items.len() - shown)
    }

    /// One JSON object per diagnostic: code, severity, message, file, line, column, byte span,
    /// labels and help.
    pub fn to_json(&self, source: &Source) -> serde_json::Value {
        let mut cursor = LineCursor::new(&source.text);
        self.items
            .iter()
            .map(|d| {
                let span = d.span();
                let (line, column) = cursor.line_col(span.start);
                serde_json::json!({
                    "code": d.code,
                    "severity": d.severity.as_str(),
                    "message": d.message,
                    "file": source.name,
                    "line": line,
                    "column": column,
                    "span": { "start": span.start, "end": span.end },
                    "labels": d.labels.iter().map(|l| serde_json::json!({
                        "message": l.message,
                        "primary": l.primary,
                        "span": { "start": l.span.start, "end": l.span.end },
                    })).collect::<Vec<_>>(),
                    "help": d.help,
                })
            })
            .collect()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// Most diagnostics a report renders; the rest are counted on a last line (the JSON form lists
/// every one). Rendering locates each one in the text, so thousands of them cost seconds.
pub const MAX_REPORTED: usize = 100;

/// Lines longer than this (in bytes) are not given to miette: the report shows a clipped window.
#[cfg(feature = "fancy")]
const LONG_LINE: usize = 400;

/// Characters of a long line shown on each side of a label.
const CLIP: usize = 60;

/// The last line of a report that left diagnostics out.
pub fn more_line(more: usize) -> String {
    format!(
        "... and {} more (the first {MAX_REPORTED} are shown; `fsm check --format json` lists every one)\n",
        thousands(more)
    )
}

/// `19000` -> `19,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The source text shared between the reports of one file.
#[cfg(feature = "fancy")]
struct SharedText(std::sync::Arc<str>);

#[cfg(feature = "fancy")]
impl miette::SourceCode for SharedText {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        self.0
            .as_ref()
            .read_span(span, context_lines_before, context_lines_after)
    }
}

/// Line starts of a text, to find the line of an offset by binary search.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|&(_, b)| b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        LineIndex { starts }
    }

    /// The byte range of the line holding `offset` (without its line end).
    fn line(&self, text: &str, offset: usize) -> std::ops::Range<usize> {
        let i = self.starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = self.starts.get(i).copied().unwrap_or(0).min(text.len());
        let end = self
            .starts
            .get(i + 1)
            .map_or(text.len(), |&n| n.saturating_sub(1))
            .max(start);
        start..end
    }

    /// 0-based line number of `offset`.
    fn number(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    /// Whether the span starts or ends on a line too long for the graphical report.
    #[cfg(feature = "fancy")]
    fn is_long(&self, text: &str, span: Span) -> bool {
        [span.start, span.end]
            .iter()
            .any(|&at| self.line(text, at as usize).len() > LONG_LINE)
    }
}

/// Line and column of increasing offsets in one pass over the text (the JSON report of many
/// diagnostics, sorted by position, is linear in the text, not quadratic).
struct LineCursor<'a> {
    text: &'a str,
    /// Last offset reached, its line (1-based), the offset its line starts at and its column.
    at: usize,
    line: usize,
    line_start: usize,
    column: usize,
}

impl<'a> LineCursor<'a> {
    fn new(text: &'a str) -> Self {
        LineCursor {
            text,
            at: 0,
            line: 1,
            line_start: 0,
            column: 1,
        }
    }

    /// 1-based line and column (in characters) of a byte offset, clamped to the text, as
    /// [`Source::line_col`].
    fn line_col(&mut self, offset: u32) -> (usize, usize) {
        let mut target = (offset as usize).min(self.text.len());
        while target > 0 && !self.text.is_char_boundary(target) {
            target -= 1;
        }
        if target < self.at {
            *self = LineCursor::new(self.text);
        }
        let walked = &self.text[self.at..target];
        match walked.rfind('\n') {
            Some(i) => {
                self.line += walked.bytes().filter(|&b| b == b'\n').count();
                self.line_start = self.at + i + 1;
                self.column = self.text[self.line_start..target].chars().count() + 1;
            }
            None => self.column += walked.chars().count(),
        }
        self.at = target;
        (self.line, self.column)
    }
}

/// A diagnostic as plain text, its lines clipped to a window around each label:
///
/// ```text
/// error[fsm::unknown_key]: unknown key `bad`
///   --> m.yaml:3:70012
///    |
///  3 | …xxxxxxxxxxxxxxx, bad: 1}
///    |                   ^^^ unknown key
///   help: ...
/// ```
fn plain_report(d: &Diagnostic, source: &Source, lines: &LineIndex) -> String {
    let text = source.text.as_str();
    let mut cursor = LineCursor::new(text);
    let (line, column) = cursor.line_col(d.span().start);
    let mut out = format!(
        "{}[{}]: {}\n  --> {}:{line}:{column}\n",
        d.severity.as_str(),
        d.code,
        d.message,
        source.name
    );
    for label in &d.labels {
        let start = (label.span.start as usize).min(text.len());
        let range = lines.line(text, start);
        let number = lines.number(start) + 1;
        let Some(line_text) = text.get(range.clone()) else {
            continue;
        };
        // Characters of the line before the label, in it (on this line) and the window.
        let before: Vec<(usize, char)> = line_text
            .char_indices()
            .take_while(|(i, _)| range.start + i < start)
            .collect();
        let from = before.len().saturating_sub(CLIP);
        let skip_start = before.get(from).map_or(0, |(i, _)| *i);
        let shown: String = line_text[skip_start.min(line_text.len())..]
            .chars()
            .take(2 * CLIP)
            .collect();
        let clipped_left = from > 0;
        let clipped_right = line_text[skip_start.min(line_text.len())..].chars().count() > 2 * CLIP;
        let gutter = " ".repeat(number.to_string().len());
        out.push_str(&format!(
            " {gutter} |\n {number} | {}{shown}{}\n",
            if clipped_left { "…" } else { "" },
            if clipped_right { "…" } else { "" }
        ));
        let pad = before.len() - from + usize::from(clipped_left);
        let end = (label.span.end as usize).clamp(start, range.end);
        let width = text.get(start..end).map_or(1, |s| s.chars().count()).clamp(1, 2 * CLIP);
        let mark = if label.primary { "^" } else { "-" };
        out.push_str(&format!(
            " {gutter} | {}{} {}\n",
            " ".repeat(pad),
            mark.repeat(width),
            label.message
        ));
    }
    if let Some(help) = &d.help {
        out.push_str(&format!("  help: {help}\n"));
    }
    out
}

/// Adapter from a [`Diagnostic`] to miette's trait, with its source attached.
#[cfg(feature = "fancy")]
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: miette::NamedSource<SharedText>,
}

#[cfg(feature = "fancy")]
impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

#[cfg(feature = "fancy")]
impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

#[cfg(feature = "fancy")]
impl std::error::Error for Report<'_> {}

#[cfg(feature = "fancy")]
impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.diagnostic.labels.iter().map(|l| {
            let text = (!l.message.is_empty()).then(|| l.message.clone());
            if l.primary {
                miette::LabeledSpan::new_primary_with_span(text, l.span)
            } else {
                miette::LabeledSpan::new_with_span(text, l.span)
            }
        })))
    }
}

/// Names longer than this (in bytes) get no did-you-mean, and candidates longer than it are not
/// compared: the comparison costs the product of the lengths.
pub const MAX_SUGGESTED_LEN: usize = 64;

/// At most this many candidates are compared for one did-you-mean (the first ones, in the order
/// given): a machine with 20,000 states and as many mistyped references stays linear.
pub const MAX_SUGGESTION_CANDIDATES: usize = 1_000;

/// Did-you-mean: the candidate closest to `name` by Jaro-Winkler, if it is close enough (≥ 0.8).
/// Names over [`MAX_SUGGESTED_LEN`] bytes get none; only the first
/// [`MAX_SUGGESTION_CANDIDATES`] candidates are compared.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if name.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    candidates
        .into_iter()
        .take(MAX_SUGGESTION_CANDIDATES)
        .filter(|c| c.len() <= MAX_SUGGESTED_LEN)
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, c)| *score >= 0.8 && *c != name)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_compares_a_bounded_amount() {
        assert_eq!(did_you_mean("pyed", ["paid", "payed", "new"]), Some("payed"));
        // A long name is not compared at all (1 MB against 20,000 names took minutes).
        let long = format!("{}x", "a".repeat(MAX_SUGGESTED_LEN));
        let close = "a".repeat(MAX_SUGGESTED_LEN + 1);
        assert_eq!(did_you_mean(&long, [close.as_str()]), None);
        // Nor is a long candidate, nor one past the first MAX_SUGGESTION_CANDIDATES.
        assert_eq!(did_you_mean(&long[1..], [close.as_str()]), None);
        let mut names: Vec<String> = (0..MAX_SUGGESTION_CANDIDATES).map(|i| format!("zz{i}")).collect();
        names.push("payed".into());
        assert_eq!(did_you_mean("pyed", names.iter().map(String::as_str)), None);
        names.insert(0, "payed".into());
        assert_eq!(did_you_mean("pyed", names.iter().map(String::as_str)), Some("payed"));
    }

    #[test]
    fn long_reports_are_capped_and_say_how_many_more() {
        let text = "x\n".repeat(300);
        let source = Source::new("m.yaml", text);
        let mut diagnostics = Diagnostics::new();
        for i in 0..250u32 {
            diagnostics.push(Diagnostic::error(
                codes::UNKNOWN_KEY,
                format!("unknown {i}"),
                Span::new(2 * i, 2 * i + 1),
                "here",
            ));
        }
        let report = diagnostics.render(&source);
        assert_eq!(report.matches("fsm::unknown_key").count(), MAX_REPORTED);
        assert!(
            report.contains("unknown 99\n") && !report.contains("unknown 100\n"),
            "{report}"
        );
        assert!(
            report.ends_with("... and 150 more (the first 100 are shown; `fsm check --format json` lists every one)\n")
        );
        assert_eq!(thousands(19_000), "19,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        // The JSON form lists every one, with lines and columns found in one pass.
        let json = diagnostics.to_json(&source);
        let items = json.as_array().map(Vec::len);
        assert_eq!(items, Some(250));
        assert_eq!(json[249]["line"], 250);
        assert_eq!(json[249]["column"], 1);
    }

    /// Without `fancy` (a proc-macro user with `default-features = false`) every report takes
    /// rustc's form, with the code, the place, the line, a caret under the span and the help.
    #[test]
    #[cfg(not(feature = "fancy"))]
    fn without_fancy_reports_take_rustcs_plain_form() {
        let source = Source::new(
            "m.yaml",
            "name: M\nstates:\n  - { name: a, is_start: true }\narcs:\n  - { from: a, to: bb }\n",
        );
        let (_, diagnostics) = crate::check(&source);
        let report = diagnostics.render(&source);
        assert!(
            report.contains(
                "error[fsm::unknown_state]: unknown state `bb`\n  --> m.yaml:5:20\n   |\n 5 |   - { from: a, to: bb }\n   |                    ^^ no such state\n  help: "
            ),
            "{report}"
        );
        assert!(!report.contains('╭'), "{report}");
    }

    /// miette panicked ("Formatting argument out of range") on a label past column 65,535; a
    /// label on a long line is rendered plainly, with the line clipped around it.
    #[test]
    fn a_label_far_along_a_line_is_rendered_plainly_and_clipped() {
        let text = format!("name: M\nstates: [{{name: a}}]{}, bad: 1}}\n", " ".repeat(70_000));
        let at = u32::try_from(text.find("bad").unwrap_or(0)).unwrap_or(0);
        let source = Source::new("m.yaml", text);
        let mut diagnostics = Diagnostics::new();
        diagnostics.push(
            Diagnostic::error(
                codes::UNKNOWN_KEY,
                "unknown key `bad`",
                Span::new(at, at + 3),
                "unknown key",
            )
            .with_label(Span::new(8, 14), "in here")
            .with_label(Span::new(0, 4), "and here")
            .with_help("remove it"),
        );
        let report = diagnostics.render(&source);
        assert!(
            report.starts_with("error[fsm::unknown_key]: unknown key `bad`\n  --> m.yaml:2:"),
            "{report}"
        );
        // 60 characters before the label, the label and what follows (up to 120 in all).
        assert!(
            report.contains(&format!(
                " 2 | …{}, bad: 1}}\n   | {}^^^ unknown key\n",
                " ".repeat(58),
                " ".repeat(61)
            )),
            "{report}"
        );
        assert!(
            report.contains(&format!(
                " 2 | states: [{{name: a}}]{}…\n   | ------ in here\n",
                " ".repeat(101)
            )),
            "{report}"
        );
        assert!(report.contains(" 1 | name: M\n   | ---- and here\n"), "{report}");
        assert!(report.ends_with("  help: remove it\n"), "{report}");
        assert!(report.len() < 1_000, "the line is clipped: {} bytes", report.len());
    }
}
