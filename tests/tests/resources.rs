//! Machines with resources: functions reach typed handles through `ctx.resources()`, the
//! generated `<Machine>Resources::open()` opens them from the YAML settings and reports every
//! failure, and users can hand in handles of their own. Real SQLite databases and directories,
//! no mocks (the network backends are tested in fsm-runtime/tests/resources.rs).
#![deny(warnings)]

mod support;

use fsm_runtime::resources::{Files, FilesConfig, Resource, ResourceError, ResourceSet, Sqlite};
use fsm_runtime::stream::{IterSource, Pipeline, StreamError, VecSink};
use std::time::{Duration, Instant};
use support::Doc;
use support::Fns;
use support::machines::{all_resources, resilient_resources, resources};

const LEDGER: &str = "CREATE TABLE ledger (value INTEGER NOT NULL, state TEXT NOT NULL)";

#[test]
fn a_transform_writes_to_sqlite_and_a_check_reads_a_file_through_ctx() {
    // The settings of the YAML: a database in memory, the committed `fixtures/limits` (max 10).
    let opened = resources::LedgerResources::open().unwrap();
    opened.db.execute_batch(LEDGER).unwrap();
    let machine = resources::Ledger::new(Fns, opened);

    let ok = machine.run(Doc::new(7)).unwrap();
    assert_eq!(ok.end, resources::LedgerEnd::Recorded);
    assert_eq!(ok.data.log, ["record", "recorded 1"]);

    let over = machine.run(Doc::new(11)).unwrap();
    assert_eq!(over.end, resources::LedgerEnd::Rejected);
    let error = over.error.expect("the check's error");
    assert_eq!(error.function, "within_limit");
    assert!(error.error.to_string().contains("over the limit 10"), "{error:?}");

    let rows: Vec<(i64, String)> = machine
        .resources()
        .db
        .query_map("SELECT value, state FROM ledger", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(rows, [(7, "record".to_owned())]);
}

#[test]
fn users_hand_in_their_own_handles_and_parallel_runs_share_them() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = Files::from_config(&FilesConfig::new(tmp.path().join("limits")).create(true)).unwrap();
    limits.write("max.txt", "100\n").unwrap();
    let db_path = tmp.path().join("ledger.db");
    let db = Sqlite::open(db_path.to_str().unwrap()).unwrap();
    db.execute_batch(LEDGER).unwrap();
    let machine = resources::Ledger::new(Fns, resources::LedgerResources { db, limits });

    std::thread::scope(|s| {
        for worker in 0..4 {
            let machine = &machine;
            s.spawn(move || {
                for i in 0..25 {
                    let out = machine.run(Doc::new(worker * 25 + i)).unwrap();
                    assert_eq!(out.end, resources::LedgerEnd::Recorded);
                }
            });
        }
    });

    // Another connection to the same file sees every record.
    let other = Sqlite::open(db_path.to_str().unwrap()).unwrap();
    let (n, sum): (i64, i64) = other
        .query_row("SELECT count(*), sum(value) FROM ledger", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!((n, sum), (100, (0..100).sum()));
}

#[test]
fn a_failing_resource_call_follows_the_error_arc_with_its_cause() {
    // No `max.txt`: the check fails with the file error, and the run goes to `rejected`.
    let tmp = tempfile::tempdir().unwrap();
    let machine = resources::Ledger::new(
        Fns,
        resources::LedgerResources {
            db: Sqlite::open(":memory:").unwrap(),
            limits: Files::open(tmp.path()).unwrap(),
        },
    );
    let out = machine.run(Doc::new(1)).unwrap();
    assert_eq!(out.end, resources::LedgerEnd::Rejected);
    let error = out.error.unwrap();
    let source = std::error::Error::source(&error.error).expect("the resource error is the source");
    let cause = source.downcast_ref::<ResourceError>().expect("a ResourceError");
    assert!(matches!(cause, ResourceError::Io { .. }), "{cause:?}");
}

#[test]
fn open_reports_every_resource_that_failed() {
    // `warehouse` and `assistant` read environment variables that no test sets.
    let error = all_resources::ServicesResources::open().unwrap_err();
    let failed: Vec<&str> = error.failures().iter().map(|f| f.name).collect();
    assert_eq!(failed, ["warehouse", "assistant"]);
    for failure in error.failures() {
        assert!(matches!(failure.error, ResourceError::Env { .. }), "{failure:?}");
        assert_eq!(failure.attempts, 1);
    }
    let text = error.to_string();
    assert!(text.contains("2 resources could not be opened"), "{text}");
    assert!(text.contains("FSM_TEST_SERVICES_POSTGRES_URL"), "{text}");
}

#[test]
fn open_retries_what_declares_retries_and_reports_the_attempts() {
    // `spool` (`fixtures/.late_spool`, 8 retries from 20 ms) appears 150 ms after `open()`
    // starts; `rates` (2 retries) never answers; `warehouse` (2 retries) lacks its variable,
    // which no retry can fix; `assistant` has no retries.
    let spool = std::path::Path::new("fixtures/.late_spool");
    let _ = std::fs::remove_dir_all(spool);
    let creator = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        std::fs::create_dir(spool).unwrap();
    });
    let started = Instant::now();
    let error = resilient_resources::ResilientResources::open().unwrap_err();
    let took = started.elapsed();
    creator.join().unwrap();
    std::fs::remove_dir_all(spool).unwrap();
    assert!(took >= Duration::from_millis(150), "{took:?}");
    let failed: Vec<(&str, u32)> = error.failures().iter().map(|f| (f.name, f.attempts)).collect();
    assert_eq!(failed, [("warehouse", 1), ("rates", 3), ("assistant", 1)]);
    let text = error.to_string();
    assert!(
        text.contains("`rates`: ") && text.contains("(after 3 attempts)"),
        "{text}"
    );
}

#[test]
fn health_lists_every_unhealthy_resource() {
    let tmp = tempfile::tempdir().unwrap();
    let limits_dir = tmp.path().join("limits");
    let opened = resources::LedgerResources {
        db: Sqlite::open(":memory:").unwrap(),
        limits: Files::from_config(&FilesConfig::new(&limits_dir).create(true)).unwrap(),
    };
    opened.health().unwrap();
    std::fs::remove_dir(&limits_dir).unwrap();
    let error = opened.health().unwrap_err();
    let names: Vec<&str> = error.unhealthy().iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["limits"]);
    assert!(
        error.to_string().starts_with("resource `limits` is unhealthy: "),
        "{error}"
    );
    // The YAML's `health_check_interval`: `limits` only.
    let watched: Vec<(&str, Duration)> = opened.watched().iter().map(|w| (w.name, w.interval)).collect();
    assert_eq!(watched, [("limits", Duration::from_millis(50))]);
}

#[test]
fn a_pipeline_watching_the_resources_stops_when_one_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let limits_dir = tmp.path().join("limits");
    let limits = Files::from_config(&FilesConfig::new(&limits_dir).create(true)).unwrap();
    limits.write("max.txt", "1000000\n").unwrap();
    let db = Sqlite::open(":memory:").unwrap();
    db.execute_batch(LEDGER).unwrap();
    let machine = resources::Ledger::new(Fns, resources::LedgerResources { db, limits });

    // A slow source (at least 1 ms a record: 100 s for all) that removes the directory at record
    // 200 and counts what it is asked for: the pipeline stops long before the end (a check every
    // 50 ms).
    let read = std::sync::atomic::AtomicUsize::new(0);
    let source = IterSource::new((0..100_000).map(|i| {
        read.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1));
        if i == 200 {
            std::fs::remove_dir_all(&limits_dir).unwrap();
        }
        Doc::new(i)
    }));
    let error = Pipeline::new(&machine)
        .chunk_size(10)
        .default_sink(VecSink::new())
        .watch_health(machine.resources())
        .run(source)
        .unwrap_err();
    let read = read.into_inner();
    assert!((201..100_000).contains(&read), "{read} records read");
    match error {
        StreamError::Unhealthy(e) => {
            let names: Vec<&str> = e.unhealthy().iter().map(|(name, _)| *name).collect();
            assert_eq!(names, ["limits"]);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn machines_without_resources_keep_the_plain_context() {
    // A function of a machine without resources takes `Context<'_>`, which is `Context<'_, ()>`.
    fn takes(_: &mut fsm_runtime::Context<'_>) {}
    let mut ctx = fsm_runtime::Context::new("m", "main", "s", None);
    takes(&mut ctx);
    let (): () = *ctx.resources();
}

#[test]
fn handles_are_send_and_sync() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<resources::LedgerResources>();
    shared::<all_resources::ServicesResources>();
    shared::<resilient_resources::ResilientResources>();
}
