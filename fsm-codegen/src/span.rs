//! Byte spans into a registered source, and the `Spanned<T>` wrapper every AST node uses.
//!
//! A span is a half-open byte range `start..end` into the text of one [`Source`]. For the inline
//! `fsm!` DSL there is no text: the DSL front end numbers its tokens and uses the token index as a
//! one-byte "offset", so that the proc-macro can map a diagnostic back to the exact token
//! (see `syntax::dsl`). Spans are turned into miette or rustc spans only when reporting.

use std::fmt;

/// A half-open byte range `start..end` into a [`Source`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
    pub const fn new(start: u32, end: u32) -> Self {
        Span { start, end }
    }

    /// A span covering both `self` and `other`.
    pub fn join(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Length in bytes.
    pub const fn len(self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span covers no byte.
    pub const fn is_empty(self) -> bool {
        self.end <= self.start
    }

    /// As a `Range<usize>`, for slicing the source.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

#[cfg(feature = "fancy")]
impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        miette::SourceSpan::new((s.start as usize).into(), s.len() as usize)
    }
}

/// A value together with the span of the source text it was read from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wrap `value` read at `span`.
    pub const fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }

    /// Map the value, keeping the span.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Spanned<U> {
        Spanned {
            value: f(self.value),
            span: self.span,
        }
    }

    /// Borrow the value, keeping the span.
    pub fn as_ref(&self) -> Spanned<&T> {
        Spanned {
            value: &self.value,
            span: self.span,
        }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} @{:?}", self.value, self.span)
    }
}

/// The JSON Schema of a `Spanned<T>` is the schema of `T`: spans are not part of the format.
#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// A named piece of source text: a YAML file, or the tokens of an `fsm!` invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Display name: the path of the file as the user gave it, or `fsm!`.
    pub name: String,
    /// The full text.
    pub text: String,
}

impl Source {
    /// A new source.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset, clamped to the text.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let mut off = (offset as usize).min(self.text.len());
        while off > 0 && !self.text.is_char_boundary(off) {
            off -= 1;
        }
        let before = &self.text[..off];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

/// Reads the bytes of a machine file as a [`Source`]. Bytes that are not UTF-8 give the error
/// `fsm::not_utf8` at the first offending byte, with the source decoded lossily (every valid
/// byte keeps its offset up to that point) so that the report can show the line.
///
/// ```
/// let (source, diagnostic) = fsm_codegen::span::decode("m.yaml", b"name: M\xff\n").unwrap_err();
/// assert_eq!(diagnostic.code, fsm_codegen::codes::NOT_UTF8);
/// // The bad byte became U+FFFD (3 bytes) in the decoded text, at the same offset.
/// assert_eq!(diagnostic.span(), fsm_codegen::Span::new(7, 10));
/// assert!(source.text.starts_with("name: M"));
/// ```
///
/// # Errors
///
/// The lossily decoded source and the diagnostic, when the bytes are not UTF-8.
#[allow(clippy::result_large_err)]
pub fn decode(name: impl Into<String>, bytes: &[u8]) -> Result<Source, (Source, crate::Diagnostic)> {
    let name = name.into();
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(error) => {
            let at = error.valid_up_to();
            let bad = error.error_len().unwrap_or(bytes.len() - at).max(1);
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            let start = u32::try_from(at).unwrap_or(u32::MAX);
            // In the lossy text, the bad bytes became one U+FFFD (3 bytes) at the same offset.
            let span = Span::new(start, start.saturating_add(3));
            let hex: Vec<String> = bytes[at..at + bad].iter().map(|b| format!("{b:#04x}")).collect();
            let diagnostic = crate::Diagnostic::error(
                crate::codes::NOT_UTF8,
                format!(
                    "the file is not UTF-8 text: byte {at} (line {line}) is {}",
                    hex.join(" ")
                ),
                span,
                "not UTF-8",
            )
            .with_help("save the file as UTF-8 (machine files are UTF-8 YAML)");
            Err((
                Source::new(name, String::from_utf8_lossy(bytes).into_owned()),
                diagnostic,
            ))
        }
    }
}
