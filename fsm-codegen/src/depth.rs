//! A cheap bound on how deeply a piece of Rust nests, checked before syn parses it.
//!
//! syn parses expressions and types by recursion: every bracket, every prefix operator (`!!!x`),
//! every right-associative operator (`a = b = c`) and every generic argument (`Vec<Vec<..>>`) is a
//! stack frame, and so is every level of the tree when it is printed or dropped later. A few
//! thousand levels overflow the stack and abort the process with no message. So before handing
//! inline Rust (or a type, or the tokens of an `fsm!` invocation) to syn, the compiler scans it
//! once, without recursion, and refuses it with `fsm::too_deep` when the estimate exceeds
//! [`MAX_DEPTH`].
//!
//! The estimate is an upper bound on syn's recursion: the open brackets, weighted by what a level
//! costs syn (`(` and `[` 1, a block `{` 2, the `<` of generics 4), plus, at every open level,
//! the number of tokens since the last `;` or `,` of that level. Real code stays far below it:
//! `data.total > 0 && data.items.len() < 10` scores 14.

use proc_macro2::{Spacing, TokenStream, TokenTree};

/// The deepest nesting accepted (see the module documentation for how it is counted). Chosen so
/// that the deepest accepted code goes through the whole pipeline on a 2 MiB thread (a test
/// thread) in a debug build: syn spends about 20 KiB of stack per nested block there.
pub const MAX_DEPTH: usize = 128;

/// One lexeme of the scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lexeme {
    /// `(` or `[`.
    Open,
    /// `{` (a block: several frames of syn per level).
    OpenBrace,
    /// `)`, `]` or `}`.
    Close,
    /// `<` (a generic argument list or a comparison: both count as a level).
    Angle,
    /// `>` (closes a `<` level, or is an operator).
    CloseAngle,
    /// `;`
    Semi,
    /// `,`
    Comma,
    /// Anything else: a word, a literal, an operator.
    Token,
}

/// The running estimate.
#[derive(Default)]
struct Scan {
    /// Per open level: whether it was opened by `<`, its weight, and the tokens since its last
    /// separator.
    levels: Vec<(bool, usize, usize)>,
    /// Sum of the weights of the open levels.
    weights: usize,
    /// Tokens since the last separator outside any bracket.
    top: usize,
    /// Sum of the token counts of all levels, plus `top`.
    tokens: usize,
}

impl Scan {
    fn depth(&self) -> usize {
        self.weights + self.tokens
    }

    fn push(&mut self, angle: bool, weight: usize) {
        self.levels.push((angle, weight, 0));
        self.weights += weight;
    }

    fn reset_top(&mut self) {
        let count = match self.levels.last_mut() {
            Some((_, _, n)) => n,
            None => &mut self.top,
        };
        self.tokens -= *count;
        *count = 0;
    }

    fn pop(&mut self) {
        if let Some((_, weight, n)) = self.levels.pop() {
            self.tokens -= n;
            self.weights -= weight;
        }
    }

    fn pop_angles(&mut self) {
        while self.levels.last().is_some_and(|(angle, _, _)| *angle) {
            self.pop();
        }
    }

    fn count(&mut self) {
        match self.levels.last_mut() {
            Some((_, _, n)) => *n += 1,
            None => self.top += 1,
        }
        self.tokens += 1;
    }

    /// Feeds one lexeme; returns the depth after it.
    fn feed(&mut self, lexeme: Lexeme) -> usize {
        match lexeme {
            Lexeme::Open => {
                self.count();
                self.push(false, 1);
            }
            Lexeme::OpenBrace => {
                self.count();
                self.push(false, 2);
            }
            Lexeme::Angle => {
                // A generic argument list costs syn the most stack per level.
                self.count();
                self.push(true, 4);
            }
            Lexeme::Close => {
                self.pop_angles();
                self.pop();
            }
            Lexeme::CloseAngle => {
                if self.levels.last().is_some_and(|(angle, _, _)| *angle) {
                    self.pop();
                } else {
                    self.count();
                }
            }
            Lexeme::Semi => {
                self.pop_angles();
                self.reset_top();
            }
            Lexeme::Comma => self.reset_top(),
            Lexeme::Token => self.count(),
        }
        self.depth()
    }
}

/// The byte offset in `text` (Rust source: an inline function or a type) where the nesting
/// estimate first exceeds [`MAX_DEPTH`], or `None` when the text is shallow enough for syn.
pub fn too_deep_text(text: &str) -> Option<usize> {
    let mut scan = Scan::default();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let at = i;
        let b = bytes[i];
        let lexeme = match b {
            b'(' | b'[' => Lexeme::Open,
            b'{' => Lexeme::OpenBrace,
            b')' | b']' | b'}' => Lexeme::Close,
            b';' => Lexeme::Semi,
            b',' => Lexeme::Comma,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(bytes.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'"' => {
                i = skip_string(bytes, i + 1);
                Lexeme::Token
            }
            b'\'' => {
                // A char literal (`'('`, `'\n'`) is skipped whole; a lifetime is a word.
                let rest = &text[i + 1..];
                let skip = match rest.chars().next() {
                    Some('\\') => rest.get(1..).and_then(|r| r.find('\'')).map(|n| n + 2),
                    Some(c) if rest[c.len_utf8()..].starts_with('\'') => Some(c.len_utf8() + 1),
                    _ => None,
                };
                i += skip.unwrap_or(0);
                Lexeme::Token
            }
            b'<' if matches!(bytes.get(i + 1), Some(b'=' | b'<')) => {
                i += 1;
                Lexeme::Token
            }
            b'<' => Lexeme::Angle,
            b'>' if matches!(bytes.get(i + 1), Some(b'=')) => {
                i += 1;
                Lexeme::Token
            }
            b'-' | b'=' if bytes.get(i + 1) == Some(&b'>') => {
                i += 1;
                Lexeme::Token
            }
            b'>' => Lexeme::CloseAngle,
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 => {
                // A word or a number (a raw string `r#"..."#` is skipped as a word then a string).
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80) {
                    i += 1;
                }
                if scan.feed(Lexeme::Token) > MAX_DEPTH {
                    return Some(at);
                }
                continue;
            }
            _ => Lexeme::Token,
        };
        i += 1;
        if scan.feed(lexeme) > MAX_DEPTH {
            return Some(at);
        }
    }
    None
}

/// Index just past the closing quote of a string whose content starts at `i`.
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    bytes.len().saturating_sub(1)
}

/// The span of the token where the nesting estimate of `tokens` first exceeds [`MAX_DEPTH`], or
/// `None` when the tokens are shallow enough. Walks the tokens without recursion.
pub fn too_deep_tokens(tokens: &TokenStream) -> Option<proc_macro2::Span> {
    let mut scan = Scan::default();
    // Iterators of the groups being walked, innermost last.
    let mut stack: Vec<proc_macro2::token_stream::IntoIter> = vec![tokens.clone().into_iter()];
    let mut previous_joint: Option<char> = None;
    while let Some(iter) = stack.last_mut() {
        let Some(tree) = iter.next() else {
            stack.pop();
            if !stack.is_empty() {
                scan.feed(Lexeme::Close);
            }
            previous_joint = None;
            continue;
        };
        let span = tree.span();
        let lexeme = match &tree {
            TokenTree::Group(g) => {
                previous_joint = None;
                // Every group opens a level (its close is fed when its tokens run out); an
                // invisible (`Delimiter::None`) group nests in syn all the same.
                stack.push(g.stream().into_iter());
                if g.delimiter() == proc_macro2::Delimiter::Brace {
                    Lexeme::OpenBrace
                } else {
                    Lexeme::Open
                }
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                let joined_to_previous = previous_joint.take();
                if p.spacing() == Spacing::Joint {
                    previous_joint = Some(c);
                }
                match (joined_to_previous, c) {
                    (Some('-' | '='), '>') | (Some('<' | '>'), '=') | (Some('<'), '<') => Lexeme::Token,
                    (_, ';') => Lexeme::Semi,
                    (_, ',') => Lexeme::Comma,
                    (_, '<') if p.spacing() == Spacing::Joint => Lexeme::Token,
                    (_, '<') => Lexeme::Angle,
                    (_, '>') => Lexeme::CloseAngle,
                    _ => Lexeme::Token,
                }
            }
            _ => {
                previous_joint = None;
                Lexeme::Token
            }
        };
        if scan.feed(lexeme) > MAX_DEPTH {
            return Some(span);
        }
    }
    None
}

/// The longest number literal accepted, in bytes: syn reads a number literal in time quadratic
/// in its length (80,000 digits took 11 s), and no Rust number needs more.
pub const MAX_NUMBER_LEN: usize = 100;

/// The byte offset of the first number literal longer than [`MAX_NUMBER_LEN`] in `text` (Rust
/// source), if any. Digits inside strings and comments are not numbers; the scan is rough but
/// errs only towards numbers (a word that starts with a digit).
pub fn long_number_text(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' {
            i = skip_string(bytes, i + 1) + 1;
        } else if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80) {
                i += 1;
            }
            if b.is_ascii_digit() && i - start > MAX_NUMBER_LEN {
                return Some(start);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The span of the first number literal token longer than [`MAX_NUMBER_LEN`] in `tokens`.
pub fn long_number_tokens(tokens: &TokenStream) -> Option<proc_macro2::Span> {
    let mut stack: Vec<proc_macro2::token_stream::IntoIter> = vec![tokens.clone().into_iter()];
    while let Some(iter) = stack.last_mut() {
        match iter.next() {
            None => {
                stack.pop();
            }
            Some(TokenTree::Group(g)) => stack.push(g.stream().into_iter()),
            Some(TokenTree::Literal(l)) => {
                let text = l.to_string();
                if text.starts_with(|c: char| c.is_ascii_digit()) && text.len() > MAX_NUMBER_LEN {
                    return Some(l.span());
                }
            }
            Some(_) => {}
        }
    }
    None
}

/// The `fsm::rust_syntax` diagnostic of a number literal over [`MAX_NUMBER_LEN`] bytes.
pub fn long_number_diagnostic(span: crate::Span) -> crate::Diagnostic {
    crate::Diagnostic::error(
        crate::codes::RUST_SYNTAX,
        format!("a number literal longer than {MAX_NUMBER_LEN} characters"),
        span,
        "this number",
    )
    .with_help("no Rust number needs that many digits; read a long value from the record or a file instead")
}

/// The `fsm::too_deep` diagnostic of `fsm!` tokens that nest too deeply, at `span`.
pub fn too_deep_tokens_diagnostic(span: crate::Span) -> crate::Diagnostic {
    crate::Diagnostic::error(
        crate::codes::TOO_DEEP,
        "the tokens of `fsm!` nest too deeply to be read",
        span,
        "too deep from here",
    )
    .with_help(format!(
        "brackets, generic arguments and operators of one expression may nest at most {MAX_DEPTH} \
         levels (statements and list items count apart); split inline Rust into a named function"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_code_is_shallow() {
        for code in [
            "data.total > 0 && data.items.len() < 10",
            "let x: Vec<Vec<u8>> = vec![vec![1, 2], vec![3]]; data.total = x.len() as u64;",
            "HashMap<String, Vec<Option<(u32, &'static str)>>>",
            "match data.kind { Kind::A => 1, Kind::B => 2, _ => 3 }",
            "if a >= b { c -> d } // ((((((",
            "let c = '('; let d = '\\''; let e: &'a str = \"(((\"; [c]",
        ] {
            assert_eq!(too_deep_text(code), None, "{code}");
        }
    }

    #[test]
    fn deep_text_is_found_where_it_gets_too_deep() {
        let parens = format!("{}1{}", "(".repeat(3000), ")".repeat(3000));
        assert_eq!(too_deep_text(&parens), Some(MAX_DEPTH / 2));
        let blocks = format!("{}1{}", "{".repeat(3000), "}".repeat(3000));
        assert_eq!(too_deep_text(&blocks), Some(MAX_DEPTH / 3));
        let nots = format!("{}x", "!".repeat(3000));
        assert_eq!(too_deep_text(&nots), Some(MAX_DEPTH));
        let generics = format!("{}u8{}", "Vec<".repeat(1200), ">".repeat(1200));
        assert!(too_deep_text(&generics).is_some());
        let sum = vec!["1"; 3000].join("+");
        assert!(too_deep_text(&sum).is_some());
        // Long but flat: statements and list items reset the count.
        let flat = "data.x += 1;".repeat(3000);
        assert_eq!(too_deep_text(&flat), None);
        let list = format!("[{}]", vec!["1"; 3000].join(", "));
        assert_eq!(too_deep_text(&list), None);
    }

    #[test]
    fn long_numbers_are_found() {
        let long = "9".repeat(MAX_NUMBER_LEN + 1);
        assert_eq!(long_number_text(&format!("x > {long}")), Some(4));
        assert_eq!(long_number_text(&format!("x > {}", &long[1..])), None);
        assert_eq!(long_number_text(&format!("s == \"{long}\" // x")), None);
        assert_eq!(long_number_text(&format!("{} > 0", "a".repeat(500))), None);
        let tokens: TokenStream = format!("a -> b if rust!(x > {long});").parse().expect("tokens");
        assert!(long_number_tokens(&tokens).is_some());
        let tokens: TokenStream = format!("a -> b if rust!(x > {});", &long[1..]).parse().expect("tokens");
        assert!(long_number_tokens(&tokens).is_none());
    }

    #[test]
    fn deep_tokens_are_found() {
        let parens: TokenStream = format!("{}1{}", "(".repeat(3000), ")".repeat(3000))
            .parse()
            .expect("tokens");
        assert!(too_deep_tokens(&parens).is_some());
        let flat: TokenStream = "data.x += 1;".repeat(3000).parse().expect("tokens");
        assert!(too_deep_tokens(&flat).is_none());
        let generics: TokenStream = format!("{}u8{}", "Vec<".repeat(1200), ">".repeat(1200))
            .parse()
            .expect("tokens");
        assert!(too_deep_tokens(&generics).is_some());
    }
}

#[cfg(test)]
mod limit_tests {
    use crate::{Source, codes, compile};

    fn machine(condition: &str, data: &str) -> String {
        format!(
            "name: M\ndata: \"{data}\"\nstates:\n  - {{name: a, is_start: true}}\n  - {{name: b, is_end: true}}\n\
             arcs:\n  - {{from: a, to: b, condition: {{rust: \"{condition}\"}}}}\n"
        )
    }

    type Shape = fn(usize) -> (String, String);

    /// Shapes of deep code, as (condition, record type) for a nesting of `k`.
    const SHAPES: &[Shape] = &[
        |k| (format!("{}true{}", "(".repeat(k), ")".repeat(k)), "crate::R".into()),
        |k| (format!("{}true", "!".repeat(k)), "crate::R".into()),
        |k| (vec!["true"; k].join(" && "), "crate::R".into()),
        |k| (format!("{}true{}", "{".repeat(k), "}".repeat(k)), "crate::R".into()),
        |k| (format!("{}0{}", "-(".repeat(k), ")".repeat(k)), "crate::R".into()),
        |k| {
            (
                "true".into(),
                format!("crate::R{}u8{}", "<Vec".repeat(k), ">".repeat(k)),
            )
        },
    ];

    /// The limit keeps the whole pipeline (parse, validate, lower, generate, format) within a
    /// test thread's 2 MiB stack in a debug build, and one more level is refused with the code.
    #[test]
    fn the_deepest_accepted_code_compiles_on_a_test_thread() {
        for shape in SHAPES {
            let deepest = (1..1000)
                .take_while(|&k| {
                    super::too_deep_text(&shape(k).0).is_none() && super::too_deep_text(&shape(k).1).is_none()
                })
                .last()
                .unwrap_or(0);
            assert!(deepest >= 20, "{:?} accepted only {deepest} levels", shape(1));
            let (condition, data) = shape(deepest);
            let result = compile(&Source::new("m.yaml", machine(&condition, &data)));
            let found: Vec<_> = result
                .as_ref()
                .err()
                .map(|d| d.iter().map(|d| d.code).collect())
                .unwrap_or_default();
            assert!(!found.contains(&codes::TOO_DEEP), "{condition} {data}: {found:?}");
            let (condition, data) = shape(deepest + 1);
            let Err(diagnostics) = compile(&Source::new("m.yaml", machine(&condition, &data))) else {
                panic!("accepted: {condition} {data}");
            };
            assert!(diagnostics.iter().any(|d| d.code == codes::TOO_DEEP), "{diagnostics:?}");
        }
    }

    /// `fsm_file!` (and build.rs, through the same check) aborted on deep inline Rust.
    #[test]
    fn fsm_file_reports_deep_rust_as_a_compile_error() {
        let dir = std::env::temp_dir().join(format!("fsm-depth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let condition = format!("{}x{}", "(".repeat(3000), ")".repeat(3000));
        std::fs::write(dir.join("deep.yaml"), machine(&condition, "crate::R")).expect("write");
        let out = crate::expand::file(quote::quote!("deep.yaml"), Some(&dir)).to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("fsm::too_deep"), "{out}");
    }
}
