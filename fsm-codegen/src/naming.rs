//! The one place that turns names written in a machine into Rust identifiers.
//!
//! Validation uses it to report names that cannot become identifiers or that collide once
//! converted (`my-state` and `my_state` both become `MyState`); the code generator uses it to
//! spell the identifiers it emits. Keeping both on the same functions is what guarantees that a
//! machine which passed validation generates code that compiles.
//!
//! * State, event and network names become types or variants: [`type_ident`] (PascalCase).
//! * Function names become trait methods: [`fn_ident`] (snake_case). A function name must already
//!   be a valid snake_case identifier; validation says so otherwise.
//!
//! ```
//! use fsm_codegen::naming::{fn_ident, is_valid_ident, type_ident};
//! assert_eq!(type_ident("my-state"), "MyState");
//! assert_eq!(type_ident("myState"), "MyState");
//! assert_eq!(fn_ident("isValid"), "is_valid");
//! assert!(!is_valid_ident("Self"));
//! ```

/// Every Rust keyword, strict and reserved, of the 2024 edition (the style of serde_derive's
/// `symbol.rs`: the words as constants, in one place). `_` is included because it is not an
/// identifier either.
pub const KEYWORDS: &[&str] = &[
    "_", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro",
    "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self", "Self", "static", "struct",
    "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while",
    "yield",
];

/// Whether `s` is a Rust keyword (strict or reserved, 2024 edition).
pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// Whether `s` can be used as it is as a Rust identifier: it parses as `syn::Ident` (so keywords,
/// `1st`, `my-state` and `Self` fail), is not a raw identifier (`r#type`), and is not a keyword
/// reserved by the 2024 edition that syn still accepts (`gen`).
pub fn is_valid_ident(s: &str) -> bool {
    if is_keyword(s) {
        return false;
    }
    // ASCII names (nearly all) are decided here; syn decides the rest (Unicode identifiers). The
    // fast path matters: syn lexes through proc-macro2, which keeps every lexed text for spans.
    if s.is_ascii() {
        let mut chars = s.bytes();
        return chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == b'_');
    }
    syn::parse_str::<syn::Ident>(s).is_ok()
}

/// The words of a name: split on every character that is not alphanumeric and between a
/// lowercase letter (or digit) and an uppercase letter (`myState` -> `my`, `State`).
fn words(name: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut prev_lower = false;
    for (i, c) in name.char_indices() {
        if !c.is_alphanumeric() {
            if let Some(s) = start.take() {
                words.push(&name[s..i]);
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            if let Some(s) = start {
                words.push(&name[s..i]);
            }
            start = Some(i);
        } else if start.is_none() {
            start = Some(i);
        }
        prev_lower = c.is_lowercase() || c.is_numeric();
    }
    if let Some(s) = start {
        words.push(&name[s..]);
    }
    words
}

/// The PascalCase identifier of a state, event, network or machine name: split into words (see
/// the module docs) and capitalise the first letter of each; the rest of each word is kept, so
/// `HTTPRequest` stays `HTTPRequest`. `my-state`, `my_state` and `myState` all become `MyState`.
///
/// The result may still be invalid (`1st` gives `1st`, `Self` gives `Self`); check it with
/// [`is_valid_ident`].
pub fn type_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in words(name) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// The snake_case identifier of a function name: split into words (see the module docs),
/// lowercased and joined with `_`. `isValid` and `is-valid` become `is_valid`.
///
/// The result may still be invalid (`match` stays `match`); check it with [`is_valid_ident`].
pub fn fn_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for word in words(name) {
        if !out.is_empty() {
            out.push('_');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_idents() {
        for name in ["my-state", "my_state", "myState", "MyState", "my state", "my__state_"] {
            assert_eq!(type_ident(name), "MyState", "{name}");
        }
        assert_eq!(type_ident("input"), "Input");
        assert_eq!(type_ident("HTTPRequest"), "HTTPRequest");
        assert_eq!(type_ident("state2b"), "State2b");
        assert_eq!(type_ident("v2Ready"), "V2Ready");
        assert_eq!(type_ident("1st"), "1st");
        assert_eq!(type_ident("--"), "");
    }

    #[test]
    fn fn_idents() {
        assert_eq!(fn_ident("is_valid"), "is_valid");
        assert_eq!(fn_ident("isValid"), "is_valid");
        assert_eq!(fn_ident("is-valid"), "is_valid");
        assert_eq!(fn_ident("IsValid"), "is_valid");
        assert_eq!(fn_ident("match"), "match");
    }

    #[test]
    fn valid_idents() {
        for ok in ["Input", "is_valid", "_private", "Café", "gen_x"] {
            assert!(is_valid_ident(ok), "{ok}");
        }
        for bad in [
            "", "1st", "Self", "self", "match", "gen", "_", "my-state", "r#type", "a b",
        ] {
            assert!(!is_valid_ident(bad), "{bad}");
        }
    }
}
