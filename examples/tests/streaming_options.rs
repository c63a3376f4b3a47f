//! The main job (`examples/streaming.rs`) run as a user runs it: options out of range are usage
//! errors that touch no file, and a line over `--max-record-bytes` is a dead letter while the
//! stream goes on (issue 15, items 8 and 9).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example's binary, next to this test's (`<target>/<profile>/examples/streaming`). A full
/// `cargo test`/`nextest` run builds examples; a run filtered to this test builds it here.
fn streaming_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("streaming{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let target = profile_dir.parent().unwrap();
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "-p", "fsm-examples", "--example", "streaming"])
            .env("CARGO_TARGET_DIR", target);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "building the streaming example failed");
    }
    binary
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fsm-streaming-options-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(streaming_binary())
        .current_dir(dir)
        .args(["--output", "out.jsonl", "--errors", "errors.jsonl", "--quiet"])
        .args(args)
        .output()
        .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn options_out_of_range_are_usage_errors_that_touch_no_file() {
    let cases: [(&[&str], &str); 5] = [
        (&["--workers", "18446744073709551615"], "--workers <WORKERS>"),
        (&["--workers", "200000"], "200000 is not in 1..=256"),
        (&["--workers", "0"], "0 is not in 1..=256"),
        (&["--chunk-size", "2000000000"], "2000000000 is not in 1..=1000000"),
        (&["--max-record-bytes", "10"], "10 is not in 1024..=1073741824"),
    ];
    for (i, (args, expected)) in cases.iter().enumerate() {
        let dir = temp_dir(&format!("range-{i}"));
        let mut all = vec!["--generate", "10"];
        all.extend_from_slice(args);
        let output = run_in(&dir, &all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        // Refused before any output is opened: no `.partial` file, nothing.
        assert_eq!(files_in(&dir), Vec::<String>::new(), "{args:?}");
    }
}

#[test]
fn help_documents_the_ranges() {
    let output = Command::new(streaming_binary()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for expected in [
        "(1 to 256)",
        "(1 to 1,000,000)",
        "--max-record-bytes <BYTES>",
        "too_large",
    ] {
        assert!(help.contains(expected), "missing {expected:?} in:\n{help}");
    }
}

#[test]
fn a_line_over_max_record_bytes_is_dead_lettered_and_the_rest_is_processed() {
    let dir = temp_dir("max-record");
    let long = format!(
        "{{\"id\": 2, \"value\": 5, \"category\": \"{}\", \"status\": \"pending\"}}",
        "c".repeat(10 * 1024)
    );
    let input = format!(
        "\u{feff}{{\"id\": 1, \"value\": 5, \"category\": \"cat_1\", \"status\": \"pending\"}}\r\n\
         {long}\r\n\
         [7, 70, \"c\", \"pending\"]\r\
         {{\"id\": 4, \"value\": 3000, \"category\": \"cat_4\", \"status\": \"pending\"}}\n"
    );
    fs::write(dir.join("in.jsonl"), input).unwrap();
    let output = run_in(&dir, &["--input", "in.jsonl", "--max-record-bytes", "1024"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let read = |name: &str| -> Vec<serde_json::Value> {
        fs::read_to_string(dir.join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let out = read("out.jsonl");
    let ids: Vec<u64> = out.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![1, 4]);
    assert_eq!(out[1]["value_tier"], "medium");
    let errors = read("errors.jsonl");
    let reasons: Vec<(&str, u64)> = errors
        .iter()
        .map(|d| (d["reason"].as_str().unwrap(), d["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(reasons, vec![("too_large", 2), ("malformed", 3)]);
    assert_eq!(
        errors[0]["message"],
        format!(
            "the line is {} bytes, more than the maximum record size of 1024 bytes: skipped unread",
            long.len()
        )
    );
    assert_eq!(
        errors[1]["message"],
        "a record must be a JSON object (`{...}`), this line is an array"
    );
    assert_eq!(files_in(&dir), vec!["errors.jsonl", "in.jsonl", "out.jsonl"]);
}

#[test]
fn the_sonic_codec_writes_the_same_bytes_and_dead_letters_as_serde_json() {
    let dir = temp_dir("codec");
    // Generated records (invalid and undecodable ones among them) and hostile lines: invalid
    // UTF-8 inside and outside strings, control characters, lone surrogates, deep nesting,
    // trailing text, numbers out of range, an unknown status.
    let mut input = Vec::new();
    for i in 0..300u64 {
        input.extend_from_slice(
            format!(
                "{{\"id\": {i}, \"value\": {}, \"category\": \"cat_{}\", \"status\": \"pending\"}}\n",
                i * 7,
                i % 5
            )
            .as_bytes(),
        );
        let hostile: &[u8] = match i % 12 {
            0 => b"{\"id\": 1, \"value\": 2, \"category\": \"\xff\"}",
            1 => b"{\"id\": 2, \"value\": 2, \"x\": \"\xc3\x28\"}",
            2 => b"{\"id\": 3, \"value\": 2, \"category\": \"a\x01b\"}",
            3 => br#"{"id": 4, "value": 2, "category": "\ud800"}"#,
            4 => br#"{"id": 5, "value": 2, "category": "\u00e9\"\\\ud83d\ude00 \u2028"}"#,
            5 => br#"{"id": 6, "value": 2} trailing"#,
            6 => br#"{"id": 7, "value": 99999999999}"#,
            7 => br#"{"id": 8, "value": 1e400}"#,
            8 => br#"{"id": 9, "value": 2, "status": "bogus"}"#,
            9 => br#"{"id": 10, "value": 2,}"#,
            10 => b"\x00\x01",
            _ => {
                br#"{"id": 11, "value": 2, "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#
            }
        };
        input.extend_from_slice(hostile);
        input.push(b'\n');
    }
    let mut deep = br#"{"id": 12, "value": 2, "x": "#.to_vec();
    deep.extend(std::iter::repeat_n(b'[', 200));
    deep.extend_from_slice(b"}\n");
    input.extend_from_slice(&deep);
    fs::write(dir.join("in.jsonl"), &input).unwrap();
    let mut outputs = Vec::new();
    for codec in ["serde_json", "sonic"] {
        let output = run_in(&dir, &["--input", "in.jsonl", "--codec", codec, "--chunk-size", "7"]);
        assert!(
            output.status.success(),
            "{codec}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.push((
            fs::read(dir.join("out.jsonl")).unwrap(),
            fs::read(dir.join("errors.jsonl")).unwrap(),
        ));
    }
    let (serde, sonic) = (&outputs[0], &outputs[1]);
    assert_eq!(String::from_utf8_lossy(&sonic.0), String::from_utf8_lossy(&serde.0));
    assert_eq!(String::from_utf8_lossy(&sonic.1), String::from_utf8_lossy(&serde.1));
    let letters = String::from_utf8_lossy(&serde.1);
    assert!(letters.lines().count() > 200, "{letters}");
    assert!(letters.contains("control character"), "{letters}");

    let output = run_in(&dir, &["--input", "in.jsonl", "--codec", "simd"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no JSON codec of this build (codecs: serde_json, sonic)")
    );
}
