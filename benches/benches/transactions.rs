//! What a resource's `transaction:` costs, in one run, on SQLite: the same machine (its one
//! transform inserts the record into a table of a file database through `ctx.resources().db`)
//! run through a pipeline (1 worker, chunks of 1000) with the handle in autocommit mode (no
//! `transaction:`, the baseline: each insert its own transaction), `per_record` (one transaction
//! per record's run, committed at its end) and `per_chunk` (one per chunk).
//!
//! `cargo bench -p fsm-benches --bench transactions [-- RECORDS [ROUNDS]]` (defaults 20000 and
//! 5): the three take turns, each on a fresh database file in WAL mode, and each keeps its median
//! round; it prints records per second and the ratio of each throughput to the baseline's.

use std::time::{Duration, Instant};

use fsm::runtime::resources::{Resource, Sqlite, SqliteConfig, Transaction};
use fsm::runtime::stream::{IterSource, Pipeline};
use fsm::runtime::{Context, FnError};

mod machine {
    fsm::fsm! {
        machine Insert {
            data: u64;
            data_mode: direct;
            resources { db: sqlite { path: ":memory:", transaction: per_record } }
            network main {
                start state start;
                state insert { transform: insert; resources: [db]; }
                end state done;
                start -> insert;
                insert -> done;
            }
        }
    }
}

struct Fns;

impl machine::InsertFns for Fns {
    fn insert(&self, data: &mut u64, ctx: &mut Context<'_, machine::InsertResources>) -> Result<(), FnError> {
        ctx.resources()
            .db
            .execute("INSERT INTO t (id, v) VALUES (?1, ?2)", (*data as i64, "x"))?;
        Ok(())
    }
}

/// One run of `records` records with the handle in `mode`: its wall-clock time.
fn round(
    dir: &std::path::Path,
    n: usize,
    mode: Option<Transaction>,
    records: u64,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let path = dir.join(format!("bench-{n}.db"));
    let config = SqliteConfig::new(path.to_str().ok_or("path")?).wal(true);
    let config = match mode {
        Some(mode) => config.transaction(mode),
        None => config,
    };
    let db = Sqlite::from_config(&config)?;
    db.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")?;
    let m = machine::Insert::new(Fns, machine::InsertResources { db: db.clone() });
    let t = Instant::now();
    let summary = Pipeline::new(&m)
        .route(
            machine::InsertEnd::Done,
            fsm::runtime::stream::FnSink::new(|_: &u64| Ok(())),
        )
        .workers(1)
        .chunk_size(1000)
        .run(IterSource::new(0..records))?;
    let took = t.elapsed();
    let rows: i64 = db.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
    if summary.read != records || rows != records as i64 {
        return Err(format!("{mode:?}: read {}, {rows} rows, of {records}", summary.read).into());
    }
    Ok(took)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let records: u64 = args.first().map(|a| a.parse()).transpose()?.unwrap_or(20_000);
    let rounds: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(5);
    let dir = tempfile::tempdir()?;
    let modes = [None, Some(Transaction::PerRecord), Some(Transaction::PerChunk)];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
    let mut n = 0;
    for _ in 0..rounds {
        for (i, mode) in modes.iter().enumerate() {
            n += 1;
            times[i].push(round(dir.path(), n, *mode, records)?);
        }
    }
    let median = |t: &mut Vec<Duration>| {
        t.sort();
        t[t.len() / 2]
    };
    let medians: Vec<Duration> = times.iter_mut().map(median).collect();
    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    println!("SQLite, {records} records a round, {rounds} rounds, medians (1 worker, chunks of 1000, WAL):");
    for (mode, d) in modes.iter().zip(&medians) {
        let name = mode.map_or("no transaction", |m| m.as_str());
        println!(
            "  {name:<15} {:>10.0} records/s  {:.2}x vs no transaction",
            rate(*d),
            rate(*d) / rate(medians[0])
        );
    }
    Ok(())
}
