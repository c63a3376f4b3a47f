//! What the proc-macros `fsm!` and `fsm_file!` expand to, here rather than in `fsm-macros` so it
//! can be tested and benchmarked without a compiler (the macro crate is a shim that reads
//! `CARGO_MANIFEST_DIR` and calls these two functions).
//!
//! * [`dsl()`]: `fsm! { machine Order { .. } }` -> parse ([`crate::syntax::dsl`]) -> validate ->
//!   lower -> generate. Mistakes become `syn::Error`s at the exact token, all of them combined.
//! * [`file()`]: `fsm_file!("machines/order.yaml")` -> resolve the path under the crate root ->
//!   read -> the YAML front end -> the same pipeline. Mistakes become one `compile_error!` holding
//!   the rendered report (file, line, column, snippet of the YAML), at the path literal. The
//!   expansion ends with `const _: &[u8] = include_bytes!("<absolute path>");`, so cargo rebuilds
//!   the crate when the file changes, on stable and without a build script.
//!
//! On errors both still emit a skeleton of the machine's types ([`crate::skeleton`]) so that one
//! mistake gives one error rather than a cascade of unresolved names.
//!
//! Warnings (an unreachable state, ...) reach the user on stable Rust through a deprecation
//! warning: a hidden `#[deprecated(note = "<the warning>")]` constant, used once at the token the
//! warning is about (see [`warning`]). `#![deny(warnings)]` turns them into errors, as expected.

use crate::diagnostics::{Diagnostics, Severity, codes};
use crate::syntax::dsl::{self, Locate, TokenSpans};
use crate::{Source, ast};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use std::path::{Component, Path, PathBuf};

/// Expands `fsm! { .. }`. `locate` gives the line and column of a token when the caller can
/// (used in notes such as "first defined here (line 3, column 9)").
pub fn dsl(tokens: TokenStream, locate: Locate<'_>) -> TokenStream {
    let parsed = dsl::parse(tokens);
    let has_errors = parsed.has_errors();
    let Some(machine) = parsed.machine else {
        return errors_only(&parsed.syntax_errors, &parsed.diagnostics, &parsed.spans, locate);
    };
    if has_errors {
        let mut out = errors_only(&parsed.syntax_errors, &parsed.diagnostics, &parsed.spans, locate);
        out.extend(crate::skeleton::skeleton(&machine, &options()));
        return out;
    }
    // A problem with the record type (not found, not `Clone` in copy mode) is reported at the
    // `data:` value's tokens.
    let mut at_data = options();
    at_data.data_span = machine.data.as_ref().map(|d| parsed.spans.resolve(d.span));
    // ... and a problem with an attribute (a derive not in scope) at its tokens.
    at_data.attribute_spans = crate::codegen::UserSpans::Tokens(parsed.spans.clone());
    let (diagnostics, code) = compile_in(&machine, None, &at_data);
    let mut out = TokenStream::new();
    if let Some(e) = dsl::to_syn_error([], &diagnostics, &parsed.spans, locate) {
        out.extend(e.into_compile_error());
    }
    for (i, d) in diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .enumerate()
    {
        out.extend(warning(
            d.code,
            &dsl::message(d, &parsed.spans, locate),
            parsed.spans.resolve(d.span()),
            i,
        ));
    }
    match code {
        Some(code) => out.extend(code),
        None => out.extend(crate::skeleton::skeleton(&machine, &options())),
    }
    out
}

/// Expands `fsm_file!("path")`. `manifest_dir` is `CARGO_MANIFEST_DIR` (`None` when unset).
pub fn file(tokens: TokenStream, manifest_dir: Option<&Path>) -> TokenStream {
    let lit = match syn::parse2::<syn::LitStr>(tokens) {
        Ok(lit) => lit,
        Err(e) => {
            return syn::Error::new(
                e.span(),
                "expected the path of a YAML machine, relative to the crate root: `fsm_file!(\"machines/order.yaml\")`",
            )
            .into_compile_error();
        }
    };
    let at = lit.span();
    let path = match resolve_path(&lit.value(), manifest_dir) {
        Ok(path) => path,
        Err(message) => return syn::Error::new(at, message).into_compile_error(),
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            return syn::Error::new(
                at,
                format!(
                    "{}: cannot read `{}`: {e}\n  = help: the path is relative to the crate root (the directory of Cargo.toml)",
                    codes::IO,
                    lit.value(),
                ),
            )
            .into_compile_error();
        }
    };
    // Tracks the file: cargo rebuilds this crate when it changes. Emitted even on errors, so
    // fixing the YAML is picked up like any edit.
    let track = path.to_str().map(|p| {
        quote_spanned! {at=> const _: &[u8] = ::core::include_bytes!(#p); }
    });
    let (source, (machine, mut diagnostics)) = match crate::span::decode(lit.value(), &bytes) {
        Ok(source) => {
            let parsed = crate::syntax::yaml::parse(&source);
            (source, parsed)
        }
        Err((source, diagnostic)) => {
            let mut diagnostics = Diagnostics::new();
            diagnostics.push(diagnostic);
            (source, (None, diagnostics))
        }
    };
    let mut code = None;
    if let Some(machine) = &machine
        && !diagnostics.has_errors()
    {
        // Problems with the record type are reported at the path literal.
        let mut at_lit = options();
        at_lit.data_span = Some(at);
        at_lit.attribute_spans = crate::codegen::UserSpans::At(at);
        let (more, generated) = compile_in(machine, Some(&source), &at_lit);
        diagnostics.extend(more);
        code = generated;
    }
    diagnostics.settle();
    let mut out = TokenStream::new();
    let mut errors = Diagnostics::new();
    for d in diagnostics.iter() {
        if d.severity == Severity::Error {
            errors.push(d.clone());
        }
    }
    if !errors.is_empty() {
        let report = errors.render(&source);
        let summary = match errors.len() {
            1 => format!("`{}` has a mistake:", lit.value()),
            n => format!("`{}` has {n} mistakes:", lit.value()),
        };
        out.extend(syn::Error::new(at, format!("{summary}\n\n{report}")).into_compile_error());
    }
    for (i, d) in diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .enumerate()
    {
        let mut one = Diagnostics::new();
        one.push(d.clone());
        out.extend(warning(d.code, &one.render(&source), at, i));
    }
    match (code, &machine) {
        (Some(code), _) => out.extend(code),
        (None, Some(machine)) => out.extend(crate::skeleton::skeleton(machine, &options())),
        (None, None) => {}
    }
    out.extend(track);
    out
}

/// The file `path` names, under `manifest_dir`. Refused: absolute paths (they work only on the
/// machine that wrote them), paths whose `..` leave the crate, and a missing `manifest_dir`.
/// The check is on the path as written; symbolic links are followed as the file system does.
pub fn resolve_path(path: &str, manifest_dir: Option<&Path>) -> Result<PathBuf, String> {
    let p = Path::new(path);
    if path.is_empty() {
        return Err("empty path: give the path of a YAML file relative to the crate root".to_owned());
    }
    if p.is_absolute() || p.has_root() || path.starts_with('/') || path.starts_with('\\') {
        return Err(format!(
            "absolute path `{path}` refused: it only works on this machine\n  = help: give a path relative to the crate root (the directory of Cargo.toml), e.g. `fsm_file!(\"machines/order.yaml\")`"
        ));
    }
    let mut depth: usize = 0;
    for component in p.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return Err(format!(
                        "path `{path}` leaves the crate: machines must live inside the crate so that it builds from its own sources\n  = help: move the file under the crate root (the directory of Cargo.toml)"
                    ));
                }
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "absolute path `{path}` refused: give a path relative to the crate root"
                ));
            }
        }
    }
    if depth == 0 {
        return Err(format!("`{path}` is the crate root, not a YAML file"));
    }
    let Some(base) = manifest_dir else {
        return Err("CARGO_MANIFEST_DIR is not set: build with cargo".to_owned());
    };
    let joined = base.join(p);
    // The path may still leave the crate through a symbolic link (`machines -> /elsewhere`): judge
    // where it really leads. A file that does not exist is reported when it is read.
    if let (Ok(real_base), Ok(real)) = (base.canonicalize(), joined.canonicalize())
        && !real.starts_with(&real_base)
    {
        return Err(format!(
            "path `{path}` leaves the crate through a symbolic link (it leads to `{}`): machines must live inside the crate so that it builds from its own sources\n  = help: move the file under the crate root (the directory of Cargo.toml)",
            real.display()
        ));
    }
    Ok(joined)
}

/// Validates a parsed machine and, if it has no errors, generates its code. Returns every
/// diagnostic (errors and warnings) and the code (`None` on errors).
pub fn compile_ast(machine: &ast::Machine) -> (Diagnostics, Option<TokenStream>) {
    compile_in(machine, None, &options())
}

/// [`compile_ast`] through the one pipeline ([`crate::generate`]), with the source text when
/// there is one.
fn compile_in(
    machine: &ast::Machine,
    source: Option<&Source>,
    options: &crate::codegen::Options,
) -> (Diagnostics, Option<TokenStream>) {
    match crate::generate(machine, source, options) {
        Ok(generated) => (generated.warnings, Some(generated.tokens)),
        Err(diagnostics) => (diagnostics, None),
    }
}

/// Where the generated code finds the runtime: the macros are used through the facade crate
/// `fsm`, which re-exports `fsm-runtime` as `fsm::runtime`.
pub const RUNTIME_PATH: &str = "::fsm::runtime";

/// The generator options of the macros: the runtime through the facade.
fn options() -> crate::codegen::Options {
    let mut options = crate::codegen::Options::default();
    // A constant path: it parses.
    let _ = options.runtime_path(RUNTIME_PATH);
    options
}

/// The code of a machine for a crate that uses the facade, or nothing when it has errors (the
/// diagnostics come from [`compile_ast`]).
pub fn generate(machine: &ast::Machine) -> TokenStream {
    compile_ast(machine).1.unwrap_or_default()
}

/// A warning that rustc shows on stable: a `#[deprecated]` constant whose note is the warning,
/// used once at `span`. rustc prints "use of deprecated constant `fsm_unreachable_state`:
/// `<message>`" pointing at `span`.
pub fn warning(code: &str, message: &str, span: Span, index: usize) -> TokenStream {
    let suffix = code.strip_prefix("fsm::").unwrap_or(code);
    let name = if suffix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format_ident!("fsm_{}", suffix)
    } else {
        format_ident!("fsm_warning_{}", index)
    };
    let usage = syn::Ident::new(&name.to_string(), span);
    quote! {
        #[allow(clippy::let_unit_value)]
        const _: () = {
            #[deprecated(note = #message)]
            #[allow(non_upper_case_globals)]
            const #name: () = ();
            let _ = #usage;
        };
    }
}

fn errors_only(
    syntax_errors: &[syn::Error],
    diagnostics: &Diagnostics,
    spans: &TokenSpans,
    locate: Locate<'_>,
) -> TokenStream {
    dsl::to_syn_error(syntax_errors, diagnostics, spans, locate)
        .map_or_else(TokenStream::new, |e| e.into_compile_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_under_the_crate_root_only() {
        let root = Path::new("/crate");
        assert_eq!(
            resolve_path("machines/order.yaml", Some(root)),
            Ok(PathBuf::from("/crate/machines/order.yaml"))
        );
        assert_eq!(
            resolve_path("./machines/../order.yaml", Some(root)),
            Ok(PathBuf::from("/crate/./machines/../order.yaml"))
        );
        let absolute = resolve_path("/etc/order.yaml", Some(root)).unwrap_err();
        assert!(absolute.starts_with("absolute path"), "{absolute}");
        let escaping = resolve_path("machines/../../order.yaml", Some(root)).unwrap_err();
        assert!(escaping.contains("leaves the crate"), "{escaping}");
        assert!(resolve_path("..", Some(root)).is_err());
        assert!(resolve_path("", Some(root)).is_err());
        assert!(resolve_path(".", Some(root)).is_err());
        let no_cargo = resolve_path("order.yaml", None).unwrap_err();
        assert!(no_cargo.contains("CARGO_MANIFEST_DIR"), "{no_cargo}");
    }

    #[cfg(unix)]
    #[test]
    fn paths_that_leave_the_crate_through_a_symlink_are_refused() {
        let tmp = std::env::temp_dir().join(format!("fsm-resolve-{}", std::process::id()));
        let (root, outside) = (tmp.join("crate"), tmp.join("outside"));
        std::fs::create_dir_all(root.join("machines")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("order.yaml"), "name: Order\n").unwrap();
        std::fs::write(root.join("machines/inside.yaml"), "name: Inside\n").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(root.join("machines"), root.join("linked")).unwrap();

        let escaping = resolve_path("elsewhere/order.yaml", Some(&root)).unwrap_err();
        assert!(
            escaping.contains("leaves the crate through a symbolic link"),
            "{escaping}"
        );
        // A link that stays inside the crate is fine, and so is a file that does not exist yet
        // (reading it reports that).
        assert_eq!(
            resolve_path("linked/inside.yaml", Some(&root)),
            Ok(root.join("linked/inside.yaml"))
        );
        assert_eq!(
            resolve_path("machines/missing.yaml", Some(&root)),
            Ok(root.join("machines/missing.yaml"))
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn warnings_are_deprecated_constants_used_at_the_token() {
        let out = warning(
            codes::UNREACHABLE_STATE,
            "state `x` is unreachable",
            Span::call_site(),
            0,
        )
        .to_string();
        assert!(out.contains("deprecated"), "{out}");
        assert!(out.contains("fsm_unreachable_state"), "{out}");
        assert!(out.contains("state `x` is unreachable"), "{out}");
    }

    #[test]
    fn file_errors_are_reported_at_the_literal() {
        let out = file(quote!(machines / order), Some(Path::new("/crate"))).to_string();
        assert!(out.contains("compile_error"), "{out}");
        let out = file(quote!("missing.yaml"), Some(Path::new("/nonexistent-crate"))).to_string();
        assert!(out.contains("fsm::io"), "{out}");
        assert!(
            !out.contains("include_bytes"),
            "an unreadable file is not tracked: {out}"
        );
    }
}
