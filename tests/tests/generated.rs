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
