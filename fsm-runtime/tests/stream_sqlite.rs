//! SQLite to SQLite: a table streamed in key order through a machine into upserting table sinks
//! and a dead-letter table, one transaction per chunk with the source's position, so a run
//! stopped anywhere and started again writes every row exactly once.
#![cfg(feature = "sqlite")]

mod stream_support;

use std::io;
use std::path::{Path, PathBuf};

use fsm_runtime::stream::{Pipeline, Sink, SqliteSource, SqliteTarget, StreamError, Summary, WriteError};
use rusqlite::Connection;
use stream_support::{Classify, Rec, temp_dir};

const ROWS: i64 = 5000;

/// Row `id` (from 1): value `oops` (malformed) when id % 50 == 17, -1 (the `error` end state)
/// when id % 50 == 23, 7 (dropped) when id % 50 == 31, else id % 500 + 20 (written, doubled).
fn make_source(path: &Path) {
    let db = Connection::open(path).unwrap();
    db.execute_batch("CREATE TABLE src (id INTEGER PRIMARY KEY, value, tag TEXT)")
        .unwrap();
    let tx = db.unchecked_transaction().unwrap();
    for id in 1..=ROWS {
        let value: rusqlite::types::Value = match id % 50 {
            17 => "oops".to_string().into(),
            23 => (-1i64).into(),
            31 => 7i64.into(),
            _ => (id % 500 + 20).into(),
        };
        tx.execute(
            "INSERT INTO src (id, value, tag) VALUES (?1, ?2, '')",
            rusqlite::params![id, value],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn expected_written() -> Vec<(i64, i64)> {
    (1..=ROWS)
        .filter(|id| ![17, 23, 31].contains(&(id % 50)))
        .map(|id| (id, (id % 500 + 20) * 2))
        .collect()
}

struct Dbs {
    source: PathBuf,
    sink: PathBuf,
}

fn dbs(name: &str) -> Dbs {
    let dir = temp_dir(name);
    let d = Dbs {
        source: dir.join("source.db"),
        sink: dir.join("sink.db"),
    };
    make_source(&d.source);
    Connection::open(&d.sink)
        .unwrap()
        .execute_batch(
            "CREATE TABLE out (id INTEGER PRIMARY KEY, value INTEGER NOT NULL CHECK (value <> 1018), tag TEXT)",
        )
        .unwrap();
    d
}

/// A sink that fails (an I/O error, as a lost disk) after `fail_after` writes: the run stops
/// there, in the middle of a chunk.
struct Crashing<S> {
    inner: S,
    fail_after: u64,
}

impl<T, S: Sink<T>> Sink<T> for Crashing<S> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        if self.fail_after == 0 {
            return Err(WriteError::Io(io::Error::other("power cut")));
        }
        self.fail_after -= 1;
        self.inner.write(record)
    }
}

fn run(d: &Dbs, crash_after: Option<u64>, workers: usize) -> Result<Summary, StreamError> {
    let target = SqliteTarget::open(&d.sink, "test-job").unwrap();
    let out = Crashing {
        inner: target.table::<Rec>("out", "id", &["id", "value", "tag"]).unwrap(),
        fail_after: crash_after.unwrap_or(u64::MAX),
    };
    Pipeline::new(Classify::default())
        .route("output", out)
        .drop_state("skip")
        .dead_letter_state("error")
        .dead_letter(target.dead_letters::<Rec>("rejected").unwrap())
        .chunk_size(300)
        .workers(workers)
        .commit_chunks(target.clone())
        .run(
            SqliteSource::<Rec>::table(&d.source, "src", "id")
                .unwrap()
                .page_rows(128)
                .name("src"),
        )
}

fn out_rows(sink: &Path) -> Vec<(i64, i64)> {
    let db = Connection::open(sink).unwrap();
    let mut stmt = db.prepare("SELECT id, value FROM out ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn dead_rows(sink: &Path) -> Vec<(String, i64, String)> {
    let db = Connection::open(sink).unwrap();
    let mut stmt = db
        .prepare("SELECT source, position, reason FROM rejected ORDER BY position")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn expected_dead() -> Vec<(String, i64, String)> {
    (1..=ROWS)
        .filter_map(|id| match id % 50 {
            17 => Some((String::from("src"), id, String::from("malformed"))),
            23 => Some((String::from("src"), id, String::from("error_state"))),
            // value (id % 500 + 20) * 2 == 1018: refused by the table's CHECK, dead-lettered.
            _ if (id % 500 + 20) * 2 == 1018 => Some((String::from("src"), id, String::from("rejected"))),
            _ => None,
        })
        .collect()
}

fn expected_out() -> Vec<(i64, i64)> {
    expected_written().into_iter().filter(|(_, v)| *v != 1018).collect()
}

#[test]
fn a_table_lands_in_the_sink_with_its_dead_letters() {
    let d = dbs("sqlite-plain");
    let summary = run(&d, None, 2).unwrap();
    assert!(summary.is_balanced(), "{summary:?}");
    assert_eq!(summary.read, ROWS as u64);
    assert_eq!(out_rows(&d.sink), expected_out());
    assert_eq!(dead_rows(&d.sink), expected_dead());
    assert_eq!(summary.written_total() as usize, expected_out().len());
    assert_eq!(summary.dead_lettered_total() as usize, expected_dead().len());
    assert_eq!(summary.dropped, (1..=ROWS).filter(|id| id % 50 == 31).count() as u64);
    // The malformed row's payload is the row as read.
    let db = Connection::open(&d.sink).unwrap();
    let payload: String = db
        .query_row("SELECT payload FROM rejected WHERE position = 17", [], |r| r.get(0))
        .unwrap();
    assert_eq!(payload, r#"{"id":17,"tag":"","value":"oops"}"#);

    // Run again: the position was kept, nothing is read or written twice.
    let again = run(&d, None, 1).unwrap();
    assert_eq!(again.read_this_run, 0);
    assert_eq!(again.read, ROWS as u64);
    assert_eq!(again.written_total(), summary.written_total());
    assert_eq!(out_rows(&d.sink), expected_out());
}

#[test]
fn resuming_after_interrupted_runs_writes_every_row_exactly_once() {
    let d = dbs("sqlite-resume");
    // Interrupted three times in the middle of chunks, then run to the end.
    for crash_after in [450, 1, 1700] {
        let err = run(&d, Some(crash_after), 2).unwrap_err();
        assert!(matches!(err, StreamError::Sink { .. }), "{err}");
        assert!(err.to_string().contains("power cut"), "{err}");
    }
    let summary = run(&d, None, 3).unwrap();
    assert!(summary.is_balanced(), "{summary:?}");
    assert_eq!(summary.read, ROWS as u64);
    assert!(summary.read_this_run < ROWS as u64);
    assert_eq!(out_rows(&d.sink), expected_out());
    assert_eq!(dead_rows(&d.sink), expected_dead());
    assert_eq!(summary.written_total() as usize, expected_out().len());
    assert_eq!(summary.dead_lettered_total() as usize, expected_dead().len());
}

#[test]
fn a_sink_failure_rolls_its_whole_chunk_back_and_the_run_reports_it() {
    let d = dbs("sqlite-rollback");
    // Row 1000 is the 4th chunk's (chunks of 300 rows: 901..=1200); the trigger rolls back the
    // whole transaction, as a full disk would.
    Connection::open(&d.sink)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON out WHEN NEW.id = 1000
             BEGIN SELECT RAISE(ROLLBACK, 'the disk is full'); END",
        )
        .unwrap();
    let err = run(&d, None, 2).unwrap_err();
    assert!(matches!(err, StreamError::Sink { .. }), "{err}");
    assert!(err.to_string().contains("rolled the chunk's transaction back"), "{err}");
    let written = out_rows(&d.sink);
    // Chunks 1 to 3 committed, none of the 4th.
    let want: Vec<_> = expected_out().into_iter().filter(|(id, _)| *id <= 900).collect();
    assert_eq!(written, want);
    let dead = dead_rows(&d.sink);
    assert!(dead.iter().all(|(_, id, _)| *id <= 900), "{dead:?}");

    Connection::open(&d.sink)
        .unwrap()
        .execute_batch("DROP TRIGGER boom")
        .unwrap();
    let summary = run(&d, None, 2).unwrap();
    assert!(summary.is_balanced(), "{summary:?}");
    assert_eq!(summary.read, ROWS as u64);
    assert_eq!(summary.read_this_run, (ROWS - 900) as u64);
    assert_eq!(out_rows(&d.sink), expected_out());
    assert_eq!(dead_rows(&d.sink), expected_dead());
}

#[test]
fn a_query_is_a_source_too_and_a_reset_starts_over() {
    let d = dbs("sqlite-query");
    let target = SqliteTarget::open(&d.sink, "q").unwrap();
    let run = || {
        Pipeline::new(Classify::default())
            .route(
                "output",
                target.table::<Rec>("out", "id", &["id", "value", "tag"]).unwrap(),
            )
            .drop_state("skip")
            .dead_letter_state("error")
            .commit_chunks(target.clone())
            .run(
                SqliteSource::<Rec>::query(&d.source, "SELECT id, value, tag FROM src WHERE id % 2 = 0", "id").unwrap(),
            )
    };
    let first = run().unwrap();
    assert_eq!(first.read, (ROWS / 2) as u64);
    target.reset().unwrap();
    let second = run().unwrap();
    assert_eq!(second.read_this_run, (ROWS / 2) as u64);
    let rows = out_rows(&d.sink);
    assert!(rows.iter().all(|(id, _)| id % 2 == 0));
}

#[test]
fn mistakes_in_names_show_before_reading() {
    let d = dbs("sqlite-names");
    let e = SqliteSource::<Rec>::table(&d.source, "nope", "id").err().unwrap();
    assert!(e.to_string().contains("no such table"), "{e}");
    let e = SqliteSource::<Rec>::table(&d.source, "src", "nope").err().unwrap();
    assert!(e.to_string().contains("no such column `nope`"), "{e}");
    let target = SqliteTarget::open(&d.sink, "j").unwrap();
    let e = target.table::<Rec>("out", "id", &["value"]).err().unwrap();
    assert!(e.to_string().contains("key column"), "{e}");
    let e = target.table::<Rec>("missing", "id", &["id"]).err().unwrap();
    assert!(e.to_string().contains("no such table"), "{e}");
}

#[test]
fn fields_become_cells_nested_ones_json_text_and_maps_are_records_too() {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Big,
    }
    #[derive(serde::Serialize)]
    struct Wide {
        id: u64,
        flag: bool,
        ratio: f64,
        kind: Kind,
        missing: Option<String>,
        huge: u64,
        tags: Vec<&'static str>,
        ignored: &'static str,
    }
    let dir = temp_dir("sqlite-cells");
    let path = dir.join("sink.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE w (id INTEGER PRIMARY KEY, flag, ratio, kind, missing, huge, tags, absent)")
        .unwrap();
    let target = SqliteTarget::open(&path, "cells").unwrap();
    let columns = ["id", "flag", "ratio", "kind", "missing", "huge", "tags", "absent"];
    let mut wide = target.table::<Wide>("w", "id", &columns).unwrap();
    let record = |id, tags| Wide {
        id,
        flag: true,
        ratio: 0.5,
        kind: Kind::Big,
        missing: None,
        huge: u64::MAX,
        tags,
        ignored: "x",
    };
    wide.write(&record(1, vec![])).unwrap();
    wide.write(&record(2, vec!["a", "b"])).unwrap();
    let mut maps = target
        .table::<std::collections::BTreeMap<&str, i64>>("w", "id", &["id", "flag"])
        .unwrap();
    maps.write(&[("id", 3), ("flag", 0), ("other", 9)].into_iter().collect())
        .unwrap();
    let mut numbers = target.table::<i64>("w", "id", &["id"]).unwrap();
    match numbers.write(&4) {
        Err(WriteError::Rejected(why)) => assert!(why.contains("must serialize as an object"), "{why}"),
        other => panic!("{other:?}"),
    }
    let db = Connection::open(&path).unwrap();
    let rows: Vec<String> = db
        .prepare("SELECT quote(id) || ' ' || quote(flag) || ' ' || quote(ratio) || ' ' || quote(kind) || ' ' || quote(missing) || ' ' || quote(huge) || ' ' || quote(tags) || ' ' || quote(absent) FROM w ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            "1 1 0.5 'big' NULL '18446744073709551615' '[]' NULL",
            "2 1 0.5 'big' NULL '18446744073709551615' '[\"a\",\"b\"]' NULL",
            "3 0 NULL NULL NULL NULL NULL NULL",
        ]
    );
}

#[test]
fn one_file_can_be_source_and_sink() {
    let d = dbs("sqlite-one-file");
    // The source table copied into the sink's file: the reader waits for the writer's commits.
    Connection::open(&d.sink)
        .unwrap()
        .execute_batch(&format!(
            "ATTACH '{}' AS s; CREATE TABLE src AS SELECT * FROM s.src; DETACH s;",
            d.source.display()
        ))
        .unwrap();
    let target = SqliteTarget::open(&d.sink, "same-file").unwrap();
    let summary = Pipeline::new(Classify::default())
        .route(
            "output",
            target.table::<Rec>("out", "id", &["id", "value", "tag"]).unwrap(),
        )
        .drop_state("skip")
        .dead_letter_state("error")
        .dead_letter(target.dead_letters::<Rec>("rejected").unwrap())
        .chunk_size(100)
        .workers(2)
        .commit_chunks(target.clone())
        .run(
            SqliteSource::<Rec>::table(&d.sink, "src", "id")
                .unwrap()
                .page_rows(64)
                .name("src"),
        )
        .unwrap();
    assert!(summary.is_balanced(), "{summary:?}");
    assert_eq!(out_rows(&d.sink), expected_out());
    assert_eq!(dead_rows(&d.sink), expected_dead());
}
