//! The built main job (`streaming`) with SQLite tables as its input, output and dead letters
//! (`sqlite://PATH?table=T`): records as `(id, record JSON)` rows, dead letters in the dead-letter
//! table shape, output and dead letters committed together with the input's position.
#![cfg(unix)]

use std::process::{Command, Output};

use fsm_examples::record::Generated;
use rusqlite::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_streaming");
const N: u64 = 3000;

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn count(db: &std::path::Path, sql: &str) -> u64 {
    let n: i64 = Connection::open(db).unwrap().query_row(sql, [], |r| r.get(0)).unwrap();
    n as u64
}

#[test]
fn tables_in_and_out_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, invalid, malformed) = Generated::expected(N);

    // Generated input into a database.
    let out = run(
        dir.path(),
        &[
            "--generate",
            "3000",
            "--output",
            "sqlite://gen.db?table=out",
            "--errors",
            "sqlite://gen.db?table=errors",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let gen_db = dir.path().join("gen.db");
    assert_eq!(count(&gen_db, "SELECT count(*) FROM out"), ok);
    assert_eq!(count(&gen_db, "SELECT count(*) FROM errors"), invalid + malformed);
    // The same command again: the same rows, none twice.
    let out = run(
        dir.path(),
        &[
            "--generate",
            "3000",
            "--output",
            "sqlite://gen.db?table=out",
            "--errors",
            "sqlite://gen.db?table=errors",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count(&gen_db, "SELECT count(*) FROM out"), ok);

    // A table of input records (id, record), one per line of the generated input, from a saved file.
    let out = run(dir.path(), &["--generate", "3000", "--save", "in.jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("in.jsonl")).unwrap();
    let input = Connection::open(dir.path().join("in.db")).unwrap();
    input
        .execute_batch("CREATE TABLE records (id INTEGER PRIMARY KEY, record TEXT NOT NULL)")
        .unwrap();
    for (i, line) in text.lines().enumerate() {
        input
            .execute(
                "INSERT INTO records (id, record) VALUES (?1, ?2)",
                rusqlite::params![i as i64 + 1, line],
            )
            .unwrap();
    }
    let args = [
        "--input",
        "sqlite://in.db?table=records",
        "--output",
        "sqlite://out.db?table=out",
        "--errors",
        "sqlite://out.db?table=errors",
        "--chunk-size",
        "128",
    ];
    let out = run(dir.path(), &args);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "check: read {N} = written {ok} + dead-lettered {}",
            invalid + malformed
        )),
        "{err}"
    );
    let out_db = dir.path().join("out.db");
    assert_eq!(count(&out_db, "SELECT count(*) FROM out"), ok);
    assert_eq!(
        count(&out_db, "SELECT count(*) FROM errors WHERE reason = 'malformed'"),
        malformed
    );
    assert_eq!(
        count(&out_db, "SELECT count(*) FROM errors WHERE reason = 'error_state'"),
        invalid
    );
    // Every output row is the processed record under its own id.
    assert_eq!(
        count(
            &out_db,
            "SELECT count(*) FROM out WHERE json_extract(record, '$.id') = id AND json_extract(record, '$.status') = 'processed'"
        ),
        ok
    );
    // A malformed line is kept as read.
    assert_eq!(
        count(
            &out_db,
            "SELECT count(*) FROM errors WHERE reason = 'malformed' AND payload IS NOT NULL AND source = 'sqlite://in.db?table=records'"
        ),
        malformed
    );
    // The same command again: the position was committed, nothing is read again.
    let out = run(dir.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("read {N} records")), "{}", stderr(&out));
    assert_eq!(count(&out_db, "SELECT count(*) FROM out"), ok);
}

#[test]
fn database_outputs_go_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    for (output, errors) in [
        ("sqlite://a.db?table=out", "errors.jsonl"),
        ("out.jsonl", "sqlite://a.db?table=errors"),
        ("sqlite://a.db?table=out", "sqlite://b.db?table=errors"),
    ] {
        let out = run(
            dir.path(),
            &["--generate", "10", "--output", output, "--errors", errors],
        );
        assert!(!out.status.success());
        assert!(stderr(&out).contains("--output and --errors"), "{}", stderr(&out));
    }
    let out = run(
        dir.path(),
        &[
            "--generate",
            "10",
            "--output",
            "sqlite://a.db",
            "--errors",
            "sqlite://a.db?table=e",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("sqlite://PATH?table=TABLE"), "{}", stderr(&out));
}
