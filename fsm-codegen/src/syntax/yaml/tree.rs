//! YAML text -> a tree of spanned [`Node`]s, built from saphyr-parser's events.
//!
//! The tree keeps what a typed deserialiser throws away and a compiler needs: every mapping entry
//! in source order (duplicate keys included, so they can be reported with both places), the style
//! of every scalar (a quoted `"true"` is a string, a plain `true` a boolean), and byte spans.
//! Aliases are expanded (within a budget, so a "billion laughs" document fails fast) and merge
//! keys (`<<: *defaults`) are applied. A scan error is fatal for the file and becomes one
//! diagnostic that points at the problem.

use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::Span;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError};
use std::rc::Rc;

/// Deepest nesting of collections accepted (a machine needs about six levels).
const MAX_DEPTH: usize = 64;
/// Most nodes alias expansion may add to a document.
const MAX_ALIAS_NODES: usize = 100_000;
/// Most bytes of scalar text (and tags) alias expansion may add to a document: a few aliases of
/// a long string multiply memory as surely as nested ones.
const MAX_ALIAS_BYTES: usize = 8 << 20;

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `name`
    Plain,
    /// `'name'`
    SingleQuoted,
    /// `"name"`
    DoubleQuoted,
    /// `|`
    Literal,
    /// `>`
    Folded,
}

/// A YAML node with the byte span it was written at.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub span: Span,
    /// A tag other than the core schema's (`!foo`), reported by the mapper.
    pub tag: Option<String>,
}

/// What a node is.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A scalar: its text (after unquoting) and how it was written.
    Scalar { text: String, style: Style },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, entries in source order, duplicates kept.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Number of nodes in this tree (for the alias budget).
    fn size(&self) -> usize {
        match &self.kind {
            Kind::Scalar { .. } => 1,
            Kind::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Kind::Map(entries) => 1 + entries.iter().map(|(k, v)| k.size() + v.size()).sum::<usize>(),
        }
    }

    /// Bytes of scalar text and tags in this tree (for the alias budget).
    fn bytes(&self) -> usize {
        let own = self.tag.as_ref().map_or(0, String::len);
        own + match &self.kind {
            Kind::Scalar { text, .. } => text.len(),
            Kind::Seq(items) => items.iter().map(Node::bytes).sum::<usize>(),
            Kind::Map(entries) => entries.iter().map(|(k, v)| k.bytes() + v.bytes()).sum::<usize>(),
        }
    }

    /// The text of a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether this is the plain scalar `<<` (a merge key).
    fn is_merge_key(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, style: Style::Plain } if text == "<<")
    }
}

/// Character index -> byte offset, for the scanner's markers (which count characters).
struct Offsets {
    /// Byte offset of each character, plus one past the end; empty when the text is ASCII.
    table: Vec<u32>,
    len: u32,
}

impl Offsets {
    fn new(text: &str) -> Self {
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        let table = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
                .chain(std::iter::once(len))
                .collect()
        };
        Offsets { table, len }
    }

    fn byte(&self, m: &Marker) -> u32 {
        let index = m.index();
        if self.table.is_empty() {
            u32::try_from(index).unwrap_or(u32::MAX).min(self.len)
        } else {
            self.table.get(index).copied().unwrap_or(self.len)
        }
    }

    fn span(&self, s: &saphyr_parser::Span) -> Span {
        let start = self.byte(&s.start);
        Span::new(start, self.byte(&s.end).max(start))
    }
}

/// A collection being built.
enum Frame {
    Seq {
        items: Vec<Node>,
        start: Span,
        anchor: usize,
        tag: Option<String>,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        start: Span,
        anchor: usize,
        tag: Option<String>,
    },
}

/// The result of reading a file: the root node of its (first) document, if the text parsed.
pub(crate) struct Document {
    /// `None` when the text does not parse or holds no document.
    pub root: Option<Node>,
}

/// Parses `text` into a node tree, reporting syntax errors, extra documents, too-deep nesting and
/// alias bombs into `diags`.
pub(crate) fn parse(text: &str, diags: &mut Diagnostics) -> Document {
    let offsets = Offsets::new(text);
    let mut builder = Builder {
        text,
        offsets: &offsets,
        stack: Vec::new(),
        anchors: Vec::new(),
        alias_nodes: 0,
        alias_bytes: 0,
        root: None,
        documents: 0,
        warnings: Vec::new(),
    };
    for event in Parser::new_from_str(text) {
        let step = match event {
            Ok((event, span)) => builder.event(event, &span),
            Err(error) => Err(scan_error(text, &offsets, &error)),
        };
        if let Err(diagnostic) = step {
            diags.push(diagnostic);
            return Document { root: None };
        }
    }
    for diagnostic in builder.warnings {
        diags.push(diagnostic);
    }
    Document { root: builder.root }
}

struct Builder<'a> {
    text: &'a str,
    offsets: &'a Offsets,
    stack: Vec<Frame>,
    /// Anchored nodes by anchor id (saphyr numbers anchors from 1).
    anchors: Vec<Option<Rc<Node>>>,
    alias_nodes: usize,
    alias_bytes: usize,
    root: Option<Node>,
    documents: usize,
    /// Problems that do not stop the reading (a second document).
    warnings: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: &saphyr_parser::Span) -> Result<(), Diagnostic> {
        let at = self.offsets.span(span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents == 2 {
                    // Not fatal: the first document is still checked.
                    self.warnings.push(
                        Diagnostic::error(
                            codes::YAML_SYNTAX,
                            "a machine file holds one yaml document, this is a second one",
                            at,
                            "second document starts here",
                        )
                        .with_help("put each machine in a file of its own"),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let (style, tag) = match tag.as_deref() {
                    // `!!str 12` is the string "12"; other core tags agree with the text.
                    Some(t) if t.is_yaml_core_schema() && t.suffix == "str" => (Style::SingleQuoted, None),
                    Some(t) if t.is_yaml_core_schema() => (style, None),
                    Some(t) => (style, Some(t.to_string())),
                    None => (style, None),
                };
                // The scanner may count the blanks after a flow scalar as part of it.
                let span = match style {
                    Style::Plain | Style::SingleQuoted | Style::DoubleQuoted => trim_end(self.text, at),
                    Style::Literal | Style::Folded => at,
                };
                let node = Node {
                    kind: Kind::Scalar {
                        text: text.into_owned(),
                        style,
                    },
                    span,
                    tag,
                };
                self.finish(node, anchor)?;
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(id).and_then(Option::as_ref).map(Rc::clone) else {
                    return Err(
                        Diagnostic::error(codes::YAML_SYNTAX, "unknown yaml anchor", at, "no such anchor")
                            .with_help("define the anchor with `&name` before using `*name`"),
                    );
                };
                self.alias_nodes += target.size();
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(Diagnostic::error(
                        codes::YAML_SYNTAX,
                        "aliases expand to too many nodes",
                        at,
                        "expansion limit reached here",
                    )
                    .with_help(format!(
                        "aliases may add at most {MAX_ALIAS_NODES} nodes to a document; nested aliases multiply"
                    )));
                }
                self.alias_bytes += target.bytes();
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(Diagnostic::error(
                        codes::YAML_SYNTAX,
                        "aliases expand to too much text",
                        at,
                        "expansion limit reached here",
                    )
                    .with_help(format!(
                        "aliases may add at most {} MiB of text to a document; each alias copies its anchor",
                        MAX_ALIAS_BYTES >> 20
                    )));
                }
                let mut node = (*target).clone();
                node.span = at;
                self.finish(node, 0)?;
            }
            Event::SequenceStart(anchor, tag) => {
                self.push_frame(at)?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    start: at,
                    anchor,
                    tag: foreign_tag(tag.as_deref()),
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.push_frame(at)?;
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    start: at,
                    anchor,
                    tag: foreign_tag(tag.as_deref()),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (kind, start, anchor, tag, last) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        start,
                        anchor,
                        tag,
                    }) => {
                        let last = items.last().map(|n| n.span);
                        (Kind::Seq(items), start, anchor, tag, last)
                    }
                    Some(Frame::Map {
                        entries,
                        start,
                        anchor,
                        tag,
                        ..
                    }) => {
                        let last = entries.last().map(|(_, v)| v.span);
                        (Kind::Map(merge(entries)?), start, anchor, tag, last)
                    }
                    // The parser balances its events; nothing to close means nothing to do.
                    None => return Ok(()),
                };
                // A flow collection (`[`, `{`) ends at its closing bracket; a block one at its
                // last item (its end event sits at the next token, maybe lines further on).
                let end = if start.is_empty() {
                    last.map_or(start.end, |s| s.end)
                } else {
                    at.end
                };
                let node = Node {
                    kind,
                    span: Span::new(start.start, end.max(start.start)),
                    tag,
                };
                self.finish(node, anchor)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn push_frame(&self, at: Span) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(
                Diagnostic::error(codes::TOO_DEEP, "the document is nested too deeply", at, "too deep")
                    .with_help(format!("collections may be nested at most {MAX_DEPTH} levels deep")),
            );
        }
        Ok(())
    }

    /// Places a finished node into its parent (or as the root) and records its anchor.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor != 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            self.anchors[anchor] = Some(Rc::new(node.clone()));
        }
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
            None => {
                if self.documents <= 1 && self.root.is_none() {
                    self.root = Some(node);
                }
            }
        }
        Ok(())
    }
}

/// `span` without trailing whitespace.
fn trim_end(text: &str, span: Span) -> Span {
    let trimmed = text.get(span.range()).map_or(0, |s| s.len() - s.trim_end().len());
    Span::new(span.start, span.end - u32::try_from(trimmed).unwrap_or(0))
}

/// A tag outside the core schema, spelled as written.
fn foreign_tag(tag: Option<&saphyr_parser::Tag>) -> Option<String> {
    tag.filter(|t| !t.is_yaml_core_schema()).map(ToString::to_string)
}

/// Applies merge keys: the entries of `<<: *map` (or `<<: [*a, *b]`) are added after the
/// mapping's own entries, unless the mapping (or an earlier merged map) has the key already.
fn merge(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, Diagnostic> {
    if !entries.iter().any(|(k, _)| k.is_merge_key()) {
        return Ok(entries);
    }
    let mut own = Vec::with_capacity(entries.len());
    let mut merged = Vec::new();
    for (key, value) in entries {
        if !key.is_merge_key() {
            own.push((key, value));
            continue;
        }
        let sources = match value.kind {
            Kind::Map(_) => vec![value],
            Kind::Seq(items) if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) => items,
            _ => {
                return Err(Diagnostic::error(
                    codes::WRONG_TYPE,
                    "a merge key needs a mapping or a list of mappings",
                    value.span,
                    "not a mapping",
                )
                .with_help("write `<<: *anchor` where the anchor names a mapping"));
            }
        };
        for source in sources {
            if let Kind::Map(source_entries) = source.kind {
                merged.extend(source_entries);
            }
        }
    }
    for (key, value) in merged {
        let present = own
            .iter()
            .any(|(k, _): &(Node, Node)| k.scalar().is_some() && k.scalar() == key.scalar());
        if !present {
            own.push((key, value));
        }
    }
    Ok(own)
}

/// A scan error as a diagnostic pointing at the offending character, with help for the usual
/// mistakes.
fn scan_error(text: &str, offsets: &Offsets, error: &ScanError) -> Diagnostic {
    let at = offsets.byte(error.marker());
    let info = error.info();
    let end_of_text = text.trim_end().len();
    // At the end of the text (an unclosed bracket or quote), point at the last thing written.
    let mut span = if at as usize >= end_of_text && end_of_text > 0 {
        let last = text[..end_of_text].chars().next_back().map_or(1, char::len_utf8);
        let start = u32::try_from(end_of_text - last).unwrap_or(0);
        Span::new(start, u32::try_from(end_of_text).unwrap_or(start))
    } else {
        char_span(text, at)
    };
    let help;
    let label;
    if info.contains("recursion limit") {
        return Diagnostic::error(codes::TOO_DEEP, "the document is nested too deeply", span, "too deep")
            .with_help(format!("collections may be nested at most {MAX_DEPTH} levels deep"));
    }
    if info.contains("tab") {
        span = tab_span(text, at).unwrap_or(span);
        label = "tab character here";
        help = "YAML does not allow tabs for indentation: indent with spaces".to_owned();
    } else if info.contains("quoted scalar") || info.contains("unexpected end of stream") {
        label = "this string";
        help = "close the quoted string with the quote that opened it, and indent its continuation lines".to_owned();
    } else if info.contains("mapping values are not allowed") {
        label = "unexpected `:`";
        help = "quote a value that contains `: `, or check the indentation of this line".to_owned();
    } else if info.contains("did not find expected") || info.contains("indentation") {
        label = "unexpected here";
        help = "check the indentation: the keys of a mapping and the items of a list must line up".to_owned();
    } else if info.contains("expected ',' or ']'") {
        label = "unclosed list";
        help = "close the flow list with `]`".to_owned();
    } else if info.contains("expected ',' or '}'") {
        label = "unclosed mapping";
        help = "close the flow mapping with `}`".to_owned();
    } else if info.contains("anchor") {
        label = "unknown anchor";
        help = "define the anchor with `&name` before using `*name`".to_owned();
    } else {
        label = "here";
        help = "fix the YAML syntax at this point".to_owned();
    }
    Diagnostic::error(codes::YAML_SYNTAX, format!("invalid yaml: {info}"), span, label).with_help(help)
}

/// The character at byte `at` (empty at the end of the text).
fn char_span(text: &str, at: u32) -> Span {
    let len = text
        .get(at as usize..)
        .and_then(|rest| rest.chars().next())
        .map_or(0, |c| c.len_utf8());
    Span::new(at, at + u32::try_from(len).unwrap_or(0))
}

/// The run of tabs the scanner complained about: on the line of `at`, or else in the
/// indentation of the next line (the scanner may stop at the end of the line before).
fn tab_span(text: &str, at: u32) -> Option<Span> {
    let at = (at as usize).min(text.len());
    let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text
        .get(line_start..)?
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let first = match text.get(line_start..line_end)?.find('\t') {
        Some(first) => line_start + first,
        None => {
            let next = text.get(line_end + 1..)?;
            let indentation = next.len() - next.trim_start_matches([' ', '\t']).len();
            line_end + 1 + next.get(..indentation)?.find('\t')?
        }
    };
    let run = text.get(first..)?.bytes().take_while(|&b| b == b'\t').count();
    let start = u32::try_from(first).ok()?;
    Some(Span::new(start, start + u32::try_from(run).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> (Option<Node>, Diagnostics) {
        let mut diags = Diagnostics::new();
        let doc = parse(text, &mut diags);
        (doc.root, diags)
    }

    #[test]
    fn spans_are_bytes() {
        let text = "é: \"ü\"\nb: [x, {k: v}]\n";
        let (root, diags) = tree(text);
        assert!(diags.is_empty());
        let Some(Node {
            kind: Kind::Map(entries),
            ..
        }) = root
        else {
            panic!("not a map")
        };
        assert_eq!(&text[entries[0].0.span.range()], "é");
        assert_eq!(&text[entries[0].1.span.range()], "\"ü\"");
        assert_eq!(&text[entries[1].1.span.range()], "[x, {k: v}]");
    }

    #[test]
    fn block_collections_end_at_their_last_item() {
        let text = "a:\n  - x\n  - y\n\n# comment\nb: 1\n";
        let (
            Some(Node {
                kind: Kind::Map(entries),
                ..
            }),
            _,
        ) = tree(text)
        else {
            panic!("not a map")
        };
        assert_eq!(&text[entries[0].1.span.range()], "- x\n  - y");
    }

    #[test]
    fn merge_keys_and_aliases() {
        let (
            Some(Node {
                kind: Kind::Map(entries),
                ..
            }),
            diags,
        ) = tree("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n")
        else {
            panic!("not a map")
        };
        assert!(diags.is_empty());
        let Kind::Map(m) = &entries[1].1.kind else { panic!() };
        let keys: Vec<_> = m.iter().map(|(k, v)| (k.scalar(), v.scalar())).collect();
        assert_eq!(keys, [(Some("y"), Some("3")), (Some("x"), Some("1"))]);
    }

    #[test]
    fn billion_laughs_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let (root, diags) = tree(&text);
        assert!(root.is_none());
        assert_eq!(diags.iter().next().map(|d| d.code), Some(codes::YAML_SYNTAX));
    }

    /// A 26 KB file whose aliases copy a 2 KB string 6,000 times used to be read into 12 MB
    /// (the node budget counted 6,000 nodes): the copied text is bounded too.
    #[test]
    fn aliases_of_long_strings_are_bounded() {
        let mut text = format!("a: &a \"{}\"\nb: [", "x".repeat(2048));
        text.push_str(&vec!["*a"; 6000].join(", "));
        text.push_str("]\n");
        assert!(text.len() < 30_000);
        let (root, diags) = tree(&text);
        assert!(root.is_none());
        let found: Vec<_> = diags.iter().map(|d| (d.code, d.message.as_str())).collect();
        assert_eq!(found, [(codes::YAML_SYNTAX, "aliases expand to too much text")]);
        // The limit is crossed at alias number 8 MiB / 2 KiB + 1 = 4,097 (each `*a, ` is 4 bytes).
        let at = diags.iter().next().map(|d| d.span().start as usize).unwrap_or(0);
        assert_eq!(&text[at..at + 2], "*a");
        assert_eq!((at - text.find('[').unwrap_or(0) - 1) / 4, 4096);
    }

    #[test]
    fn tabs_point_at_the_tab() {
        let text = "a:\n\tb: 1\n";
        let (_, diags) = tree(text);
        let d = diags.iter().next().expect("a diagnostic");
        assert_eq!(&text[d.span().range()], "\t");
    }

    #[test]
    fn deep_nesting_is_refused() {
        // The scanner refuses 256 open flow collections before the parser sees them; this
        // module refuses anything deeper than MAX_DEPTH.
        for text in ["[".repeat(10_000), format!("{}{}", "[".repeat(100), "]".repeat(100))] {
            let (root, diags) = tree(&text);
            assert!(root.is_none());
            let found: Vec<_> = diags.iter().map(|d| d.code).collect();
            assert_eq!(found, [codes::TOO_DEEP]);
        }
        let text = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let (_, diags) = tree(&text);
        let at = u32::try_from(MAX_DEPTH).unwrap_or(0);
        assert_eq!(diags.iter().next().map(Diagnostic::span), Some(Span::new(at, at + 1)));
    }
}
