//! The built main job (`streaming`) as workers sharing one NATS JetStream stream: the input loaded
//! with `streaming publish`, three worker processes on it with a PostgreSQL upsert sink, one of
//! them killed with SIGKILL mid-run; every valid record lands in the sink exactly once, every
//! invalid one in the dead letters once, nothing else, and nothing is left pending.
//!
//! Needs a NATS server with JetStream (`FSM_TEST_NATS_URL`, e.g. `nats://127.0.0.1:4222` from
//! `nats-server -js`) and PostgreSQL (`FSM_TEST_POSTGRES_URL`); skipped (saying so) without them,
//! except under `CI=true`, where they fail. Each run uses a stream and a schema of its own:
//! `FSM_TEST_NATS_URL=nats://127.0.0.1:4222 FSM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo test -p fsm-examples --test main_job_nats` (100,000 records, as the issue asks: about a
//! minute on two busy cores).
#![cfg(unix)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fsm_examples::record::Generated;
use fsm_runtime::stream::JetStream;
use postgres::{Client, NoTls};

const BIN: &str = env!("CARGO_BIN_EXE_streaming");

fn env_url(var: &str, example: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {var} is not set: this test cannot be skipped in CI"
        );
        println!("skipped: set {var} (e.g. {example}) to run");
    }
    url
}

fn count(pg: &mut Client, sql: &str) -> u64 {
    let n: i64 = pg.query_one(sql, &[]).unwrap().get(0);
    n as u64
}

fn three_workers_one_killed(n: u64, test: &str) {
    let (Some(nats), Some(pg_url)) = (
        env_url("FSM_TEST_NATS_URL", "nats://127.0.0.1:4222"),
        env_url("FSM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stream = format!("fsm_{test}_{}", std::process::id());
    let schema = stream.clone();
    let js = JetStream::connect(&nats).unwrap();
    js.delete_stream(&stream).unwrap();
    let mut pg = Client::connect(&pg_url, NoTls).unwrap();
    pg.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .unwrap();

    let input = dir.path().join("in.jsonl");
    let ok = Command::new(BIN)
        .args(["--generate", &n.to_string(), "--save"])
        .arg(&input)
        .status()
        .unwrap();
    assert!(ok.success());
    let to = format!("{nats}/{stream}");
    let out = Command::new(BIN)
        .args(["publish", "--input"])
        .arg(&input)
        .args(["--to", &to])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(js.stream_messages(&stream).unwrap(), n);

    let sep = if pg_url.contains('?') { '&' } else { '?' };
    let db = format!("{pg_url}{sep}options=-csearch_path%3D{schema}");
    let worker = || -> Child {
        Command::new(BIN)
            .args([
                "--quiet",
                "--input",
                &to,
                "--until-drained",
                "--ack-wait",
                "2",
                "--chunk-size",
                "500",
            ])
            .args([
                "--output",
                &format!("{db}&table=out"),
                "--errors",
                &format!("{db}&table=errors"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut workers: Vec<Child> = (0..3).map(|_| worker()).collect();

    // Kill one once the sink has a tenth of the records: mid-run, holding unacknowledged messages.
    let started = Instant::now();
    loop {
        let written = pg
            .query_opt(&format!("SELECT count(*) FROM {schema}.out"), &[])
            .ok()
            .flatten()
            .map_or(0, |r| r.get::<_, i64>(0) as u64);
        if written >= n / 10 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the workers wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        workers[0].try_wait().unwrap().is_none(),
        "the worker ended before it could be killed"
    );
    workers[0].kill().unwrap();
    let killed = workers.remove(0).wait_with_output().unwrap();
    assert!(!killed.status.success());
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let (valid, invalid, malformed) = Generated::expected(n);
    assert_eq!(count(&mut pg, &format!("SELECT count(*) FROM {schema}.out")), valid);
    assert_eq!(
        count(&mut pg, &format!("SELECT count(DISTINCT id) FROM {schema}.out")),
        valid
    );
    // Every output row is a processed record.
    assert_eq!(
        count(
            &mut pg,
            &format!(
                "SELECT count(*) FROM {schema}.out WHERE record->>'status' = 'processed' \
                 AND (record->>'doubled_value')::bigint = 2 * (record->>'original_value')::bigint"
            )
        ),
        valid
    );
    assert_eq!(
        count(&mut pg, &format!("SELECT count(*) FROM {schema}.errors")),
        invalid + malformed
    );
    assert_eq!(
        count(
            &mut pg,
            &format!("SELECT count(*) FROM {schema}.errors WHERE reason = 'malformed'")
        ),
        malformed
    );
    assert_eq!(
        count(
            &mut pg,
            &format!("SELECT count(*) FROM {schema}.errors WHERE reason = 'error_state'")
        ),
        invalid
    );
    assert_eq!(js.consumer_pending(&stream, "fsm-workers").unwrap(), (0, 0));

    js.delete_stream(&stream).unwrap();
    pg.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
}

/// The 100,000 records (about a minute on two busy cores, in parallel with the rest).
#[test]
fn three_workers_one_killed_every_record_once() {
    three_workers_one_killed(100_000, "workers");
}
