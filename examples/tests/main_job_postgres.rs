//! The built main job (`streaming`) with PostgreSQL tables as its input, output and dead letters
//! (`postgres://USER@HOST:PORT/DB?table=T`): input rows `(id, record)` with the record as JSON,
//! output rows `(id, record JSONB)`, dead letters in the dead-letter table shape. Killed with
//! SIGKILL mid-run and started again with the same command, it writes every record exactly once
//! (a trigger counts inserts and updates), and the records are those the same job writes from a
//! JSON Lines file.
//!
//! Needs `FSM_TEST_POSTGRES_URL` (skipped, saying so, when it is not set, except under `CI=true`,
//! where a missing URL fails the test). Works in a schema of its own.
#![cfg(unix)]

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

const BIN: &str = env!("CARGO_BIN_EXE_streaming");
const N: usize = 30_000;

fn postgres_url() -> Option<String> {
    let url = std::env::var("FSM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    let Some(url) = url else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but FSM_TEST_POSTGRES_URL is not set: the PostgreSQL tests cannot be skipped in CI"
        );
        println!("skipped: set FSM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run");
        return None;
    };
    Some(url)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls until `ready` holds, then kills the job with SIGKILL. Fails if the job ends first.
fn kill_when(child: &mut Child, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the job ended ({status}) before it could be killed");
        }
        assert!(Instant::now() < deadline, "the job made no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(!child.wait().unwrap().success());
}

/// JSON objects of a JSON Lines file, by their `id`.
fn by_id(values: impl IntoIterator<Item = serde_json::Value>) -> Vec<(u64, serde_json::Value)> {
    let mut all: Vec<(u64, serde_json::Value)> = values.into_iter().map(|v| (v["id"].as_u64().unwrap(), v)).collect();
    all.sort_by_key(|(id, _)| *id);
    all
}

#[test]
fn postgres_in_and_out_killed_then_run_again_each_record_exactly_once() {
    let Some(base) = postgres_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("fsm_main_job_pg_{}", std::process::id());
    let mut admin = Client::connect(&base, NoTls).unwrap();

    // The input: the generated lines (some not JSON at all) as rows `(line number, text)`; the
    // output table made ahead, with a trigger counting inserts and updates.
    let saved = Command::new(BIN)
        .current_dir(dir.path())
        .args(["--quiet", "--generate", &N.to_string(), "--save", "in.jsonl"])
        .output()
        .unwrap();
    assert!(saved.status.success(), "{}", stderr(&saved));
    let text = std::fs::read_to_string(dir.path().join("in.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), N);
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s};
             CREATE TABLE {s}.records (id BIGINT PRIMARY KEY, record TEXT NOT NULL);
             CREATE TABLE {s}.out (id BIGINT PRIMARY KEY, record JSONB NOT NULL);
             CREATE TABLE {s}.writes (kind TEXT PRIMARY KEY, n BIGINT NOT NULL);
             INSERT INTO {s}.writes VALUES ('INSERT', 0), ('UPDATE', 0);
             CREATE FUNCTION {s}.count_write() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN UPDATE {s}.writes SET n = n + 1 WHERE kind = TG_OP; RETURN NULL; END $$;
             CREATE TRIGGER counted AFTER INSERT OR UPDATE ON {s}.out
               FOR EACH ROW EXECUTE FUNCTION {s}.count_write();",
            s = schema
        ))
        .unwrap();
    admin
        .execute(
            &format!(
                "INSERT INTO {schema}.records (id, record)
                 SELECT n, line FROM unnest($1::text[]) WITH ORDINALITY AS t(line, n)"
            ),
            &[&lines],
        )
        .unwrap();

    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let input = format!("{url}&table=records");
    let output = format!("{url}&table=out");
    let errors = format!("{url}&table=errors");
    let args = [
        "--quiet",
        "--input",
        &input,
        "--output",
        &output,
        "--errors",
        &errors,
        "--chunk-size",
        "100",
        "--workers",
        "2",
    ];
    let committed = || -> Option<i64> {
        let mut c = Client::connect(&base, NoTls).ok()?;
        c.query_opt(
            &format!("SELECT read FROM {schema}.fsm_stream_positions WHERE job = 'streaming:out'"),
            &[],
        )
        .ok()
        .flatten()
        .map(|r| r.get(0))
    };
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_when(&mut child, || committed().is_some_and(|n| n > 0));
    let first = committed().unwrap();
    assert!(first < N as i64, "killed mid-run");

    // The same command again: resumes after the last committed chunk.
    let out = Command::new(BIN).current_dir(dir.path()).args(args).output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");

    // The same job from the JSON Lines file, for the records it must have written.
    let files = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "--quiet",
            "--input",
            "in.jsonl",
            "--output",
            "out.jsonl",
            "--errors",
            "err.jsonl",
        ])
        .output()
        .unwrap();
    assert!(files.status.success(), "{}", stderr(&files));
    let read_lines = |name: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let expected = by_id(read_lines("out.jsonl"));
    let dead_expected = read_lines("err.jsonl");
    assert!(
        err.contains(&format!("check: read {N} = written {}", expected.len())),
        "{err}"
    );

    let rows: Vec<(i64, String)> = admin
        .query(&format!("SELECT id, record::text FROM {schema}.out ORDER BY id"), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        rows.iter()
            .all(|(id, record)| record.contains(&format!("\"id\": {id}")))
    );
    let got = by_id(rows.iter().map(|(_, r)| serde_json::from_str(r).unwrap()));
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the records written differ from the file run's");

    // Each written once: no replayed chunk updated a row.
    let writes: Vec<(String, i64)> = admin
        .query(&format!("SELECT kind, n FROM {schema}.writes ORDER BY kind"), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        writes,
        [("INSERT".to_string(), expected.len() as i64), ("UPDATE".to_string(), 0)]
    );
    // The dead letters, in the dead-letter table shape, keyed by the input's id.
    let dead: Vec<(String, i64)> = admin
        .query(
            &format!("SELECT reason, position FROM {schema}.errors ORDER BY position"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(dead.len(), dead_expected.len());
    let mut dead_lines: Vec<(String, i64)> = dead_expected
        .iter()
        .map(|d| (d["reason"].as_str().unwrap().to_string(), d["line"].as_i64().unwrap()))
        .collect();
    dead_lines.sort_by_key(|(_, line)| *line);
    assert_eq!(dead, dead_lines);
    // The source's name in the dead letters carries no password (there is none here) and the table.
    let source: String = admin
        .query_one(&format!("SELECT min(source) FROM {schema}.errors"), &[])
        .unwrap()
        .get(0);
    assert!(source.ends_with("table=records"), "{source}");
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
}
