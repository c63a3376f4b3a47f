//! Diagnostics: every problem found in a machine, with a stable code, labels on exact spans and
//! help. Stages push into a [`Diagnostics`] sink and keep going; the caller decides at one gate
//! (`Diagnostics::has_errors`) whether to continue (the pattern of serde_derive's `Ctxt`).
//!
//! Rendering is done here, once: [`Diagnostics::render`] gives the miette graphical report
//! (unicode, no colour) that the CLI prints, build.rs prints, the proc-macro puts in
//! `compile_error!` and snapshot tests compare; [`Diagnostics::to_json`] gives the machine-readable
//! form of `fsm check --format json`.

use crate::span::{Source, Span};
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
    }

    /// Consumes the sink.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }

    /// The miette graphical report of every diagnostic, unicode without colour, as one string.
    pub fn render(&self, source: &Source) -> String {
        self.render_with(source, miette::GraphicalTheme::unicode_nocolor(), 100)
    }

    /// The report with a given theme (the CLI uses colour on terminals) and width.
    pub fn render_with(&self, source: &Source, theme: miette::GraphicalTheme, width: usize) -> String {
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(width)
            .with_links(false);
        let mut out = String::new();
        for d in &self.items {
            let report = Report {
                diagnostic: d,
                source: miette::NamedSource::new(&source.name, source.text.clone()),
            };
            let mut one = String::new();
            if handler.render_report(&mut one, &report).is_err() {
                // The handler only fails when the writer fails; a String never does. Fall back to
                // the plain form rather than losing the diagnostic.
                one = format!("{}[{}]: {}\n", d.severity.as_str(), d.code, d.message);
            }
            out.push_str(&one);
        }
        out
    }

    /// One JSON object per diagnostic: code, severity, message, file, line, column, byte span,
    /// labels and help.
    pub fn to_json(&self, source: &Source) -> serde_json::Value {
        self.items
            .iter()
            .map(|d| {
                let span = d.span();
                let (line, column) = source.line_col(span.start);
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

/// Adapter from a [`Diagnostic`] to miette's trait, with its source attached.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: miette::NamedSource<String>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

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

/// Did-you-mean: the candidate closest to `name` by Jaro-Winkler, if it is close enough (≥ 0.8).
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, c)| *score >= 0.8 && *c != name)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
