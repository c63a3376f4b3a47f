//! Tests of the `fsm` command-line tool, run against the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fsm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn machine(dir: &str, name: &str) -> String {
    let path: PathBuf = Path::new("tests/machines").join(dir).join(name);
    path.to_string_lossy().into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn a_valid_machine_exits_0() {
    let output = fsm(&["check", "examples/machines/streaming_processor.yaml"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(stdout(&output), "checked 1 file: 0 errors, 0 warnings\n");
}

#[test]
fn errors_exit_1_with_a_plain_report_when_piped() {
    let output = fsm(&["check", &machine("invalid", "unknown_state_in_arc.yaml")]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(out.contains("fsm::unknown_state"), "{out}");
    assert!(out.contains("help: did you mean `paid`?"), "{out}");
    assert!(!out.contains('\u{1b}'), "no colour when piped: {out:?}");
    assert!(out.ends_with("checked 1 file: 1 error, 0 warnings\n"), "{out}");
}

#[test]
fn warnings_exit_0_unless_denied() {
    let file = machine("invalid", "unreachable_state.yaml");
    assert_eq!(fsm(&["check", &file]).status.code(), Some(0));
    assert_eq!(fsm(&["check", "--deny-warnings", &file]).status.code(), Some(1));
}

#[test]
fn several_files_are_all_reported() {
    let output = fsm(&[
        "check",
        &machine("invalid", "unknown_event.yaml"),
        &machine("valid", "minimal.yaml"),
        &machine("invalid", "no_start_state.yaml"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(
        out.contains("fsm::unknown_event") && out.contains("fsm::no_start_state"),
        "{out}"
    );
    assert!(out.ends_with("checked 3 files: 2 errors, 0 warnings\n"), "{out}");
}

#[test]
fn unreadable_input_exits_2() {
    let output = fsm(&[
        "check",
        "tests/machines/does-not-exist.yaml",
        &machine("valid", "minimal.yaml"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("error[fsm::io]: cannot read `tests/machines/does-not-exist.yaml`"));
}

#[test]
fn json_format_gives_code_severity_position_and_span() {
    let file = machine("invalid", "unknown_state_in_arc.yaml");
    let output = fsm(&["check", "--format", "json", &file]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let items = json.as_array().unwrap();
    assert_eq!(items.len(), 1);
    let d = &items[0];
    assert_eq!(d["code"], "fsm::unknown_state");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["message"], "unknown state `pai`");
    assert_eq!(d["file"], file.as_str());
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(9), Some(22)));
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&file)).unwrap();
    let (start, end) = (d["span"]["start"].as_u64().unwrap(), d["span"]["end"].as_u64().unwrap());
    assert_eq!(&text[start as usize..end as usize], "pai");
    assert_eq!(d["help"], "did you mean `paid`?");
}

#[test]
fn json_format_of_a_clean_file_is_an_empty_list() {
    let output = fsm(&["check", "--format", "json", &machine("valid", "minimal.yaml")]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output).trim(), "[]");
}

#[test]
fn schema_is_the_committed_one() {
    let output = fsm(&["schema"]);
    assert_eq!(output.status.code(), Some(0));
    let committed = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fsm.schema.json")).unwrap();
    assert!(
        stdout(&output) == committed,
        "fsm.schema.json is stale: run `cargo run -- schema > fsm.schema.json`"
    );
}

/// Every machine the repository ships: the test fixtures, the valid corpus and the examples'.
fn all_machines() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["tests/fixtures", "tests/machines/valid", "examples/machines"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn expand_and_graph_print_the_same_bytes_in_two_processes_with_different_environments() {
    // Each process seeds its hash maps afresh; the second also runs from another directory, with
    // another environment (variables added, `HOME` and `LANG` changed) and another argument
    // order. Any output that follows hash order, the clock or the environment differs.
    let elsewhere = Path::new(env!("CARGO_TARGET_TMPDIR")).join("determinism");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let files = all_machines();
    assert!(files.len() >= 30, "{} machines", files.len());
    let run = |args: &[&str], second: bool| -> Vec<u8> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fsm"));
        command.args(args).env("NO_COLOR", "1");
        if second {
            command
                .current_dir(&elsewhere)
                .env("HOME", &elsewhere)
                .env("LANG", "C")
                .env("LC_ALL", "C")
                .env("RUST_BACKTRACE", "full")
                .env("FSM_DETERMINISM_PROBE", "x".repeat(1000));
            for i in 0..50 {
                command.env(format!("FSM_PADDING_{i}"), i.to_string());
            }
        } else {
            command.current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("HOME");
        }
        let output = command.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.stdout.is_empty(), "{args:?}");
        output.stdout
    };
    let mut differ = Vec::new();
    for path in &files {
        let file = path.to_str().unwrap();
        // The same command twice, the second with its arguments in another order.
        for (args, reordered) in [
            (
                vec!["expand", "--runtime", "::fsm::runtime", file],
                vec!["expand", file, "--runtime", "::fsm::runtime"],
            ),
            (
                vec!["graph", "--format", "dot", file],
                vec!["graph", file, "--format", "dot"],
            ),
            (vec!["graph", file], vec!["graph", "--format", "mermaid", file]),
        ] {
            if run(&args, false) != run(&reordered, true) {
                differ.push(format!("{args:?}"));
            }
        }
    }
    assert!(differ.is_empty(), "output differs between processes: {differ:#?}");
}
