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

/// The PostgreSQL URL of the tests (`FSM_TEST_POSTGRES_URL`): skipped, saying so, when it is not
/// set, except under `CI=true`, where a missing URL fails the test.
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

#[test]
fn postgres_to_postgres_killed_then_run_again_every_order_lands_exactly_once() {
    use postgres::{Client, NoTls};
    const N: i64 = 40_000;
    let Some(base) = postgres_url() else { return };
    let schema = format!("fsm_etl_test_{}", std::process::id());
    let mut admin = Client::connect(&base, NoTls).unwrap();
    // The sink's table made ahead, with triggers counting inserts and replays.
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s};
             CREATE TABLE {s}.orders_clean (
                 id BIGINT PRIMARY KEY, customer TEXT NOT NULL, amount_eur NUMERIC(14, 2) NOT NULL, category TEXT NOT NULL);
             CREATE TABLE {s}.writes (kind TEXT PRIMARY KEY, n BIGINT NOT NULL);
             INSERT INTO {s}.writes VALUES ('INSERT', 0), ('UPDATE', 0);
             CREATE FUNCTION {s}.count_write() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN UPDATE {s}.writes SET n = n + 1 WHERE kind = TG_OP; RETURN NULL; END $$;
             CREATE TRIGGER counted AFTER INSERT OR UPDATE ON {s}.orders_clean
               FOR EACH ROW EXECUTE FUNCTION {s}.count_write();",
            s = schema
        ))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let args = [
        "--source",
        &url,
        "--sink",
        &url,
        "--rows",
        "40000",
        "--chunk-size",
        "500",
    ];
    let committed = || -> Option<i64> {
        let mut c = Client::connect(&base, NoTls).ok()?;
        c.query_opt(
            &format!("SELECT read FROM {schema}.fsm_stream_positions WHERE job = 'orders-etl'"),
            &[],
        )
        .ok()
        .flatten()
        .map(|r| r.get(0))
    };
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_when(&mut child, || committed().is_some_and(|n| n > 0));
    let first = committed().unwrap();
    assert!(first < N, "killed mid-run");
    let out = Command::new(BIN).args(args).output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("check: read 40000 = written 38800 + dead-lettered 1200 + dropped 0: ok"),
        "{err}"
    );
    assert!(err.contains("committed by earlier runs"), "{err}");
    let ids: Vec<i64> = admin
        .query(&format!("SELECT id FROM {schema}.orders_clean ORDER BY id"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, (1..=N).filter(|id| generated_is_valid(*id)).collect::<Vec<_>>());
    let rejected: Vec<i64> = admin
        .query(
            &format!("SELECT position FROM {schema}.orders_rejected ORDER BY position"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        rejected,
        (1..=N).filter(|id| !generated_is_valid(*id)).collect::<Vec<_>>()
    );
    let writes: Vec<(String, i64)> = admin
        .query(&format!("SELECT kind, n FROM {schema}.writes ORDER BY kind"), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        writes,
        [("INSERT".to_string(), ids.len() as i64), ("UPDATE".to_string(), 0)]
    );
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
}
