//! The built ETL example (`examples/etl.rs`, built as the `etl` binary): SQLite to SQLite, killed
//! with SIGKILL mid-run and started again with the same command, lands every order exactly once:
//! each valid order inserted once into `orders_clean` and never replayed (a trigger counts the
//! upserts that hit an existing row), each invalid one in `orders_rejected` with its reason.
//! Progress is observed in the sink database (the job's committed position), not by sleeping.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fsm_examples::orders::generated_is_valid;
use rusqlite::{Connection, OptionalExtension};

const BIN: &str = env!("CARGO_BIN_EXE_etl");

struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    fn new() -> Job {
        let job = Job {
            dir: tempfile::tempdir().unwrap(),
        };
        // The sink's table made ahead, with triggers counting inserts and replays.
        Connection::open(job.path("sink.db"))
            .unwrap()
            .execute_batch(
                "CREATE TABLE orders_clean (
                    id BIGINT PRIMARY KEY, customer TEXT NOT NULL, amount_eur TEXT NOT NULL, category TEXT NOT NULL);
                 CREATE TABLE writes (kind TEXT PRIMARY KEY, n INTEGER NOT NULL);
                 INSERT INTO writes VALUES ('insert', 0), ('update', 0);
                 CREATE TRIGGER counted_insert AFTER INSERT ON orders_clean
                   BEGIN UPDATE writes SET n = n + 1 WHERE kind = 'insert'; END;
                 CREATE TRIGGER counted_update AFTER UPDATE ON orders_clean
                   BEGIN UPDATE writes SET n = n + 1 WHERE kind = 'update'; END;",
            )
            .unwrap();
        job
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .args(["--sink", "sqlite://sink.db"])
            .args(args);
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Orders the job has committed, if it has committed a chunk.
    fn committed(&self) -> Option<u64> {
        let db = Connection::open(self.path("sink.db")).ok()?;
        db.busy_timeout(Duration::from_secs(5)).ok()?;
        db.query_row(
            "SELECT read FROM fsm_stream_positions WHERE job = 'orders-etl'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .ok()
        .flatten()
        .map(|n| n as u64)
    }
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
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
}

fn assert_every_order_once(sink: &Path, n: i64) {
    let db = Connection::open(sink).unwrap();
    let ids: Vec<i64> = db
        .prepare("SELECT id FROM orders_clean ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let valid: Vec<i64> = (1..=n).filter(|id| generated_is_valid(*id)).collect();
    assert_eq!(ids, valid, "every valid order, once");
    let rejected: Vec<(i64, String, String)> = db
        .prepare("SELECT position, reason, message FROM orders_rejected WHERE source = 'orders' ORDER BY position")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let invalid: Vec<i64> = (1..=n).filter(|id| !generated_is_valid(*id)).collect();
    assert_eq!(
        rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
        invalid,
        "every invalid order, once"
    );
    for (id, reason, message) in &rejected {
        assert_eq!(reason, "error_state");
        let why = match id % 100 {
            7 => "missing customer",
            42 => "amount `n/a` is not a number",
            _ => "unknown currency `XYZ`",
        };
        assert!(message.contains(why), "{id}: {message}");
    }
    let total: i64 = db
        .query_row("SELECT count(*) FROM orders_rejected", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total as usize, invalid.len(), "nothing else");
    let (inserts, updates): (i64, i64) = db
        .query_row(
            "SELECT (SELECT n FROM writes WHERE kind = 'insert'), (SELECT n FROM writes WHERE kind = 'update')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(inserts as usize, valid.len(), "each valid order inserted once");
    assert_eq!(updates, 0, "no order written twice (a replay would update its row)");
}

#[test]
fn killed_twice_then_run_again_every_order_lands_exactly_once() {
    const N: i64 = 60_000;
    let job = Job::new();
    let args = ["--source", "source.db", "--rows", "60000", "--chunk-size", "500"];
    // The first run generates the source, then starts loading: killed after its first commits.
    let mut child = job.spawn(&args);
    kill_when(&mut child, || job.committed().is_some_and(|n| n > 0));
    let first = job.committed().unwrap();
    assert!(first < N as u64, "killed mid-run");
    // The same command: the source is kept (it holds those rows), the run resumes; killed again.
    let mut child = job.spawn(&args);
    kill_when(&mut child, || job.committed().is_some_and(|n| n > first));
    let second = job.committed().unwrap();
    assert!(second < N as u64, "killed mid-run");
    // And once more, to the end.
    let out = job.run(&args);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("check: read 60000 = written 58200 + dead-lettered 1800 + dropped 0: ok"),
        "{err}"
    );
    assert!(
        err.contains(&format!("after {second} committed by earlier runs")),
        "{err}"
    );
    assert!(!err.contains("generated"), "the source was kept: {err}");
    assert_every_order_once(&job.path("sink.db"), N);

    // Run again: nothing new in the source, nothing read, nothing written.
    let out = job.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("this run read 0"), "{}", stderr(&out));
    assert_every_order_once(&job.path("sink.db"), N);
}

#[test]
fn new_rows_in_the_source_start_the_job_over() {
    let job = Job::new();
    let out = job.run(&["--source", "source.db", "--rows", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = job.run(&["--source", "source.db", "--rows", "2000"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("generated 2000 orders"), "{err}");
    assert!(
        err.contains("check: read 2000 = written 1940 + dead-lettered 60 + dropped 0: ok"),
        "{err}"
    );
    let db = Connection::open(job.path("sink.db")).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM orders_clean", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1940);
}

#[test]
fn a_missing_source_is_a_clear_error() {
    let job = Job::new();
    let out = job.run(&["--source", "nowhere/none.db"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--source"), "{}", stderr(&out));
}
