//! Transactions of database resources (`transaction:` of a resource) inside a pipeline, on real
//! SQLite files and the local PostgreSQL: `per_record` keeps only the writes of records whose run
//! ends in a success end state (a dead-letter end state, a failed run and a panic roll theirs
//! back), with parallel workers that never share a transaction; `per_chunk` commits a chunk's
//! writes together, before the chunk reaches its sinks; `manual` gives the functions
//! `begin`/`commit`/`rollback`.
//!
//! The PostgreSQL tests connect to `FSM_TEST_POSTGRES_URL` and skip (saying so) when it is not
//! set, except under `CI=true`, where a missing URL fails them. Each works in a schema of its own.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod stream_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fsm_runtime::resources::{
    ChunkScope, Postgres, RecordScope, Resource, ResourceError, Sqlite, SqliteConfig, Transaction,
};
use fsm_runtime::stream::{FnSink, IterSource, Pipeline, VecSink};
use fsm_runtime::{Failure, Machine, Outcome};
use stream_support::{Classify, End, Rec, temp_dir};

const N: u64 = 400;

/// The value of record `id`: every 10th (from 3) ends in `error`, 50 fails, 77 panics, every
/// 10th from 7 ends in `skip` (dropped), the rest in `output`.
fn value(id: u64) -> i64 {
    match id {
        50 => 13,
        77 => 666,
        id if id % 10 == 3 => -1,
        id if id % 10 == 7 => 7,
        id => id as i64,
    }
}

/// The ids whose run ends in `output` or `skip`: those a per-record transaction commits.
fn committing() -> Vec<i64> {
    (1..=N)
        .filter(|&id| !matches!(id, 50 | 77) && id % 10 != 3)
        .map(|id| id as i64)
        .collect()
}

fn records() -> IterSource<impl Iterator<Item = Rec> + Send> {
    IterSource::new((1..=N).map(|id| Rec::new(id, value(id))))
}

/// [`Classify`] after two writes through a database handle: the record's id into tables `a` and
/// `b` (two statements, so that interleaved transactions would show).
struct Writing<W> {
    write: W,
}

impl<W: Fn(&Rec) -> Result<(), ResourceError> + Send + Sync> Machine for Writing<W> {
    type Data = Rec;
    type End = End;

    fn run(&self, data: Rec) -> Result<Outcome<End, Rec>, Failure<Rec>> {
        if let Err(e) = (self.write)(&data) {
            panic!("writing record {}: {e}", data.id);
        }
        Classify::default().run(data)
    }
}

fn run_pipeline<M: Machine<Data = Rec, End = End>>(machine: &M, workers: usize, chunk: usize) {
    let summary = Pipeline::new(machine)
        .route(End::Output, VecSink::new())
        .drop_state(End::Skip)
        .dead_letter_state(End::Error)
        .dead_letter(VecSink::new())
        .workers(workers)
        .chunk_size(chunk)
        .run(records())
        .unwrap();
    assert!(summary.is_balanced(), "{summary}");
    assert_eq!(summary.read, N);
}

fn sqlite_ids(path: &std::path::Path, table: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare(&format!("SELECT id FROM {table} ORDER BY id")).unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

fn sqlite_db(name: &str, mode: Transaction) -> (std::path::PathBuf, Sqlite) {
    let path = temp_dir(name).join("db.sqlite");
    let db = Sqlite::from_config(&SqliteConfig::new(path.to_str().unwrap()).wal(true).transaction(mode)).unwrap();
    // Outside any scope: autocommit, as without `transaction:`.
    db.execute_batch("CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (id INTEGER PRIMARY KEY);")
        .unwrap();
    (path, db)
}

fn sqlite_writes(db: &Sqlite) -> impl Fn(&Rec) -> Result<(), ResourceError> + Send + Sync + '_ {
    move |r: &Rec| {
        db.execute("INSERT INTO a (id) VALUES (?1)", [r.id as i64])?;
        // Let another worker run between the two statements, if it could.
        std::thread::yield_now();
        db.execute("INSERT INTO b (id) VALUES (?1)", [r.id as i64])?;
        Ok(())
    }
}

#[test]
fn sqlite_per_record_keeps_only_the_writes_of_successful_runs() {
    let (path, db) = sqlite_db("tx-per-record", Transaction::PerRecord);
    assert_eq!(db.transaction_mode(), Some(Transaction::PerRecord));
    let machine = Writing {
        write: sqlite_writes(&db),
    };
    run_pipeline(&machine, 4, 16);
    let expected = committing();
    assert_eq!(sqlite_ids(&path, "a"), expected);
    assert_eq!(sqlite_ids(&path, "b"), expected);
}

#[test]
fn sqlite_without_a_transaction_keeps_every_write() {
    let path = temp_dir("tx-none").join("db.sqlite");
    let db = Sqlite::from_config(&SqliteConfig::new(path.to_str().unwrap()).wal(true)).unwrap();
    db.execute_batch("CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (id INTEGER PRIMARY KEY);")
        .unwrap();
    let machine = Writing {
        write: sqlite_writes(&db),
    };
    run_pipeline(&machine, 2, 16);
    assert_eq!(sqlite_ids(&path, "a").len() as u64, N);
}

#[test]
fn a_record_scope_outside_a_pipeline_commits_or_rolls_back() {
    let (path, db) = sqlite_db("tx-scope", Transaction::PerRecord);
    let scope = RecordScope::enter();
    db.execute("INSERT INTO a (id) VALUES (1)", []).unwrap();
    assert!(db.in_transaction());
    // Another connection does not see it yet.
    assert_eq!(sqlite_ids(&path, "a"), Vec::<i64>::new());
    scope.finish(true).unwrap();
    assert!(!db.in_transaction());
    assert_eq!(sqlite_ids(&path, "a"), [1]);

    let scope = RecordScope::enter();
    db.execute("INSERT INTO a (id) VALUES (2)", []).unwrap();
    scope.finish(false).unwrap();
    // Dropped while a panic unwinds: rolled back too.
    let panicked = std::panic::catch_unwind(|| {
        let _scope = RecordScope::enter();
        db.execute("INSERT INTO a (id) VALUES (3)", []).unwrap();
        panic!("in the run");
    });
    assert!(panicked.is_err());
    assert_eq!(sqlite_ids(&path, "a"), [1]);
    // The connection is free again for other threads.
    std::thread::scope(|s| {
        s.spawn(|| db.execute("INSERT INTO a (id) VALUES (4)", []).unwrap());
    });
    assert_eq!(sqlite_ids(&path, "a"), [1, 4]);
}

#[test]
fn sqlite_per_chunk_commits_each_chunk_before_its_outputs() {
    const CHUNK: usize = 20;
    let (path, db) = sqlite_db("tx-per-chunk", Transaction::PerChunk);
    let machine = Writing {
        write: sqlite_writes(&db),
    };
    // The sink counts, from a connection of its own, the rows committed when each record
    // arrives: always whole chunks, and at least the chunk of the record.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = Mutex::new(rusqlite::Connection::open(&path).unwrap());
    let sink_seen = seen.clone();
    let sink = FnSink::new(move |r: &Rec| {
        let n: i64 = reader
            .lock()
            .unwrap()
            .query_row("SELECT count(*) FROM a", [], |row| row.get(0))
            .map_err(std::io::Error::other)?;
        sink_seen.lock().unwrap().push((r.id, n));
        Ok(())
    });
    let summary = Pipeline::new(&machine)
        .route(End::Output, sink)
        .drop_state(End::Skip)
        .dead_letter_state(End::Error)
        .dead_letter(VecSink::new())
        .workers(1)
        .chunk_size(CHUNK)
        .run(records())
        .unwrap();
    assert!(summary.is_balanced(), "{summary}");
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    for &(id, n) in seen.iter() {
        assert_eq!(n as usize % CHUNK, 0, "record {id} saw {n} rows: part of a chunk");
        assert!(
            n as u64 >= id.div_ceil(CHUNK as u64) * CHUNK as u64,
            "record {id} saw {n} rows"
        );
    }
    // Every record's writes, whatever its end (the failing and the panicking record's too): the
    // chunk, not the record, is the unit.
    assert_eq!(sqlite_ids(&path, "a").len() as u64, N);
}

#[test]
fn a_chunk_scope_dropped_unfinished_rolls_back() {
    let (path, db) = sqlite_db("tx-chunk-scope", Transaction::PerChunk);
    {
        let _chunk = ChunkScope::enter();
        db.execute("INSERT INTO a (id) VALUES (1)", []).unwrap();
    }
    let chunk = ChunkScope::enter();
    db.execute("INSERT INTO a (id) VALUES (2)", []).unwrap();
    chunk.finish(true).unwrap();
    assert_eq!(sqlite_ids(&path, "a"), [2]);
}

#[test]
fn sqlite_manual_gives_the_functions_begin_commit_and_rollback() {
    let (path, db) = sqlite_db("tx-manual", Transaction::Manual);
    // Even ids commit, odd ones roll back, multiples of 5 leave theirs open and end in error:
    // the record's scope rolls it back.
    let machine = Writing {
        write: |r: &Rec| {
            db.begin()?;
            assert!(db.in_transaction());
            assert!(db.begin().is_err(), "a second begin on the same thread");
            db.execute("INSERT INTO a (id) VALUES (?1)", [r.id as i64])?;
            match r.id {
                id if id % 5 == 0 => {}
                id if id % 2 == 0 => db.commit()?,
                _ => db.rollback()?,
            }
            Ok(())
        },
    };
    run_pipeline(&machine, 2, 16);
    let expected: Vec<i64> = (1..=N as i64).filter(|id| id % 2 == 0 && id % 5 != 0).collect();
    assert_eq!(sqlite_ids(&path, "a"), expected);
    // Without `transaction: manual`, begin is refused.
    let (_, other) = sqlite_db("tx-not-manual", Transaction::PerRecord);
    let e = other.begin().unwrap_err();
    assert!(e.to_string().contains("transaction: manual"), "{e}");
    assert!(db.commit().unwrap_err().to_string().contains("no transaction"));
}

// ------------------------------------------------------------------------------- PostgreSQL

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

/// A schema of the test's own with tables `a` and `b`, and the URL of connections into it.
fn pg_schema(test: &str) -> Option<(String, String)> {
    let base = base_url()?;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "fsm_tx_{test}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
             CREATE TABLE {schema}.a (id BIGINT PRIMARY KEY); CREATE TABLE {schema}.b (id BIGINT PRIMARY KEY);"
        ))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some((format!("{base}{sep}options=-csearch_path%3D{schema}"), schema))
}

fn pg_ids(url: &str, table: &str) -> Vec<i64> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.query(&format!("SELECT id FROM {table} ORDER BY id"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn pg_writes(db: &Postgres) -> impl Fn(&Rec) -> Result<(), ResourceError> + Send + Sync + '_ {
    move |r: &Rec| {
        let id = r.id as i64;
        db.execute("INSERT INTO a (id) VALUES ($1)", &[&id])?;
        std::thread::yield_now();
        db.execute("INSERT INTO b (id) VALUES ($1)", &[&id])?;
        Ok(())
    }
}

#[test]
fn postgres_per_record_keeps_only_the_writes_of_successful_runs() {
    let Some((url, schema)) = pg_schema("per_record") else {
        return;
    };
    let db = Postgres::connect_pool(&url, 4)
        .unwrap()
        .transaction(Transaction::PerRecord);
    let machine = Writing { write: pg_writes(&db) };
    run_pipeline(&machine, 4, 16);
    let expected = committing();
    assert_eq!(pg_ids(&url, "a"), expected);
    assert_eq!(pg_ids(&url, "b"), expected);
    // Every connection went back to the pool: all four can be taken at once.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| db.query("SELECT pg_sleep(0.01)", &[]).unwrap());
        }
    });
    let _ = schema;
}

#[test]
fn postgres_per_record_with_fewer_connections_than_workers_waits_for_one() {
    let Some((url, _)) = pg_schema("per_record_pool") else {
        return;
    };
    let db = Postgres::connect_pool(&url, 1)
        .unwrap()
        .transaction(Transaction::PerRecord);
    let machine = Writing { write: pg_writes(&db) };
    run_pipeline(&machine, 3, 8);
    assert_eq!(pg_ids(&url, "a"), committing());
}

#[test]
fn postgres_per_chunk_commits_the_chunk() {
    let Some((url, _)) = pg_schema("per_chunk") else { return };
    let db = Postgres::connect_pool(&url, 2)
        .unwrap()
        .transaction(Transaction::PerChunk);
    {
        let _chunk = ChunkScope::enter();
        db.execute("INSERT INTO a (id) VALUES (100000)", &[]).unwrap();
        // Not visible to others before the chunk ends, and rolled back when it is dropped.
        assert_eq!(pg_ids(&url, "a"), Vec::<i64>::new());
    }
    let machine = Writing { write: pg_writes(&db) };
    run_pipeline(&machine, 2, 25);
    assert_eq!(pg_ids(&url, "a").len() as u64, N);
}

#[test]
fn postgres_manual_gives_the_functions_begin_commit_and_rollback() {
    let Some((url, _)) = pg_schema("manual") else { return };
    let db = Postgres::connect_pool(&url, 2)
        .unwrap()
        .transaction(Transaction::Manual);
    let machine = Writing {
        write: |r: &Rec| {
            db.begin()?;
            let id = r.id as i64;
            db.execute("INSERT INTO a (id) VALUES ($1)", &[&id])?;
            match r.id {
                id if id % 5 == 0 => {}
                id if id % 2 == 0 => db.commit()?,
                _ => db.rollback()?,
            }
            Ok(())
        },
    };
    run_pipeline(&machine, 2, 16);
    let expected: Vec<i64> = (1..=N as i64).filter(|id| id % 2 == 0 && id % 5 != 0).collect();
    assert_eq!(pg_ids(&url, "a"), expected);
}
