//! Tests of the `fsm` command-line tool (package `fsm-cli`), run against the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root: the paths these tests give the tool (`tests/machines/...`,
/// `examples/machines/...`, `fsm.schema.json`) are relative to it, as a user's would be.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn fsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fsm"))
        .args(args)
        .current_dir(ROOT)
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
    let text = std::fs::read_to_string(Path::new(ROOT).join(&file)).unwrap();
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
    let committed = std::fs::read_to_string(Path::new(ROOT).join("fsm.schema.json")).unwrap();
    assert!(
        stdout(&output) == committed,
        "fsm.schema.json is stale: run `cargo run -p fsm-cli -- schema > fsm.schema.json`"
    );
}

#[test]
fn schema_writes_where_it_is_told_through_links_and_devices() {
    use std::os::unix::fs::FileTypeExt;
    let committed = std::fs::read_to_string(Path::new(ROOT).join("fsm.schema.json")).unwrap();
    // A regular file, replaced whole.
    let file = scratch("schema.json", b"old content");
    let output = fsm(&["schema", "--output", &file]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    assert!(std::fs::read_to_string(&file).unwrap() == committed);
    // A symlink: followed, its target written, the link kept.
    let target = scratch("schema-target.json", b"old");
    let link = format!("{target}.link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let output = fsm(&["schema", "-o", &link]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&target).unwrap() == committed);
    // A device, written in place (and not replaced).
    let output = fsm(&["schema", "-o", "/dev/null"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    // A directory that does not exist: exit 2, naming the file.
    let missing = std::env::temp_dir().join(format!("fsm-cli-{}-no-such-dir/schema.json", std::process::id()));
    let output = fsm(&["schema", "-o", &missing.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&*missing.to_string_lossy()),
        "{}",
        stderr(&output)
    );
    for f in [&file, &target, &link] {
        let _ = std::fs::remove_file(f);
    }
}

/// Every machine the repository ships: the test fixtures, the valid corpus and the examples'.
fn all_machines() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
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
            command.current_dir(ROOT).env_remove("HOME");
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

/// A file of the test's own under the system's temp directory.
fn scratch(name: &str, content: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("fsm-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// 3,000 nested brackets or operators in inline Rust, or 1,200 nested generics in `data`,
/// overflowed the stack: `check`, `expand` and `graph` aborted with no message (exit 134).
#[test]
fn deep_inline_rust_is_reported_not_a_crash() {
    let machine = |condition: &str, data: &str| {
        format!(
            "name: M\ndata: \"{data}\"\nstates:\n  - {{name: a, is_start: true}}\n  - {{name: b, is_end: true}}\n\
             arcs:\n  - {{from: a, to: b, condition: {{rust: \"{condition}\"}}}}\n"
        )
    };
    let cases = [
        (
            "parens",
            machine(&format!("{}x{}", "(".repeat(3000), ")".repeat(3000)), "crate::R"),
        ),
        ("nots", machine(&format!("{}x", "!".repeat(3000)), "crate::R")),
        (
            "generics",
            machine(
                "true",
                &format!("crate::R{}u8{}", "<Vec".repeat(1200), ">".repeat(1200)),
            ),
        ),
    ];
    for (name, text) in cases {
        let file = scratch(&format!("deep-{name}.yaml"), text.as_bytes());
        let output = fsm(&["check", "--format", "json", &file]);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", stderr(&output));
        let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        let codes: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["code"].as_str())
            .collect();
        assert_eq!(codes, ["fsm::too_deep"], "{name}");
        for command in ["expand", "graph"] {
            let output = fsm(&[command, &file]);
            assert_eq!(output.status.code(), Some(1), "{command} {name}");
            assert!(
                stderr(&output).contains("fsm::too_deep"),
                "{command} {name}: {}",
                stderr(&output)
            );
        }
        let _ = std::fs::remove_file(file);
    }
}

/// miette panicked (exit 101) rendering an error past column ~65,530.
#[test]
fn an_error_far_along_a_line_is_reported_not_a_panic() {
    let text = format!(
        "{{name: M, states: [{{name: a, is_start: true, is_end: true}}],{} bad: 1}}\n",
        " ".repeat(70_000)
    );
    let file = scratch("long-line.yaml", text.as_bytes());
    let output = fsm(&["check", &file]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    let column = text.find("bad").unwrap() + 1;
    assert!(
        out.starts_with(&format!(
            "error[fsm::unknown_key]: unknown key `bad` in the machine\n  --> {file}:1:{column}\n"
        )),
        "{}",
        &out[..out.len().min(500)]
    );
    assert!(out.contains(" bad: 1}\n"), "the line is shown clipped");
    assert!(
        out.len() < 2_000,
        "the 70,000 blanks are not printed: {} bytes",
        out.len()
    );
    assert!(out.ends_with("checked 1 file: 1 error, 0 warnings\n"));
    let _ = std::fs::remove_file(file);
}

/// 20,000 diagnostics took seconds to render, each report locating itself in the whole text:
/// the human report shows the first 100 and says how many more there are.
#[test]
fn a_report_of_many_diagnostics_is_capped() {
    let mut text = String::from("name: M\nstates:\n  - {name: a, is_start: true}\n  - {name: b, is_end: true}\n");
    for i in 0..300 {
        text.push_str(&format!("  - {{name: s{i}, is_end: true, colour: red}}\n"));
    }
    text.push_str("arcs:\n  - {from: a, to: b}\n");
    let file = scratch("many.yaml", text.as_bytes());
    let json = fsm(&["check", "--format", "json", &file]);
    let all: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let all = all.as_array().unwrap();
    let unknown = all.iter().filter(|d| d["code"] == "fsm::unknown_key").count();
    assert_eq!(unknown, 300, "JSON lists every one");
    let output = fsm(&["check", &file]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    let rendered = out.lines().filter(|l| l.starts_with("fsm::")).count();
    assert_eq!(rendered, 100);
    let more = all.len() - 100;
    assert!(
        out.contains(&format!(
            "{file}: ... and {more} more (the first 100 are shown; `fsm check --format json` lists every one)\n"
        )),
        "{}",
        &out[out.len().saturating_sub(600)..]
    );
    let errors = all.iter().filter(|d| d["severity"] == "error").count();
    assert!(out.ends_with(&format!(
        "checked 1 file: {errors} errors, {} warnings\n",
        all.len() - errors
    )));
    let _ = std::fs::remove_file(file);
}

/// Did-you-mean compared a 1 MB unknown name with every state (minutes): names over 64 bytes
/// get the list of states instead of a suggestion.
#[test]
fn a_long_unknown_name_gets_no_did_you_mean() {
    let state = "a".repeat(100);
    let text = format!(
        "name: M\nstates:\n  - {{name: s, is_start: true}}\n  - {{name: {state}, is_end: true}}\narcs:\n  - {{from: s, to: {state}x}}\n"
    );
    let file = scratch("long-name.yaml", text.as_bytes());
    let output = fsm(&["check", "--format", "json", &file]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let unknown: Vec<&serde_json::Value> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "fsm::unknown_state")
        .collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["help"], format!("the states declared are `s`, `{state}`"));
    let _ = std::fs::remove_file(file);
}

/// A file that is not UTF-8 was an I/O error ("stream did not contain valid UTF-8", exit 2)
/// with no position: it is `fsm::not_utf8` at the first bad byte.
#[test]
fn a_file_that_is_not_utf8_gets_a_diagnostic_with_the_byte() {
    let text = b"name: M\nstates:\n  - {name: caf\xe9, is_start: true, is_end: true}\n";
    let file = scratch("latin1.yaml", text);
    let output = fsm(&["check", "--format", "json", &file]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let d = &json[0];
    assert_eq!(d["code"], "fsm::not_utf8");
    assert_eq!(d["message"], "the file is not UTF-8 text: byte 30 (line 3) is 0xe9");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(3), Some(15)));
    assert_eq!(d["span"]["start"], 30);
    let output = fsm(&["expand", &file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("fsm::not_utf8"), "{}", stderr(&output));
    let _ = std::fs::remove_file(file);
}

/// An 80,000-digit number in inline Rust took seconds per 20,000 digits to parse (quadratic in
/// syn): numbers over 100 characters are refused before parsing.
#[test]
fn a_huge_number_in_inline_rust_is_refused() {
    let text = format!(
        "name: M\nstates:\n  - {{name: a, is_start: true}}\n  - {{name: b, is_end: true}}\narcs:\n  - {{from: a, to: b, condition: {{rust: \"x > {}\"}}}}\n",
        "9".repeat(80_000)
    );
    let file = scratch("huge-number.yaml", text.as_bytes());
    let output = fsm(&["check", "--format", "json", &file]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json[0]["code"], "fsm::rust_syntax");
    assert_eq!(json[0]["message"], "a number literal longer than 100 characters");
    assert_eq!(json[0]["span"]["start"].as_u64(), text.find("99").map(|i| i as u64));
    let _ = std::fs::remove_file(file);
}
