//! What the `reference` data mode costs per record, in one run: the same three-state machine
//! (`start -> work -> done`, `work` adds to the record) run with `run` in copy mode, and with
//! `run_stored` in reference mode over each store, which loads the record by key and saves it once
//! (after `work`). Contenders take turns for several rounds and each keeps its fastest round (the
//! machine is shared: load that comes and goes hits them all alike). Printed: time per record and
//! the ratio to the copy-mode run.
//!
//! `cargo bench -p fsm-tests --bench stores`; PostgreSQL joins when `FSM_TEST_POSTGRES_URL` is set
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fsm::runtime::store::{MemoryStore, PostgresStore, RecordStore, SqliteStore};
use fsm::runtime::{Context, FnError};
use fsm_runtime::resources::{Postgres, Sqlite};

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Account {
    id: String,
    balance: i64,
    history: Vec<i64>,
}

mod copy {
    fsm::fsm! {
        machine Copied {
            data: super::Account;
            data_mode: copy;
            network main {
                start state start;
                state work { transform: deposit; }
                end state done;
                start -> work;
                work -> done;
            }
        }
    }
}

mod reference {
    fsm::fsm! {
        machine Stored {
            data: super::Account;
            data_mode: reference;
            network main {
                start state start;
                state work { transform: deposit; }
                end state done;
                start -> work;
                work -> done;
            }
        }
    }
}

struct Fns;

fn deposit(data: &mut Account) -> Result<(), FnError> {
    data.balance += 10;
    if data.history.len() >= 8 {
        data.history.remove(0);
    }
    data.history.push(10);
    Ok(())
}

impl copy::CopiedFns for Fns {
    fn deposit(&self, data: &mut Account, _: &mut Context<'_>) -> Result<(), FnError> {
        deposit(data)
    }
}

impl reference::StoredFns for Fns {
    fn deposit(&self, data: &mut Account, _: &mut Context<'_>) -> Result<(), FnError> {
        deposit(data)
    }
}

/// Records per round.
const RECORDS: usize = 500;
const ROUNDS: usize = 5;

fn account(i: usize) -> Account {
    Account {
        id: format!("acct-{i}"),
        balance: 100,
        history: vec![1, 2, 3],
    }
}

fn keys() -> Vec<String> {
    (0..RECORDS).map(|i| format!("acct-{i}")).collect()
}

fn filled(store: Arc<dyn RecordStore<Account>>) -> Arc<dyn RecordStore<Account>> {
    for (i, key) in keys().iter().enumerate() {
        match store.insert(key, &account(i)) {
            Ok(_) | Err(fsm::runtime::store::StoreError::Exists { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    store
}

fn main() {
    let copied = copy::Copied::new(Fns);
    let stored = reference::Stored::new(Fns);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file_db = Sqlite::open(dir.path().join("bench.db").to_str().expect("a UTF-8 path")).expect("SQLite file");
    // Write-ahead log, synced at checkpoints rather than at every commit.
    let wal_db = Sqlite::open(dir.path().join("wal.db").to_str().expect("a UTF-8 path")).expect("SQLite file");
    wal_db
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .expect("WAL");
    let mut stores: Vec<(&str, Arc<dyn RecordStore<Account>>)> = vec![
        ("run_stored, MemoryStore", filled(Arc::new(MemoryStore::new()))),
        (
            "run_stored, SqliteStore :memory:",
            filled(Arc::new(
                SqliteStore::new(Sqlite::open(":memory:").expect("SQLite"), "accounts").expect("table"),
            )),
        ),
        (
            "run_stored, SqliteStore file",
            filled(Arc::new(SqliteStore::new(file_db, "accounts").expect("table"))),
        ),
        (
            "run_stored, SqliteStore file, WAL",
            filled(Arc::new(SqliteStore::new(wal_db, "accounts").expect("table"))),
        ),
    ];
    let pg_table = format!("fsm_bench_accounts_{}", std::process::id());
    let pg = std::env::var("FSM_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|url| {
            let pg = Postgres::connect(&url).expect("PostgreSQL");
            let _ = pg.batch_execute(&format!("DROP TABLE IF EXISTS {pg_table}"));
            pg
        });
    if let Some(pg) = &pg {
        stores.push((
            "run_stored, PostgresStore",
            filled(Arc::new(PostgresStore::new(pg.clone(), &pg_table).expect("table"))),
        ));
    } else {
        println!("(PostgreSQL skipped: set FSM_TEST_POSTGRES_URL to include it)");
    }
    let keys = keys();

    let mut best = vec![Duration::MAX; stores.len() + 1];
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..RECORDS {
            let out = copied.run(black_box(account(i))).expect("a copy-mode run");
            black_box(out.data.balance);
        }
        best[0] = best[0].min(start.elapsed());
        for (s, (_, store)) in stores.iter().enumerate() {
            let start = Instant::now();
            for key in &keys {
                let out = stored
                    .run_stored(store.clone(), key.as_str())
                    .expect("loaded")
                    .expect("a run");
                black_box(out.data.balance);
            }
            best[s + 1] = best[s + 1].min(start.elapsed());
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / RECORDS as f64;
    println!("{:<36} {:>12} {:>8}", "contender", "ns/record", "ratio");
    println!(
        "{:<36} {:>12.0} {:>7.2}x",
        "run (copy mode, record in hand)",
        per(best[0]),
        1.0
    );
    for (s, (name, _)) in stores.iter().enumerate() {
        println!(
            "{:<36} {:>12.0} {:>7.2}x",
            name,
            per(best[s + 1]),
            per(best[s + 1]) / per(best[0])
        );
    }
    if let Some(pg) = pg {
        let _ = pg.batch_execute(&format!("DROP TABLE IF EXISTS {pg_table}"));
    }
}
