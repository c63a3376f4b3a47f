//! Whatever tokens `fsm!` is given, its front end never panics, and input it cannot accept gets at
//! least one error whose span lies inside the input (so rustc underlines real code). The inputs
//! are token trees built directly (always valid Rust tokens: nothing is thrown away for not
//! tokenizing), and the valid `fsm!` invocations of the repository (examples, benches, README,
//! docs/dsl.md) with a few token edits, as `never_panics.rs` mutates the valid YAML machines.

use fsm_codegen::syntax::dsl;
use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use proptest::prelude::*;
use std::path::Path;

// ------------------------------------------------------------------ the contract

/// Whether `span` lies inside `text`, whose first token has the span `anchor`: in the same
/// source file as it (proc-macro2 joins only spans of one file, and the call site is in none),
/// on a line of it, at a column of that line.
fn inside(anchor: Option<Span>, text: &str, span: Span) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    let at = |lc: proc_macro2::LineColumn| {
        lc.line >= 1 && lc.line <= lines.len() && lc.column <= lines[lc.line - 1].chars().count()
    };
    anchor.is_some_and(|a| a.join(span).is_some()) && at(span.start()) && at(span.end())
}

/// Where an error points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// At tokens of the input.
    Inside,
    /// At the call site: in a real expansion, the whole `fsm! { ... }` invocation.
    CallSite,
    /// Anywhere else: a bug.
    Elsewhere,
}

fn place(anchor: Option<Span>, text: &str, span: Span) -> Place {
    if inside(anchor, text, span) {
        Place::Inside
    } else if Span::call_site().join(span).is_some() {
        Place::CallSite
    } else {
        Place::Elsewhere
    }
}

/// What the front end said about `text`: the expansion's `compile_error!`s and where they point.
struct Verdict {
    errors: Vec<(String, Place)>,
}

impl Verdict {
    fn inside(&self) -> usize {
        self.errors.iter().filter(|(_, p)| *p == Place::Inside).count()
    }
}

/// Runs the parser and the whole expansion on `text` (which must tokenize: it was rendered from
/// tokens) and checks the contract:
/// - every error of the parser and of the expansion points inside the input or, for an input
///   cut short, at the call site (the invocation); never anywhere else;
/// - no machine read means an error; an error of the parser means a `compile_error!`;
/// - whenever there is a `compile_error!` and the input is a whole `... { ... }`, at least one of
///   them points inside it.
fn front_end(text: &str) -> Verdict {
    let tokens: TokenStream = text.parse().unwrap_or_else(|e| panic!("{e}: {text}"));
    let top: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let anchor = top.first().map(TokenTree::span);
    let whole = top.len() >= 3 && matches!(top.last(), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace);
    let parsed = dsl::parse(tokens.clone());
    let mut parser_spans = Vec::new();
    for error in &parsed.syntax_errors {
        parser_spans.extend(error.clone().into_iter().map(|e| (e.to_string(), e.span())));
    }
    for d in parsed
        .diagnostics
        .iter()
        .filter(|d| d.severity == fsm_codegen::Severity::Error)
    {
        for label in &d.labels {
            let (first, last) = parsed.spans.ends(label.span);
            parser_spans.push((format!("{}: {}", d.code, d.message), first));
            parser_spans.push((format!("{}: {}", d.code, d.message), last));
        }
    }
    for (message, span) in &parser_spans {
        let at = place(anchor, text, *span);
        assert!(
            at != Place::Elsewhere,
            "error `{message}` at {:?}, outside the input:\n{text}",
            span.start()
        );
    }
    if parsed.machine.is_none() {
        assert!(parsed.has_errors(), "no machine and no error for:\n{text}");
    }
    // What the user sees: the expansion's `compile_error!`s (validation errors included).
    let expanded = fsm_codegen::expand::dsl(tokens, &|s| Some((s.start().line, s.start().column)));
    let mut compile_errors = Vec::new();
    compile_errors_in(expanded, &mut compile_errors);
    let errors: Vec<(String, Place)> = compile_errors
        .into_iter()
        .map(|(message, span)| {
            let at = place(anchor, text, span);
            assert!(
                at != Place::Elsewhere,
                "compile_error `{message}` at {:?}, outside the input:\n{text}",
                span.start()
            );
            (message, at)
        })
        .collect();
    if parsed.has_errors() {
        assert!(!errors.is_empty(), "errors found but none expanded for:\n{text}");
    }
    let verdict = Verdict { errors };
    if whole && !verdict.errors.is_empty() {
        assert!(
            verdict.inside() > 0,
            "no error points inside:\n{text}\n{:?}",
            verdict.errors
        );
    }
    verdict
}

/// The `compile_error!`s in `tokens`: their message and span.
fn compile_errors_in(tokens: TokenStream, out: &mut Vec<(String, Span)>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tree) in trees.iter().enumerate() {
        if let (TokenTree::Ident(name), Some(TokenTree::Punct(bang)), Some(TokenTree::Group(args))) =
            (tree, trees.get(i + 1), trees.get(i + 2))
            && name == "compile_error"
            && bang.as_char() == '!'
        {
            out.push((args.stream().to_string(), name.span()));
        } else if let TokenTree::Group(group) = tree {
            compile_errors_in(group.stream(), out);
        }
    }
}

// ------------------------------------------------------------------ token trees, built directly

/// Words of the grammar and a few that are not.
const IDENTS: &[&str] = &[
    "machine",
    "network",
    "state",
    "start",
    "end",
    "events",
    "functions",
    "resources",
    "data",
    "data_mode",
    "copy",
    "direct",
    "reference",
    "on",
    "if",
    "priority",
    "do",
    "using",
    "push",
    "return",
    "validate",
    "transform",
    "on_error",
    "retry",
    "timeout_seconds",
    "circuit_breaker",
    "rate_limit",
    "rust",
    "builtin",
    "sqlite",
    "files",
    "metadata",
    "version",
    "main_network",
    "max_transitions",
    "deny_warnings",
    "infallible",
    "atomic",
    "store",
    "u64",
    "String",
    "self",
    "type",
    "true",
    "false",
    "a",
    "b",
    "s",
    "M",
    "Pay",
    "doc",
];
const PUNCTS: &[char] = &[
    ';', ':', ',', '-', '>', '!', '#', '*', '=', '.', '&', '|', '?', '<', '+', '@',
];

/// A token tree to build.
#[derive(Clone, Debug)]
enum Tree {
    Ident(usize),
    Punct(usize),
    Arrow,
    Int(u64),
    Negative(i64),
    Float(f64),
    Str(String),
    Group(u8, Vec<Tree>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        6 => (0..IDENTS.len()).prop_map(Tree::Ident),
        4 => (0..PUNCTS.len()).prop_map(Tree::Punct),
        1 => Just(Tree::Arrow),
        1 => prop_oneof![Just(0u64), Just(1), Just(101), Just(u64::MAX)].prop_map(Tree::Int),
        1 => prop_oneof![Just(-1i64), Just(i64::MIN)].prop_map(Tree::Negative),
        1 => prop_oneof![Just(0.5f64), Just(2.5), Just(1e300)].prop_map(Tree::Float),
        1 => "[a-z_ é]{0,6}".prop_map(Tree::Str),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        (0u8..3, prop::collection::vec(inner, 0..8)).prop_map(|(d, items)| Tree::Group(d, items))
    })
}

fn build(trees: &[Tree], out: &mut TokenStream) {
    let site = Span::call_site();
    for tree in trees {
        match tree {
            Tree::Ident(i) => out.extend([TokenTree::Ident(Ident::new(IDENTS[*i], site))]),
            Tree::Punct(i) => out.extend([TokenTree::Punct(Punct::new(PUNCTS[*i], Spacing::Alone))]),
            Tree::Arrow => out.extend([
                TokenTree::Punct(Punct::new('-', Spacing::Joint)),
                TokenTree::Punct(Punct::new('>', Spacing::Alone)),
            ]),
            Tree::Int(n) => out.extend([TokenTree::Literal(Literal::u64_unsuffixed(*n))]),
            Tree::Negative(n) => out.extend([TokenTree::Literal(Literal::i64_unsuffixed(*n))]),
            Tree::Float(f) => out.extend([TokenTree::Literal(Literal::f64_unsuffixed(*f))]),
            Tree::Str(s) => out.extend([TokenTree::Literal(Literal::string(s))]),
            Tree::Group(d, items) => {
                let mut inner = TokenStream::new();
                build(items, &mut inner);
                let delimiter = [Delimiter::Brace, Delimiter::Parenthesis, Delimiter::Bracket][*d as usize];
                out.extend([TokenTree::Group(Group::new(delimiter, inner))]);
            }
        }
    }
}

// ------------------------------------------------------------------ the valid invocations

/// The `fsm! { ... }` bodies in `tokens`, at any depth.
fn invocations(tokens: TokenStream, out: &mut Vec<TokenStream>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tree) in trees.iter().enumerate() {
        if let (TokenTree::Ident(name), Some(TokenTree::Punct(bang)), Some(TokenTree::Group(body))) =
            (tree, trees.get(i + 1), trees.get(i + 2))
            && name == "fsm"
            && bang.as_char() == '!'
        {
            out.push(body.stream());
        } else if let TokenTree::Group(group) = tree {
            invocations(group.stream(), out);
        }
    }
}

/// Every `fsm!` invocation written in the repository's examples, benches and docs: the text of
/// each body, rendered from its tokens.
fn valid_invocations() -> &'static [(String, String)] {
    static FOUND: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    FOUND.get_or_init(read_valid_invocations)
}

fn read_valid_invocations() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for file in [
        "examples/inline_dsl.rs",
        "benches/benches/resources.rs",
        "tests/benches/stores.rs",
        "README.md",
        "docs/dsl.md",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        // Markdown: its ```rust blocks.
        let blocks: Vec<String> = if file.ends_with(".md") {
            text.split("```rust")
                .skip(1)
                .filter_map(|b| b.split("```").next())
                .map(str::to_owned)
                .collect()
        } else {
            vec![text]
        };
        for block in blocks {
            let Ok(tokens) = block.parse::<TokenStream>() else {
                continue;
            };
            let mut bodies = Vec::new();
            invocations(tokens, &mut bodies);
            for (i, body) in bodies.into_iter().enumerate() {
                found.push((format!("{file} #{i}"), body.to_string()));
            }
        }
    }
    found
}

/// One edit of a token stream at the `at`-th token tree (pre-order, groups included).
#[derive(Clone, Copy, Debug)]
enum Edit {
    Delete,
    Duplicate,
    Replace(usize),
    InsertBefore(usize),
    SwapWithNext,
    /// A group's delimiters changed, or its contents spliced in its place.
    Regroup(u8),
}

fn count(stream: &TokenStream) -> usize {
    stream
        .clone()
        .into_iter()
        .map(|t| match t {
            TokenTree::Group(g) => 1 + count(&g.stream()),
            _ => 1,
        })
        .sum()
}

/// A vocabulary token for edits: an identifier or a punctuation mark of the grammar.
fn vocab_token(i: usize) -> TokenTree {
    if i < IDENTS.len() {
        TokenTree::Ident(Ident::new(IDENTS[i], Span::call_site()))
    } else {
        TokenTree::Punct(Punct::new(PUNCTS[(i - IDENTS.len()) % PUNCTS.len()], Spacing::Alone))
    }
}

fn apply(stream: TokenStream, at: &mut usize, edit: Edit) -> TokenStream {
    let mut trees: Vec<TokenTree> = stream.into_iter().collect();
    let mut i = 0;
    while i < trees.len() {
        if *at == 0 {
            *at = usize::MAX;
            match edit {
                Edit::Delete => {
                    trees.remove(i);
                }
                Edit::Duplicate => trees.insert(i, trees[i].clone()),
                Edit::Replace(v) => trees[i] = vocab_token(v),
                Edit::InsertBefore(v) => trees.insert(i, vocab_token(v)),
                Edit::SwapWithNext if i + 1 < trees.len() => trees.swap(i, i + 1),
                Edit::SwapWithNext => {}
                Edit::Regroup(d) => {
                    if let TokenTree::Group(g) = &trees[i] {
                        if d == 3 {
                            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                            trees.splice(i..=i, inner);
                        } else {
                            let delimiter = [Delimiter::Brace, Delimiter::Parenthesis, Delimiter::Bracket][d as usize];
                            trees[i] = TokenTree::Group(Group::new(delimiter, g.stream()));
                        }
                    }
                }
            }
            return trees.into_iter().collect();
        }
        *at = at.saturating_sub(1);
        if let TokenTree::Group(g) = &trees[i]
            && *at != usize::MAX
        {
            let inner = apply(g.stream(), at, edit);
            let mut group = Group::new(g.delimiter(), inner);
            group.set_span(g.span());
            trees[i] = TokenTree::Group(group);
            if *at == usize::MAX {
                return trees.into_iter().collect();
            }
        }
        i += 1;
    }
    trees.into_iter().collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    let vocab = 0..IDENTS.len() + PUNCTS.len();
    prop_oneof![
        Just(Edit::Delete),
        Just(Edit::Duplicate),
        vocab.clone().prop_map(Edit::Replace),
        vocab.prop_map(Edit::InsertBefore),
        Just(Edit::SwapWithNext),
        (0u8..4).prop_map(Edit::Regroup),
    ]
}

// ------------------------------------------------------------------ the properties

#[test]
fn the_repositorys_invocations_are_valid_and_many() {
    let valid = valid_invocations();
    assert!(valid.len() >= 5, "{} invocations found", valid.len());
    for (name, text) in valid {
        assert!(front_end(text).errors.is_empty(), "{name}");
    }
}

#[test]
fn inputs_cut_short_or_empty_are_errors_at_the_call_site_at_worst() {
    for (text, inside) in [
        ("", false),
        ("machine", false),
        ("machine M", false),
        ("machine M { start state a; }", true),
        ("M { }", true),
        ("machine M {} extra", true),
        ("machine M { network n { start state a; end state b; a -> } }", true),
        // A type cut short: syn says "unexpected end of input" at the call site; the error is
        // moved to the type's last token (found by `edited_valid_invocations`).
        ("machine M { data: super::; start state a; end state b; a -> b; }", true),
    ] {
        let verdict = front_end(text);
        assert!(!verdict.errors.is_empty(), "no error for `{text}`");
        assert_eq!(verdict.inside() > 0, inside, "`{text}`: {:?}", verdict.errors);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Token trees of the grammar's words, bare or inside `machine M { ... }`.
    #[test]
    fn arbitrary_token_trees(trees in prop::collection::vec(tree(), 0..24), wrap in any::<bool>()) {
        let mut body = TokenStream::new();
        build(&trees, &mut body);
        let text = if wrap { format!("machine M {{ {body} }}") } else { body.to_string() };
        front_end(&text);
    }

    /// The valid invocations with one to three token edits.
    #[test]
    fn edited_valid_invocations(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), edit()), 1..4),
    ) {
        let valid = valid_invocations();
        let (_, text) = &valid[which.index(valid.len())];
        let mut tokens: TokenStream = text.parse().unwrap();
        for (at, edit) in edits {
            let mut at = at.index(count(&tokens).max(1));
            tokens = apply(tokens, &mut at, edit);
        }
        front_end(&tokens.to_string());
    }

    /// A token the grammar never has (`@`) inserted anywhere in a valid invocation: always an
    /// error, inside the input.
    #[test]
    fn a_stray_token_in_a_valid_invocation_is_an_error(
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
    ) {
        let valid = valid_invocations();
        let (name, text) = &valid[which.index(valid.len())];
        let tokens: TokenStream = text.parse().unwrap();
        let mut at = at.index(count(&tokens));
        let stray = IDENTS.len() + PUNCTS.iter().position(|c| *c == '@').unwrap();
        let broken = apply(tokens, &mut at, Edit::InsertBefore(stray)).to_string();
        let verdict = front_end(&broken);
        prop_assert!(verdict.inside() > 0, "{name}: no error inside\n{broken}\n{:?}", verdict.errors);
    }
}

#[test]
fn the_call_site_is_not_inside_the_input() {
    let tokens: TokenStream = "machine M { }".parse().unwrap();
    let spans: Vec<Span> = tokens.into_iter().map(|t| t.span()).collect();
    assert!(spans.iter().all(|s| inside(Some(spans[0]), "machine M { }", *s)));
    assert!(!inside(Some(spans[0]), "machine M { }", Span::call_site()));
    // Nor is a token of another text.
    let other: TokenStream = "machine M { }".parse().unwrap();
    let other = other.into_iter().next().unwrap().span();
    assert!(!inside(Some(spans[0]), "machine M { }", other));
}
