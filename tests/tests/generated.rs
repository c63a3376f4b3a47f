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

#[test]
fn generation_is_deterministic() {
    for path in fixtures() {
        let source = fsm_codegen::Source::new("f.yaml", std::fs::read_to_string(&path).unwrap());
        let a = fsm_codegen::compile(&source).unwrap().code;
        let b = fsm_codegen::compile(&source).unwrap().code;
        assert_eq!(a, b, "{}", path.display());
    }
}

#[test]
fn generated_code_has_header_and_no_unsafe() {
    for path in fixtures() {
        let source = fsm_codegen::Source::new("f.yaml", std::fs::read_to_string(&path).unwrap());
        let code = fsm_codegen::compile(&source).unwrap().code;
        assert!(code.starts_with("// This file is @generated"), "{}", path.display());
        assert!(!code.contains("unsafe"), "{}", path.display());
        assert!(
            !code.contains(".unwrap()") && !code.contains("panic!"),
            "{}",
            path.display()
        );
    }
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
