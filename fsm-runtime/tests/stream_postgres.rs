//! PostgreSQL to PostgreSQL: a table streamed through a server-side cursor into upserting table
//! sinks and a dead-letter table, one transaction per chunk with the source's position; the
//! test's connections terminated by the server mid-run (`pg_terminate_backend`), the run connects
//! again and every row lands exactly once.
//!
//! The tests connect to the URL in `FSM_TEST_POSTGRES_URL` and skip (saying so) when it is not
//! set, except under `CI=true`, where a missing URL fails them. Each test works in a schema of its
//! own (the connections' `search_path`), so they run in parallel:
//! `FSM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p fsm-runtime --test stream_postgres`.
#![cfg(feature = "postgres")]

mod stream_support;

use std::time::{Duration, Instant};

use fsm_runtime::stream::{Pipeline, PostgresSource, PostgresTarget, StreamError, Summary};
use postgres::{Client, NoTls};
use stream_support::{Classify, Rec};

const ROWS: i64 = 20_000;

fn base_url() -> Option<String> {
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

/// A schema of the test's own, with the source table `src` and the sink table `out`.
struct Schema {
    base: String,
    name: String,
}

impl Schema {
    fn new(test: &str) -> Option<Schema> {
        let base = base_url()?;
        let schema = Schema {
            name: format!("fsm_stream_{test}_{}", std::process::id()),
            base,
        };
        let mut c = schema.admin();
        c.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s};
             CREATE TABLE {s}.src (id BIGINT PRIMARY KEY, value JSONB, tag TEXT);
             INSERT INTO {s}.src SELECT g,
               CASE WHEN g % 50 = 17 THEN '\"oops\"'::jsonb WHEN g % 50 = 23 THEN '-1'::jsonb
                    WHEN g % 50 = 31 THEN '7'::jsonb ELSE to_jsonb(g % 500 + 20) END, ''
             FROM generate_series(1, {ROWS}) AS g;
             CREATE TABLE {s}.out (id BIGINT PRIMARY KEY, value BIGINT NOT NULL, tag TEXT);",
            s = schema.name
        ))
        .unwrap();
        Some(schema)
    }

    /// The URL of the test's connections: its schema first, and its name as the application's,
    /// so they can be found (and terminated).
    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}options=-csearch_path%3D{s}&application_name={s}",
            self.base,
            s = self.name
        )
    }

    fn admin(&self) -> Client {
        Client::connect(&self.base, NoTls).unwrap()
    }

    fn out_rows(&self) -> Vec<(i64, i64)> {
        self.admin()
            .query(&format!("SELECT id, value FROM {}.out ORDER BY id", self.name), &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    fn dead_rows(&self) -> Vec<(i64, String)> {
        self.admin()
            .query(
                &format!("SELECT position, reason FROM {}.rejected ORDER BY position", self.name),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    fn committed(&self) -> Option<i64> {
        self.admin()
            .query_opt(
                &format!(
                    "SELECT read FROM {}.fsm_stream_positions WHERE job = 'pg-test'",
                    self.name
                ),
                &[],
            )
            .ok()
            .flatten()
            .map(|r| r.get(0))
    }

    /// Terminates the test's own connections (source and sink); returns how many.
    fn terminate(&self) -> usize {
        self.admin()
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .unwrap()
            .len()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.base, NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn expected_out() -> Vec<(i64, i64)> {
    (1..=ROWS)
        .filter(|id| ![17, 23, 31].contains(&(id % 50)))
        .map(|id| (id, (id % 500 + 20) * 2))
        .collect()
}

fn expected_dead() -> Vec<(i64, String)> {
    (1..=ROWS)
        .filter_map(|id| match id % 50 {
            17 => Some((id, "malformed".to_string())),
            23 => Some((id, "error_state".to_string())),
            _ => None,
        })
        .collect()
}

fn run(schema: &Schema, chunk_size: usize, spin: u64) -> Result<Summary, StreamError> {
    let url = schema.url();
    let target = PostgresTarget::open(&url, "pg-test").unwrap();
    Pipeline::new(Classify { spin })
        .route(
            "output",
            target.table::<Rec>("out", "id", &["id", "value", "tag"]).unwrap(),
        )
        .drop_state("skip")
        .dead_letter_state("error")
        .dead_letter(target.dead_letters::<Rec>("rejected").unwrap())
        .chunk_size(chunk_size)
        .workers(2)
        .commit_chunks(target.clone())
        .run(
            PostgresSource::<Rec>::table(&url, "src", "id")
                .unwrap()
                .fetch_rows(256)
                .name("src"),
        )
}

fn assert_exactly_once(schema: &Schema, summary: &Summary) {
    assert!(summary.is_balanced(), "{summary:?}");
    assert_eq!(summary.read, ROWS as u64);
    assert_eq!(schema.out_rows(), expected_out());
    assert_eq!(schema.dead_rows(), expected_dead());
    assert_eq!(summary.written_total() as usize, expected_out().len());
    assert_eq!(summary.dead_lettered_total() as usize, expected_dead().len());
}

#[test]
fn a_table_lands_in_the_sink_exactly_once() {
    let Some(schema) = Schema::new("plain") else { return };
    let summary = run(&schema, 500, 0).unwrap();
    assert_exactly_once(&schema, &summary);
    let payload: String = schema
        .admin()
        .query_one(
            &format!("SELECT payload FROM {}.rejected WHERE position = 17", schema.name),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(payload, r#"{"id":17,"value":"oops","tag":""}"#);
    // Run again: the position was kept, nothing is read twice.
    let again = run(&schema, 500, 0).unwrap();
    assert_eq!(again.read_this_run, 0);
    assert_exactly_once(&schema, &again);
}

#[test]
fn connections_terminated_mid_run_are_opened_again_and_every_row_lands_once() {
    let Some(schema) = Schema::new("terminated") else {
        return;
    };
    let mut terminated = 0;
    let first = std::thread::scope(|s| {
        // Slow records, so that the run lasts long enough to be hit a few times.
        let job = s.spawn(|| run(&schema, 200, 20_000));
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = 0;
        for _ in 0..3 {
            // Wait for more commits, then terminate every connection of the test.
            while !job.is_finished() && schema.committed().is_none_or(|n| n <= last) {
                assert!(Instant::now() < deadline, "the run made no progress");
                std::thread::sleep(Duration::from_millis(5));
            }
            if job.is_finished() {
                break;
            }
            last = schema.committed().unwrap_or_default();
            terminated += schema.terminate();
        }
        job.join().unwrap()
    });
    assert!(terminated > 0, "no connection was terminated: the test proves nothing");
    println!("{terminated} connections terminated; the run: {first:?}");
    let summary = match first {
        Ok(summary) => summary,
        // Stopping is allowed too, with a clear error, and the next run resumes.
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("connection") || message.contains("terminat"),
                "{message}"
            );
            run(&schema, 200, 0).unwrap()
        }
    };
    assert_exactly_once(&schema, &summary);
}

#[test]
fn a_row_the_sink_refuses_rolls_its_chunk_back_and_the_run_says_so() {
    let Some(schema) = Schema::new("refused") else { return };
    // Row 1000 is in the 2nd chunk of 500 rows.
    schema
        .admin()
        .batch_execute(&format!(
            "ALTER TABLE {}.out ADD CONSTRAINT not_1000 CHECK (id <> 1000)",
            schema.name
        ))
        .unwrap();
    let err = run(&schema, 500, 0).unwrap_err();
    assert!(matches!(err, StreamError::Commit { .. }), "{err}");
    assert!(err.to_string().contains("not_1000"), "{err}");
    let want: Vec<_> = expected_out().into_iter().filter(|(id, _)| *id <= 500).collect();
    assert_eq!(schema.out_rows(), want, "the first chunk only");
    assert_eq!(schema.committed(), Some(500));
    schema
        .admin()
        .batch_execute(&format!("ALTER TABLE {}.out DROP CONSTRAINT not_1000", schema.name))
        .unwrap();
    let summary = run(&schema, 500, 0).unwrap();
    assert_eq!(summary.read_this_run, (ROWS - 500) as u64);
    assert_exactly_once(&schema, &summary);
}
