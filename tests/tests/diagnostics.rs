//! The diagnostics corpus: every file of `machines/invalid/` makes one mistake, names the code it
//! must produce on its first line (`# expect: fsm::unknown_state`), and has its rendered report
//! snapshotted; every file of `machines/valid/` (and the examples' machines) checks cleanly.

use fsm_codegen::{Severity, Source, check};
use std::path::{Path, PathBuf};

fn machines(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("machines").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn source(path: &Path, dir: &str) -> Source {
    let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
    Source::new(name, std::fs::read_to_string(path).unwrap())
}

#[test]
fn invalid_machines_report_their_one_mistake() {
    let files = machines("invalid");
    assert!(files.len() >= 40, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let source = source(path, "invalid");
        let expected = source
            .text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: <code>`", source.name))
            .trim()
            .to_owned();
        let (_, diagnostics) = check(&source);
        let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
        // One mistake, one diagnostic: a second one (even of the same code) is a second mistake
        // in the file, or a mistake reported twice.
        if codes != [expected.as_str()] {
            failures.push(format!(
                "{}: expected exactly one {expected}, got {codes:?}",
                source.name
            ));
        }
        let report = diagnostics.render(&source);
        insta::with_settings!({ snapshot_suffix => path.file_stem().unwrap().to_string_lossy().to_string(), prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!("invalid", report);
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_code_is_covered_by_the_corpus() {
    let mut covered: Vec<String> = Vec::new();
    for path in machines("invalid") {
        let text = std::fs::read_to_string(path).unwrap();
        if let Some(code) = text.lines().next().and_then(|l| l.strip_prefix("# expect: ")) {
            covered.push(code.trim().to_owned());
        }
    }
    // `fsm::io` and `fsm::not_utf8` are the CLI's (unreadable file, bytes that are not UTF-8),
    // tested there; `fsm::dsl_syntax` is `fsm!`'s, in the UI tests (ui/dsl/*.stderr).
    let elsewhere = [
        fsm_codegen::codes::IO,
        fsm_codegen::codes::NOT_UTF8,
        fsm_codegen::codes::DSL_SYNTAX,
    ];
    let missing: Vec<&&str> = fsm_codegen::codes::ALL
        .iter()
        .filter(|c| !elsewhere.contains(*c) && !covered.iter().any(|k| k == **c))
        .collect();
    assert!(missing.is_empty(), "no invalid machine for {missing:?}");
}

#[test]
fn valid_machines_check_cleanly() {
    let mut files = machines("valid");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/machines/streaming_processor.yaml");
    files.push(examples);
    for path in files {
        let source = source(&path, "valid");
        let (machine, diagnostics) = check(&source);
        assert!(
            diagnostics.is_empty(),
            "{}:\n{}",
            source.name,
            diagnostics.render(&source)
        );
        assert!(machine.is_some(), "{}", source.name);
    }
}

#[test]
fn warnings_are_warnings_unless_denied() {
    let text = "name: M\nstates:\n  - { name: a, is_start: true }\n  - { name: lost }\n  - { name: b, is_end: true }\narcs:\n  - { from: a, to: b }\n  - { from: lost, to: b }\n";
    let (_, diagnostics) = check(&Source::new("m.yaml", text));
    assert_eq!(diagnostics.len(), 1);
    assert!(!diagnostics.has_errors());
    assert_eq!(diagnostics.iter().next().unwrap().severity, Severity::Warning);
    let denied = format!("deny_warnings: true\n{text}");
    let (_, diagnostics) = check(&Source::new("m.yaml", denied));
    assert!(diagnostics.has_errors());
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let text = "name: M\nstates:\n  - { name: a, is_start: true, colour: red }\n  - { name: b, is_end: yes }\narcs:\n  - { from: a, to: c }\n  - { from: b, to: a }\n";
    let (_, diagnostics) = check(&Source::new("m.yaml", text));
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            "fsm::unknown_key",
            "fsm::wrong_type",
            "fsm::unknown_state",
            "fsm::end_state_has_arcs"
        ]
    );
}

#[test]
fn committed_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fsm.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == fsm_codegen::schema::schema_json(),
        "fsm.schema.json is stale: run `cargo run -p fsm-cli -- schema > fsm.schema.json`"
    );
}
