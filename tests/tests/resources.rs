//! Machines with resources: functions reach typed handles through `ctx.resources()`, the
//! generated `<Machine>Resources::open()` opens them from the YAML settings and reports every
//! failure, and users can hand in handles of their own. Real SQLite databases and directories,
//! no mocks (the network backends are tested in fsm-runtime/tests/resources.rs).
#![deny(warnings)]

mod support;

use fsm_runtime::resources::{Files, FilesConfig, Resource, ResourceError, Sqlite};
use support::Doc;
use support::Fns;
use support::machines::{all_resources, resources};

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
}
