//! The generated code of every fixture machine: snapshotted as formatted Rust, and compiled (by
//! tests/build.rs, included in `support::machines`) under `#![deny(warnings)]`.
#![deny(warnings)]

mod support;

use std::path::Path;

fn fixtures() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn generated_code_snapshots() {
    let files = fixtures();
    assert!(files.len() >= 12, "at least 12 fixtures");
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if stem == "big" {
            continue; // 256 states: compiled and tested, too long to review as a snapshot.
        }
        let source = fsm_codegen::Source::new(format!("fixtures/{stem}.yaml"), std::fs::read_to_string(&path).unwrap());
        let compiled = fsm_codegen::compile(&source).unwrap_or_else(|d| panic!("{}", d.render(&source)));
        insta::assert_snapshot!(stem.as_str(), compiled.code);
    }
}

/// What a machine generates is only what the machine can say (the run loop is the runtime's): a
/// budget in lines of the formatted code, what `fsm expand` prints, for two small machines.
#[test]
fn small_machines_generate_little_code() {
    for (stem, budget) in [("unit", 250), ("turnstile", 350)] {
        let path = format!("{}/fixtures/{stem}.yaml", env!("CARGO_MANIFEST_DIR"));
        let source = fsm_codegen::Source::new(stem, std::fs::read_to_string(&path).unwrap());
        let lines = fsm_codegen::compile(&source).unwrap().code.lines().count();
        assert!(
            lines <= budget,
            "{stem} generates {lines} lines, the budget is {budget}"
        );
    }
}

#[test]
fn generation_is_deterministic() {
    for path in fixtures() {
        let source = fsm_codegen::Source::new("f.yaml", std::fs::read_to_string(&path).unwrap());
        let a = fsm_codegen::compile(&source).unwrap().code;
        let b = fsm_codegen::compile(&source).unwrap().code;
        assert_eq!(a, b, "{}", path.display());
    }
}

/// Every machine the repository ships: the fixtures, the valid corpus and the examples'.
fn every_machine() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = fixtures();
    for dir in [root.join("machines/valid"), root.join("../examples/machines")] {
        files.extend(
            std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
        );
    }
    files
}

/// A syntax-tree walk of generated code for what may panic or is unsafe: `unsafe` anywhere (macro
/// arguments included), panicking macros, `unwrap`/`expect` (as methods or paths), `abort`/`exit`,
/// and index expressions (a slice or map index panics when out of range). Rust written inline in
/// the machine file is the user's and is not walked, except for `unsafe`.
mod walker {
    use proc_macro2::{TokenStream, TokenTree};
    use quote::ToTokens;
    use syn::punctuated::Punctuated;
    use syn::visit::{self, Visit};

    /// Macros that panic when reached (`debug_assert*` too: a debug build must not panic either).
    const PANICKING_MACROS: &[&str] = &[
        "panic",
        "unreachable",
        "todo",
        "unimplemented",
        "assert",
        "assert_eq",
        "assert_ne",
        "debug_assert",
        "debug_assert_eq",
        "debug_assert_ne",
    ];
    /// Methods (and paths, `Option::unwrap(x)`) that panic on the value they are given.
    const PANICKING_METHODS: &[&str] = &["unwrap", "expect", "unwrap_err", "expect_err", "unwrap_unchecked"];
    /// Functions that end the process.
    const ENDING_FUNCTIONS: &[&str] = &["abort", "exit"];

    #[derive(Default)]
    pub struct Findings(pub Vec<String>);

    impl Findings {
        fn add(&mut self, what: &str, tokens: &dyn ToTokens) {
            let span = tokens
                .to_token_stream()
                .into_iter()
                .next()
                .map_or(0, |t| t.span().start().line);
            let mut text = tokens.to_token_stream().to_string();
            if text.len() > 80 {
                let mut end = 80;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                text.push_str(" ...");
            }
            self.0.push(format!("line {span}: {what}: `{text}`"));
        }

        /// `unsafe` anywhere in the tokens, macro arguments included.
        fn unsafe_tokens(&mut self, tokens: TokenStream) {
            for token in tokens {
                match token {
                    TokenTree::Ident(ident) if ident == "unsafe" => self.add("unsafe", &ident),
                    TokenTree::Group(group) => self.unsafe_tokens(group.stream()),
                    _ => {}
                }
            }
        }
    }

    impl<'ast> Visit<'ast> for Findings {
        fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
            if PANICKING_METHODS.iter().any(|m| call.method == m) {
                self.add("panicking method", call);
            }
            visit::visit_expr_method_call(self, call);
        }

        fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
            if let Some(last) = path.path.segments.last()
                && path.path.segments.len() > 1
                && (PANICKING_METHODS
                    .iter()
                    .chain(ENDING_FUNCTIONS)
                    .any(|m| last.ident == m))
            {
                self.add("panicking or ending function", path);
            }
            visit::visit_expr_path(self, path);
        }

        fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
            // `__inline_N` wraps the Rust a machine file writes inline (`rust:`): the user's code,
            // copied as written. Its signature is generated, its body is not walked.
            if function.sig.ident.to_string().starts_with("__inline_") {
                self.visit_signature(&function.sig);
                return;
            }
            visit::visit_item_fn(self, function);
        }

        fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
            if function.sig.ident.to_string().starts_with("__inline_") {
                self.visit_signature(&function.sig);
                return;
            }
            visit::visit_impl_item_fn(self, function);
        }

        fn visit_expr_index(&mut self, index: &'ast syn::ExprIndex) {
            self.add("index expression", index);
            visit::visit_expr_index(self, index);
        }

        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            let name = mac
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default();
            if PANICKING_MACROS.contains(&name.as_str()) {
                self.add("panicking macro", mac);
            }
            // Arguments that are expressions (`format!`, `vec!`, `matches!`, ...) are walked too.
            let parser = Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
            if let Ok(args) = syn::parse::Parser::parse2(parser, mac.tokens.clone()) {
                for arg in &args {
                    self.visit_expr(arg);
                }
            }
            visit::visit_macro(self, mac);
        }
    }

    /// What may panic or is unsafe in `code`, one line each.
    pub fn findings(code: &str) -> Result<Vec<String>, syn::Error> {
        let file = syn::parse_file(code)?;
        let mut findings = Findings::default();
        findings.unsafe_tokens(file.to_token_stream());
        findings.visit_file(&file);
        Ok(findings.0)
    }
}

#[test]
fn the_walker_finds_every_kind_of_panic_and_unsafe() {
    let code = r#"
        unsafe impl Send for A {}
        unsafe fn raw() {}
        fn f(v: &[u8], o: Option<u8>, r: Result<u8, ()>) -> u8 {
            let _ = unsafe { raw() };
            let _ = format!("{}", o.expect("there"));
            let _ = Option::unwrap(o);
            debug_assert!(v.len() > 1);
            if v.is_empty() { unreachable!() }
            std::process::abort();
            r.unwrap() + v[0] + v.get(1).copied().unwrap_or(0)
        }
        // A doc comment may say unsafe, unwrap(), v[0] and panic!: words, not code.
    "#;
    let found = walker::findings(code).unwrap();
    let kinds: Vec<&str> = found.iter().map(|f| f.split(": ").nth(1).unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "unsafe",
            "unsafe",
            "unsafe",
            "panicking method",
            "panicking or ending function",
            "panicking macro",
            "panicking macro",
            "panicking or ending function",
            "panicking method",
            "index expression",
        ],
        "{found:#?}"
    );
    assert!(
        found[3].starts_with("line 6: ") && found[3].ends_with("`o . expect (\"there\")`"),
        "{found:#?}"
    );
}

#[test]
fn generated_code_has_its_header_and_nothing_unsafe_or_panicking() {
    let mut failures = Vec::new();
    let files = every_machine();
    assert!(files.len() >= 30, "{} machines", files.len());
    for path in files {
        let source = fsm_codegen::Source::new("f.yaml", std::fs::read_to_string(&path).unwrap());
        let code = fsm_codegen::compile(&source).unwrap().code;
        assert!(code.starts_with("// This file is @generated"), "{}", path.display());
        let found = walker::findings(&code).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for finding in found {
            failures.push(format!("{}: {finding}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn state_enums_of_up_to_256_states_are_one_byte() {
    use support::machines::*;
    assert_eq!(big::BigState::ALL.len(), 256);
    assert_eq!(std::mem::size_of::<big::BigState>(), 1);
    assert_eq!(std::mem::size_of::<Option<flat::FlatState>>(), 1);
    assert_eq!(std::mem::size_of::<turnstile::TurnstileState>(), 1);
    assert_eq!(std::mem::size_of::<turnstile::TurnstileEvent>(), 1);
}

#[test]
fn diagrams_snapshots() {
    for stem in ["flat", "push_arcs", "order", "error_arcs"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/{stem}.yaml"));
        let source = fsm_codegen::Source::new(format!("fixtures/{stem}.yaml"), std::fs::read_to_string(&path).unwrap());
        let ir = fsm_codegen::compile(&source).unwrap().ir;
        use fsm_codegen::codegen::diagram::{Format, render};
        insta::assert_snapshot!(format!("{stem}_mermaid"), render(&ir, Format::Mermaid));
        insta::assert_snapshot!(format!("{stem}_dot"), render(&ir, Format::Dot));
    }
}

/// Whether a tool a test needs is here; when it is not, the test fails under `CI=true` (`.ci/run`
/// installs it) and is skipped elsewhere, saying so.
fn tool_is_here(tool: &str, here: bool) -> bool {
    if !here {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "{tool} is missing and CI is set: .ci/run installs it");
        eprintln!("skipped: {tool} is missing (under CI=true this fails)");
    }
    here
}

/// Every machine shipped, compiled: its path and IR.
fn every_machine_ir() -> Vec<(std::path::PathBuf, fsm_codegen::ir::Machine)> {
    every_machine()
        .into_iter()
        .map(|path| {
            let source = fsm_codegen::Source::new("f.yaml", std::fs::read_to_string(&path).unwrap());
            let ir = fsm_codegen::compile(&source).unwrap().ir;
            (path, ir)
        })
        .collect()
}

fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Runs `dot -Tsvg` on `diagram`: the SVG, or what `dot` said.
fn graphviz_svg(diagram: &str) -> Result<String, String> {
    use std::io::Write;
    let mut dot = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    dot.stdin.take().unwrap().write_all(diagram.as_bytes()).unwrap();
    let out = dot.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // A warning (a syntax ambiguity, an unknown attribute) is a defect of the diagram too.
    if !out.status.success() || !stderr.is_empty() {
        return Err(format!("{}: {stderr}", out.status));
    }
    Ok(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn graphviz_reads_every_dot_diagram_and_draws_every_state() {
    let here = std::process::Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tool_is_here("Graphviz `dot`", here) {
        return;
    }
    // The check itself: a broken diagram is refused.
    assert!(graphviz_svg("digraph M { a -> ; }").is_err());
    let mut failures = Vec::new();
    for (path, ir) in every_machine_ir() {
        let diagram = fsm_codegen::codegen::diagram::render(&ir, fsm_codegen::codegen::diagram::Format::Dot);
        match graphviz_svg(&diagram) {
            Err(e) => failures.push(format!("{}: {e}\n{diagram}", path.display())),
            Ok(svg) => {
                assert!(svg.contains("<svg"), "{}", path.display());
                for state in ir.networks.iter().flat_map(|n| &n.states) {
                    if !svg.contains(&format!(">{}</text>", xml_escaped(&state.name))) {
                        failures.push(format!("{}: state `{}` not drawn", path.display(), state.name));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mermaid_parses_every_mermaid_diagram_and_finds_the_main_networks_states() {
    // Mermaid's own parser (tests/mermaid: `npm ci` there; .ci/run does it).
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("mermaid");
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tool_is_here("node", node)
        || !tool_is_here(
            "tests/mermaid/node_modules",
            checker.join("node_modules/mermaid").is_dir(),
        )
    {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mermaid_diagrams");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let machines = every_machine_ir();
    let mut files = Vec::new();
    for (i, (_, ir)) in machines.iter().enumerate() {
        let file = dir.join(format!("{i}.mmd"));
        std::fs::write(
            &file,
            fsm_codegen::codegen::diagram::render(ir, fsm_codegen::codegen::diagram::Format::Mermaid),
        )
        .unwrap();
        files.push(file);
    }
    // The check itself: a broken diagram is refused.
    let broken = dir.join("broken.mmd");
    std::fs::write(&broken, "stateDiagram-v2\n    a --> --> b\n").unwrap();
    files.push(broken);
    let out = std::process::Command::new("node")
        .arg(checker.join("check.mjs"))
        .args(&files)
        .output()
        .unwrap();
    let report = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines.len(),
        files.len(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lines[machines.len()].starts_with("error "), "{}", lines[machines.len()]);
    let mut failures = Vec::new();
    for ((path, ir), line) in machines.iter().zip(&lines) {
        let words: Vec<&str> = line.split(' ').collect();
        if words.first() != Some(&"ok") || words.get(2) != Some(&"stateDiagram") {
            failures.push(format!("{}: {line}", path.display()));
            continue;
        }
        let ids = &words[3..];
        let main = ir.main_network();
        for state in &main.states {
            let suffix = format!("__{}", state.name);
            if !ids.iter().any(|id| *id == state.name || id.ends_with(&suffix)) {
                failures.push(format!("{}: state `{}` not among {ids:?}", path.display(), state.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_mermaid_diagram_is_in_the_machine_docs_and_a_constant() {
    use support::machines::flat::Flat;
    let mermaid = Flat::<support::Fns>::MERMAID;
    assert!(mermaid.starts_with("stateDiagram-v2\n    [*] --> input\n"));
    let source = fsm_codegen::Source::new(
        "flat.yaml",
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/flat.yaml")).unwrap(),
    );
    let code = fsm_codegen::compile(&source).unwrap().code;
    assert!(code.contains("/// ```mermaid\n/// stateDiagram-v2\n"));
}

// ------------------------------------------------------------------ the build.rs builder

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn config_writes_only_when_changed() {
    let dir = scratch_dir("config_writes");
    let input = dir.join("Order-Flow.yaml");
    std::fs::write(
        &input,
        "name: M\nstates:\n  - { name: a, is_start: true, is_end: true }\n",
    )
    .unwrap();
    let mut config = fsm_codegen::Config::new();
    config.out_dir(dir.join("out")).cargo_metadata(false);
    let first = config.compile([&input]).unwrap();
    assert_eq!(first.len(), 1);
    assert!(first[0].written);
    assert_eq!(first[0].output, dir.join("out/order_flow.rs"));
    assert_eq!(first[0].machine, "M");
    let second = config.compile([&input]).unwrap();
    assert!(!second[0].written, "unchanged output is not rewritten");
    let code = std::fs::read_to_string(&first[0].output).unwrap();
    assert!(code.starts_with(fsm_codegen::emit::HEADER));
}

#[test]
fn config_reports_every_broken_file_with_the_rendered_report() {
    let dir = scratch_dir("config_errors");
    std::fs::write(
        dir.join("a.yaml"),
        "name: A\nstates:\n  - { name: a, is_start: true }\narcs:\n  - { from: a, to: b }\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.yaml"), "name: B\nstates: 3\n").unwrap();
    let mut config = fsm_codegen::Config::new();
    config.out_dir(dir.join("out")).cargo_metadata(false);
    let err = config.compile_glob(&format!("{}/*.yaml", dir.display())).unwrap_err();
    let report = err.to_string();
    assert!(report.contains("a.yaml") && report.contains("b.yaml"), "{report}");
    assert!(report.contains("fsm::unknown_state"), "{report}");
    assert_eq!(
        format!("{err:?}").trim(),
        report.trim(),
        "Debug is the report, for build.rs main"
    );
    assert!(!dir.join("out/a.rs").exists());

    let missing = config
        .compile_glob(&format!("{}/*.nothing", dir.display()))
        .unwrap_err();
    assert!(missing.to_string().contains("no file matches"));
}

#[test]
fn config_can_deny_warnings() {
    let dir = scratch_dir("config_warnings");
    let input = dir.join("w.yaml");
    std::fs::write(
        &input,
        "name: W\nstates:\n  - { name: a, is_start: true }\n  - { name: b, is_end: true }\n  - { name: lost, is_end: true }\narcs:\n  - { from: a, to: b }\n",
    )
    .unwrap();
    let mut config = fsm_codegen::Config::new();
    config.out_dir(dir.join("out")).cargo_metadata(false);
    assert!(config.compile([&input]).is_ok(), "warnings alone generate");
    let err = config.deny_warnings(true).compile([&input]).unwrap_err();
    assert!(err.to_string().contains("fsm::unreachable_state"), "{err}");
}
