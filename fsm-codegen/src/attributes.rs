//! The attributes a machine passes through to its generated enums (`attributes:` in YAML, an
//! `attributes { .. }` block in `fsm!`): how they are read, once, for both the checks
//! (`validate::attributes`) and the generator (`codegen::rust::enums`).
//!
//! The enums already derive what the generated code and the runtime need ([`derives`]); a
//! user's derive of one of those traits is dropped, silently, so `#[derive(Hash, Ord)]` is fine
//! on an enum that has them. A derive of serde's `Serialize` or `Deserialize` replaces the
//! implementation by name that fsm-runtime's `serde` feature gives state and end enums, trait by
//! trait, so the two never conflict.

use crate::ast::AttributeTarget;
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Attribute, Meta, Path, Token};

/// The traits the generated enum of `target` derives (`payloads`: some event carries one). The
/// `Debug` of an event enum with payloads is written by hand (a payload need not be `Debug`),
/// and is in [`provided`], not here.
pub fn derives(target: AttributeTarget, payloads: bool) -> &'static [&'static str] {
    match target {
        AttributeTarget::States | AttributeTarget::Ends => {
            &["Clone", "Copy", "Debug", "PartialEq", "Eq", "Hash", "PartialOrd", "Ord"]
        }
        AttributeTarget::Events if payloads => &[],
        AttributeTarget::Events => &["Clone", "Copy", "Debug", "PartialEq", "Eq", "Hash"],
    }
}

/// The traits the generated enum of `target` implements, derived or by hand: a user's derive of
/// one of them is dropped.
pub fn provided(target: AttributeTarget, payloads: bool, name: &str) -> bool {
    derives(target, payloads).contains(&name) || (target == AttributeTarget::Events && name == "Debug")
}

/// The attributes of `text`: outer attributes only, and nothing else.
///
/// # Errors
///
/// syn's error when `text` is not a sequence of outer attributes.
pub fn parse(text: &str) -> syn::Result<Vec<Attribute>> {
    let tokens: TokenStream = syn::parse_str(text)?;
    parse_tokens(tokens)
}

/// [`parse`] of tokens (which keep their spans).
///
/// # Errors
///
/// syn's error when `tokens` are not a sequence of outer attributes.
pub fn parse_tokens(tokens: TokenStream) -> syn::Result<Vec<Attribute>> {
    syn::parse::Parser::parse2(
        |input: syn::parse::ParseStream<'_>| {
            let attrs = Attribute::parse_outer(input)?;
            if !input.is_empty() {
                return Err(input.error("expected an attribute `#[...]`"));
            }
            Ok(attrs)
        },
        tokens,
    )
}

/// Whether `path` names the standard trait or derive `name`: `Hash`, `core::hash::Hash`,
/// `::std::hash::Hash`. (A path into another crate names another derive.)
pub fn is_std(path: &Path, name: &str) -> bool {
    let Some(last) = path.segments.last() else {
        return false;
    };
    if last.ident != name {
        return false;
    }
    path.segments.len() == 1
        || path
            .segments
            .first()
            .is_some_and(|s| s.ident == "core" || s.ident == "std" || s.ident == "alloc")
}

/// Whether `path` names serde's `trait_name` (`Serialize`, `serde::Serialize`,
/// `::serde::Serialize`, `serde_derive::Serialize`).
fn is_serde(path: &Path, trait_name: &str) -> bool {
    let Some(last) = path.segments.last() else {
        return false;
    };
    last.ident == trait_name
        && (path.segments.len() == 1
            || path
                .segments
                .first()
                .is_some_and(|s| s.ident == "serde" || s.ident == "serde_derive"))
}

/// Whether the arguments of `meta` (of its lists, at every depth) are Rust's meta items: comma
/// separated `name`, `name = value`, `name(..)` or literals, the syntax of the attributes of Rust
/// and of derives (serde's, strum's, ..).
///
/// # Errors
///
/// Where the arguments of a list are something else.
pub fn nested_meta(meta: &Meta) -> syn::Result<()> {
    /// A meta item, or a literal (`None`).
    struct Item(Option<Meta>);
    impl syn::parse::Parse for Item {
        fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
            if input.peek(syn::Lit) {
                input.parse::<syn::Lit>().map(|_| Item(None))
            } else {
                input.parse().map(|m| Item(Some(m)))
            }
        }
    }
    let Meta::List(list) = meta else { return Ok(()) };
    let items = list.parse_args_with(Punctuated::<Item, Token![,]>::parse_terminated)?;
    for Item(m) in &items {
        if let Some(m) = m {
            nested_meta(m)?;
        }
    }
    Ok(())
}

/// The paths of a `derive(..)`, if `meta` is one.
///
/// # Errors
///
/// When the list is not of paths.
pub fn derive_paths(meta: &Meta) -> Option<syn::Result<Punctuated<Path, Token![,]>>> {
    match meta {
        Meta::List(list) if list.path.is_ident("derive") => {
            Some(list.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated))
        }
        _ => None,
    }
}

/// The condition and the attributes of a `cfg_attr(condition, a, b)`, if `meta` is one.
///
/// # Errors
///
/// When it does not parse as such.
pub fn cfg_attr(meta: &Meta) -> Option<syn::Result<(Meta, Vec<Meta>)>> {
    match meta {
        Meta::List(list) if list.path.is_ident("cfg_attr") => Some(
            list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
                .and_then(|metas| {
                    let mut metas = metas.into_iter();
                    let condition = metas
                        .next()
                        .ok_or_else(|| syn::Error::new_spanned(list, "expected `cfg_attr(condition, attribute)`"))?;
                    Ok((condition, metas.collect()))
                }),
        ),
        _ => None,
    }
}

/// Which of serde's traits the user's attributes derive (in a `cfg_attr` too): the runtime's
/// implementation by name is left out for those.
pub fn serde_derived(attrs: &[Attribute]) -> (bool, bool) {
    fn walk(meta: &Meta, found: &mut (bool, bool)) {
        if let Some(Ok(paths)) = derive_paths(meta) {
            found.0 |= paths.iter().any(|p| is_serde(p, "Serialize"));
            found.1 |= paths.iter().any(|p| is_serde(p, "Deserialize"));
        }
        if let Some(Ok((_, metas))) = cfg_attr(meta) {
            for m in &metas {
                walk(m, found);
            }
        }
    }
    let mut found = (false, false);
    for attr in attrs {
        walk(&attr.meta, &mut found);
    }
    found
}

/// `attrs` without the derives of traits the enum has anyway (`provided`), in a `cfg_attr` too;
/// a derive left empty is dropped, and a `cfg_attr` left without attributes.
pub fn without_provided(attrs: Vec<Attribute>, provided: &dyn Fn(&str) -> bool) -> Vec<Attribute> {
    fn keep_std(path: &Path, provided: &dyn Fn(&str) -> bool) -> bool {
        !path
            .segments
            .last()
            .is_some_and(|last| provided(&last.ident.to_string()) && is_std(path, &last.ident.to_string()))
    }
    fn filter(meta: Meta, provided: &dyn Fn(&str) -> bool) -> Option<Meta> {
        if let Some(Ok(paths)) = derive_paths(&meta) {
            let kept: Vec<&Path> = paths.iter().filter(|p| keep_std(p, provided)).collect();
            if kept.len() == paths.len() {
                return Some(meta);
            }
            if kept.is_empty() {
                return None;
            }
            let Meta::List(list) = &meta else { return Some(meta) };
            let path = &list.path;
            return syn::parse2(quote::quote_spanned!(list.delimiter.span().join()=> #path(#(#kept),*))).ok();
        }
        if let Some(Ok((condition, metas))) = cfg_attr(&meta) {
            let before: Vec<String> = metas.iter().map(|m| m.to_token_stream().to_string()).collect();
            let kept: Vec<Meta> = metas.into_iter().filter_map(|m| filter(m, provided)).collect();
            let after: Vec<String> = kept.iter().map(|m| m.to_token_stream().to_string()).collect();
            if after == before {
                return Some(meta);
            }
            if kept.is_empty() {
                return None;
            }
            let Meta::List(list) = &meta else { return Some(meta) };
            let path = &list.path;
            return syn::parse2(quote::quote_spanned!(list.delimiter.span().join()=> #path(#condition, #(#kept),*)))
                .ok();
        }
        Some(meta)
    }
    attrs
        .into_iter()
        .filter_map(|mut attr| {
            attr.meta = filter(attr.meta, provided)?;
            Some(attr)
        })
        .collect()
}

/// Tokens of attributes, for the generator.
pub fn to_tokens(attrs: &[Attribute]) -> TokenStream {
    let mut out = TokenStream::new();
    for attr in attrs {
        attr.to_tokens(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(attrs: &[Attribute]) -> String {
        to_tokens(attrs).to_string()
    }

    #[test]
    fn provided_derives_are_dropped_in_cfg_attr_too() {
        let provided = |name: &str| provided(AttributeTarget::States, false, name);
        let attrs = parse(
            "#[derive(Hash, serde::Serialize, core::cmp::Ord)] #[derive(Debug)] \
             #[cfg_attr(feature = \"x\", derive(Clone, Foo), repr(u8))] #[cfg_attr(any(), derive(Copy))] \
             #[derive(other::Hash)]",
        )
        .unwrap();
        let kept = without_provided(attrs, &provided);
        assert_eq!(
            text(&kept),
            "# [derive (serde :: Serialize)] # [cfg_attr (feature = \"x\" , derive (Foo) , repr (u8))] \
             # [derive (other :: Hash)]"
        );
    }

    #[test]
    fn serde_derives_are_found() {
        let attrs = parse("#[derive(serde::Serialize)] #[cfg_attr(x, derive(Deserialize))]").unwrap();
        assert_eq!(serde_derived(&attrs), (true, true));
        let attrs = parse("#[derive(Hash)] #[serde(rename_all = \"snake_case\")]").unwrap();
        assert_eq!(serde_derived(&attrs), (false, false));
    }

    #[test]
    fn arguments_are_meta_items() {
        let meta = |text: &str| parse(text).unwrap().remove(0).meta;
        for good in [
            "#[serde(rename_all = \"snake_case\", bound(serialize = \"T: X\"))]",
            "#[error(\"{0}\", x)]",
            "#[doc = include_str!(\"a.md\")]",
            "#[non_exhaustive]",
        ] {
            assert!(nested_meta(&meta(good)).is_ok(), "{good}");
        }
        for bad in ["#[serde(@ rename_all = \"x\")]", "#[serde(bound(a + b))]"] {
            assert!(nested_meta(&meta(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_outer_attributes_parse() {
        assert!(parse("#[repr(u8)] #[doc = \"x\"]").is_ok());
        for bad in ["#![allow(x)]", "derive(Hash)", "#[derive(Hash)] pub", "#[", ""] {
            let parsed = parse(bad);
            assert!(parsed.is_err() || parsed.as_ref().is_ok_and(Vec::is_empty), "{bad}");
        }
    }
}
