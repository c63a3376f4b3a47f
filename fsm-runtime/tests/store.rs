//! The record stores of the `reference` data mode, each against its real backend: the contract
//! (versions, conflicts, missing and taken keys, bad JSON) and optimistic locking under parallel
//! writers.
//!
//! PostgreSQL: the tests connect to the URL in `FSM_TEST_POSTGRES_URL` and skip (saying so) when
//! it is unset, or fail when it is unset under `CI=true`. CI sets
//! `postgres://postgres@127.0.0.1:5432/test`; elsewhere, start a server and run e.g.
//! `FSM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p fsm-runtime
//! --test store`.

use fsm_runtime::resources::{Postgres, Sqlite};
use fsm_runtime::store::{MemoryStore, PostgresStore, RecordStore, SqliteStore, StoreError, Versioned};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Counter {
    n: u32,
    by: Vec<u8>,
}

/// What every store must do, one call at a time.
fn contract(store: &dyn RecordStore<Counter>, key: &str) {
    assert!(matches!(store.load(key), Err(StoreError::NotFound { .. })));
    assert!(matches!(
        store.save(key, &Counter::default(), 1),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.insert(key, &Counter { n: 1, by: vec![] }).unwrap(), 1);
    assert!(matches!(
        store.insert(key, &Counter::default()),
        Err(StoreError::Exists { .. })
    ));
    assert_eq!(
        store.load(key).unwrap(),
        Versioned {
            data: Counter { n: 1, by: vec![] },
            version: 1
        }
    );
    assert_eq!(store.save(key, &Counter { n: 2, by: vec![7] }, 1).unwrap(), 2);
    // A writer still holding version 1 is refused, and nothing is written.
    match store.save(key, &Counter { n: 99, by: vec![] }, 1) {
        Err(StoreError::Conflict {
            expected: 1,
            found: 2,
            key: k,
        }) => assert_eq!(k, key),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.load(key).unwrap().data, Counter { n: 2, by: vec![7] });
    let conflict = store.save(key, &Counter::default(), 1).unwrap_err().to_string();
    assert!(
        conflict.contains("changed since it was loaded (version 1, now 2)"),
        "{conflict}"
    );
}

/// `workers` threads each add `each` to the counter, reloading and retrying when a save
/// conflicts: no increment may be lost.
fn parallel_increments(store: Arc<dyn RecordStore<Counter>>, key: &str, workers: u8, each: u32) -> u32 {
    store.insert(key, &Counter::default()).unwrap();
    let conflicts: u32 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let store = store.clone();
                s.spawn(move || {
                    let mut conflicts = 0;
                    for _ in 0..each {
                        loop {
                            let Versioned { mut data, version } = store.load(key).unwrap();
                            data.n += 1;
                            data.by.push(w);
                            match store.save(key, &data, version) {
                                Ok(_) => break,
                                Err(StoreError::Conflict { .. }) => conflicts += 1,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                    conflicts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let end = store.load(key).unwrap();
    let total = u32::from(workers) * each;
    assert_eq!(end.data.n, total);
    assert_eq!(end.data.by.len() as u32, total);
    assert_eq!(end.version, u64::from(total) + 1);
    conflicts
}

#[test]
fn memory_store_keeps_the_contract_and_loses_no_update() {
    contract(&MemoryStore::new(), "k");
    parallel_increments(Arc::new(MemoryStore::new()), "k", 8, 200);
}

#[test]
fn sqlite_store_keeps_the_contract_and_loses_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let db = Sqlite::open(path.to_str().unwrap()).unwrap();
    contract(&SqliteStore::new(db.clone(), "counters").unwrap(), "k");
    // A second store over the same table sees the same records.
    let again = SqliteStore::<Counter>::new(db.clone(), "counters").unwrap();
    assert_eq!(again.load("k").unwrap().version, 2);
    parallel_increments(Arc::new(again), "par", 4, 50);
}

#[test]
fn database_stores_refuse_bad_table_names_and_report_undecodable_records() {
    let db = Sqlite::open(":memory:").unwrap();
    for bad in ["", "1abc", "a;DROP TABLE x", "a b", "naïve"] {
        let err = SqliteStore::<Counter>::new(db.clone(), bad).unwrap_err();
        assert!(err.to_string().contains("is not a table name"), "{bad}: {err}");
    }
    let store = SqliteStore::<Counter>::new(db.clone(), "records").unwrap();
    db.execute(
        "INSERT INTO records (key, version, data) VALUES ('broken', 1, '{\"n\": \"x\"}')",
        [],
    )
    .unwrap();
    match store.load("broken") {
        Err(StoreError::Codec { key, reason }) => {
            assert_eq!(key, "broken");
            assert!(reason.contains("cannot decode"), "{reason}");
        }
        other => panic!("expected a codec error, got {other:?}"),
    }
}

fn postgres() -> Option<Postgres> {
    let url = std::env::var("FSM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    let Some(url) = url else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but FSM_TEST_POSTGRES_URL is not set: the PostgreSQL tests cannot be skipped in CI"
        );
        println!("skipped: set FSM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run");
        return None;
    };
    Some(Postgres::connect_pool(&url, 4).unwrap())
}

#[test]
fn postgres_store_keeps_the_contract_and_loses_no_update() {
    let Some(pg) = postgres() else { return };
    let table = format!("fsm_store_test_{}", std::process::id());
    pg.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).unwrap();
    let store = PostgresStore::<Counter>::new(pg.clone(), &table).unwrap();
    contract(&store, "k");
    let conflicts = parallel_increments(Arc::new(store), "par", 4, 25);
    println!("{conflicts} conflicts retried");
    pg.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn keyed_records_read_a_bare_key_and_write_key_and_record() {
    use fsm_runtime::store::Keyed;
    let read: Keyed<Counter> = serde_json::from_str(r#"{"key": "order-17"}"#).unwrap();
    assert_eq!(read, Keyed::new("order-17"));
    let written = Keyed {
        key: "order-17".to_owned(),
        record: Some(Counter { n: 2, by: vec![1] }),
    };
    assert_eq!(
        serde_json::to_string(&written).unwrap(),
        r#"{"key":"order-17","record":{"n":2,"by":[1]}}"#
    );
    assert_eq!(
        serde_json::to_string(&Keyed::<Counter>::new("k")).unwrap(),
        r#"{"key":"k"}"#
    );
}
