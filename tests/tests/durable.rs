//! Durable runs: a `reference` run saves its position (state, push-arc frames, pending
//! compensations) with its record in the same write, and `resume_stored` continues it from the
//! store after a crash. The crash is simulated at every save of a saga (a store that lets the
//! first n writes through and none after, as a process killed after its n-th save), then the run
//! is resumed from the real store: it must end as an uninterrupted run does, with the same record.
//! On SQLite and on PostgreSQL (`FSM_TEST_POSTGRES_URL`; skipped without it, failing under
//! `CI=true`), and in memory.
#![deny(warnings)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fsm_runtime::RunError;
use fsm_runtime::resources::{Postgres, Sqlite};
use fsm_runtime::store::{
    ByKey, Keyed, MemoryStore, PostgresStore, RecordStore, SavedPhase, SavedRun, SqliteStore, StoreError, Versioned,
};
use support::Doc;

mod saga {
    use fsm_runtime::FnError;

    fsm::fsm! {
        /// Reserve a flight, then (in a pushed network) a hotel and breakfast, charge, confirm.
        machine Saga {
            data: crate::support::Doc;
            data_mode: reference;
            main_network: main;
            errors { declined }
            network main {
                start state flight { transform: reserve_flight; compensate: release_flight; }
                state payment { transform: charge; compensate: refund; on_error: [declined] -> cancelled; }
                end state confirmed { transform: confirm; }
                end state cancelled { compensate: true; }
                flight -> push stay return payment;
                payment -> confirmed;
            }
            network stay {
                start state hotel { transform: reserve_hotel; compensate: release_hotel; }
                state breakfast { data_mode: direct; transform: add_breakfast; }
                end state booked;
                hotel -> breakfast;
                breakfast -> booked;
            }
        }
    }

    /// `value` says what goes wrong: 0 nothing, 1 the charge is declined (the run ends in
    /// `cancelled`, compensating), 2 the charge fails of no kind (the run fails, compensating),
    /// 3 the charge is declined and releasing the hotel always fails, 4 the flight (the start
    /// state) cannot be reserved (the run fails at once).
    pub struct Agent;

    fn log(data: &mut crate::support::Doc, what: &str) -> Result<(), FnError> {
        data.log.push(what.to_owned());
        Ok(())
    }

    type Ctx<'a> = fsm_runtime::Context<'a>;
    type D = crate::support::Doc;

    impl SagaFns for Agent {
        fn reserve_flight(&self, d: &mut D, _: &mut Ctx<'_>) -> Result<(), FnError> {
            if d.value == 4 {
                return Err("no seats".into());
            }
            log(d, "reserve_flight")
        }
        fn release_flight(&self, d: &mut D, _: &mut Ctx<'_>) -> Result<(), FnError> {
            log(d, "release_flight")
        }
        fn reserve_hotel(&self, d: &mut D, _: &mut Ctx<'_>) -> Result<(), FnError> {
            log(d, "reserve_hotel")
        }
        fn release_hotel(&self, d: &mut D, _: &mut Ctx<'_>) -> Result<(), FnError> {
            if d.value == 3 {
                return Err("the hotel is unreachable".into());
            }
            log(d, "release_hotel")
        }
        fn add_breakfast(&self, d: &mut D, _: &mut Ctx<'_>) -> Result<(), FnError> {
            log(d, "add_breakfast")
        }
        fn charge(&self, d: &mut D, _: &mut Ctx<'_>) -> Result<(), FnError> {
            log(d, "charge")?;
            match d.value {
                0 => Ok(()),
                2 => Err("the bank is down".into()),
                _ => Err(SagaErrorKind::Declined.error("card refused")),
            }
        }
        fn refund(&self, d: &mut D, _: &mut Ctx<'_>) -> Result<(), FnError> {
            log(d, "refund")
        }
        fn confirm(&self, d: &mut D, _: &mut Ctx<'_>) -> Result<(), FnError> {
            log(d, "confirm")
        }
    }
}

use saga::{Agent, Saga, SagaEnd};

type Store = Arc<dyn RecordStore<Doc>>;

/// A store that lets the first `limit` writes through, and refuses every one after, as a process
/// killed right after its `limit`-th save would: nothing after it reaches the database.
struct Crashing {
    inner: Store,
    limit: usize,
    writes: AtomicUsize,
}

impl Crashing {
    fn new(inner: Store, limit: usize) -> Self {
        Crashing {
            inner,
            limit,
            writes: AtomicUsize::new(0),
        }
    }

    fn admit(&self) -> Result<(), StoreError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) < self.limit {
            Ok(())
        } else {
            Err(StoreError::Backend("the process is dead".into()))
        }
    }
}

impl RecordStore<Doc> for Crashing {
    fn load(&self, key: &str) -> Result<Versioned<Doc>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &str, data: &Doc, expected: u64) -> Result<u64, StoreError> {
        self.admit()?;
        self.inner.save(key, data, expected)
    }
    fn insert(&self, key: &str, data: &Doc) -> Result<u64, StoreError> {
        self.inner.insert(key, data)
    }
    fn load_run(&self, key: &str) -> Result<(Versioned<Doc>, Option<SavedRun>), StoreError> {
        self.inner.load_run(key)
    }
    fn save_run(&self, key: &str, data: &Doc, expected: u64, run: &SavedRun) -> Result<u64, StoreError> {
        self.admit()?;
        self.inner.save_run(key, data, expected, run)
    }
    fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        self.inner.unfinished()
    }
}

/// How a run ended, comparably: the end state, or the error's message.
#[derive(Debug, PartialEq)]
enum Ended {
    At(SagaEnd),
    Failed(String),
}

fn ended(result: fsm_runtime::RunResult<SagaEnd, Doc>) -> (Ended, Doc) {
    match result {
        Ok(out) => (Ended::At(out.end), out.data),
        Err(failure) => (Ended::Failed(failure.error.to_string()), failure.data),
    }
}

/// For every case of the saga and every number of saves n: a run killed after its n-th save,
/// resumed from `fresh()`'s store, ends as the uninterrupted run did, with the same record, and
/// is saved as over.
fn resume_after_every_save(fresh: &dyn Fn() -> Store) {
    let machine = Saga::new(Agent);
    for value in 0..=3 {
        // The uninterrupted run, counting its writes.
        let store = fresh();
        store.insert("trip", &Doc::new(value)).unwrap();
        let counting = Arc::new(Crashing::new(store.clone(), usize::MAX));
        let (end, data) = ended(machine.resume_stored(counting.clone(), "trip").unwrap());
        let saves = counting.writes.load(Ordering::SeqCst);
        let stored = store.load("trip").unwrap().data;
        assert_eq!(stored, data, "case {value}: the store holds what the run returned");
        let expected_log: &[&str] = match value {
            0 => &["reserve_flight", "reserve_hotel", "add_breakfast", "charge", "confirm"],
            1 | 2 => &["reserve_flight", "reserve_hotel", "release_hotel", "release_flight"],
            _ => &["reserve_flight", "reserve_hotel", "release_flight"],
        };
        assert_eq!(stored.log, expected_log, "case {value}");
        match (value, &end) {
            (0, Ended::At(SagaEnd::Confirmed)) | (1, Ended::At(SagaEnd::Cancelled)) => {}
            (2, Ended::Failed(e)) => assert!(e.contains("the bank is down"), "{e}"),
            (3, Ended::Failed(e)) => assert!(e.contains("the hotel is unreachable"), "{e}"),
            _ => panic!("case {value}: {end:?}"),
        }
        assert!(saves >= 3, "case {value}: {saves} saves");
        let (_, saved) = store.load_run("trip").unwrap();
        assert!(saved.unwrap().is_finished(), "case {value}");
        assert!(store.unfinished().unwrap().is_empty());

        let (mut compensating, mut pushed) = (false, false);
        for n in 0..=saves {
            let store = fresh();
            store.insert("trip", &Doc::new(value)).unwrap();
            let crashing = Arc::new(Crashing::new(store.clone(), n));
            // The run goes on in memory after the "crash", its writes refused: what it does then
            // is lost with the process.
            let _ = machine.resume_stored(crashing, "trip").unwrap();
            let (saved_record, saved) = store.load_run("trip").unwrap();
            if n == 0 {
                assert!(saved.is_none(), "nothing saved yet");
            }
            let was_finished = saved.as_ref().is_some_and(SavedRun::is_finished);
            if let Some(saved) = &saved {
                compensating |= matches!(saved.phase, SavedPhase::Compensating { .. });
                pushed |= !saved.frames.is_empty();
            }
            assert_eq!(
                store.unfinished().unwrap().is_empty(),
                n == 0 || was_finished,
                "case {value}, crash after save {n}: {saved:?}"
            );
            let (resumed_end, resumed_data) = ended(machine.resume_stored(store.clone(), "trip").unwrap());
            let context = format!("case {value}, crash after save {n} of {saves} ({saved:?}, {saved_record:?})");
            assert_eq!(resumed_data, data, "{context}");
            assert_eq!(store.load("trip").unwrap().data, data, "{context}");
            match (&end, &resumed_end) {
                (Ended::At(a), Ended::At(b)) => assert_eq!(a, b, "{context}"),
                // Resumed after the failure: the saved message, with the failures since.
                (Ended::Failed(a), Ended::Failed(b)) => {
                    let cause = if value == 2 {
                        "the bank is down"
                    } else {
                        "the hotel is unreachable"
                    };
                    assert!(a.contains(cause) && b.contains(cause), "{context}: {a} / {b}")
                }
                _ => panic!("{context}: {end:?} / {resumed_end:?}"),
            }
            let (_, saved) = store.load_run("trip").unwrap();
            assert!(saved.unwrap().is_finished(), "{context}");
            assert!(store.unfinished().unwrap().is_empty(), "{context}");
        }
        // The crashes hit a run inside the pushed network, and (when it compensates) one
        // in the middle of its compensations.
        assert!(pushed, "case {value}");
        assert_eq!(compensating, value > 0, "case {value}");
    }
}

fn sqlite_store() -> Store {
    Arc::new(SqliteStore::new(Sqlite::open(":memory:").unwrap(), "durable_trips").unwrap())
}

#[test]
fn a_saga_resumed_after_a_crash_at_any_save_ends_as_if_uninterrupted_on_sqlite() {
    resume_after_every_save(&sqlite_store);
}

#[test]
fn a_saga_resumed_after_a_crash_at_any_save_ends_as_if_uninterrupted_in_memory() {
    resume_after_every_save(&|| Arc::new(MemoryStore::new()));
}

fn postgres_url() -> Option<String> {
    let url = std::env::var("FSM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but FSM_TEST_POSTGRES_URL is not set: the PostgreSQL tests cannot be skipped in CI"
        );
        println!("skipped: set FSM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run");
    }
    url
}

#[test]
fn a_saga_resumed_after_a_crash_at_any_save_ends_as_if_uninterrupted_on_postgres() {
    let Some(url) = postgres_url() else {
        return;
    };
    let db = Postgres::connect(&url).unwrap();
    let table = format!("fsm_durable_saga_{}", std::process::id());
    let fresh = || -> Store {
        db.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).unwrap();
        Arc::new(PostgresStore::new(db.clone(), &table).unwrap())
    };
    resume_after_every_save(&fresh);

    // A table of before durable runs gets their columns, and its rows load.
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (key TEXT PRIMARY KEY, version BIGINT NOT NULL, data TEXT NOT NULL);
         INSERT INTO {table} VALUES ('old', 1, '{{\"value\":0,\"valid\":false,\"log\":[],\"fail\":false}}')"
    ))
    .unwrap();
    let store: Store = Arc::new(PostgresStore::new(db.clone(), &table).unwrap());
    assert!(store.unfinished().unwrap().is_empty());
    let out = Saga::new(Agent).resume_stored(store.clone(), "old").unwrap().unwrap();
    assert_eq!(out.end, SagaEnd::Confirmed);
    db.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).unwrap();
}

#[test]
fn the_saved_position_goes_with_the_record_and_says_where_the_run_is() {
    let store = sqlite_store();
    store.insert("trip", &Doc::new(1)).unwrap();
    let machine = Saga::new(Agent);
    let mut run = machine.start_durable(store.clone(), "trip").unwrap();
    // Step to the hotel (pushed network): its save says so, with the frame and the flight.
    run.step().unwrap();
    run.step().unwrap();
    let (record, saved) = store.load_run("trip").unwrap();
    let saved = saved.unwrap();
    assert_eq!(record.data.log, ["reserve_flight", "reserve_hotel"]);
    assert_eq!(saved.phase, SavedPhase::Running);
    assert_eq!(saved.at.to_string(), "stay.hotel");
    let frames: Vec<String> = saved.frames.iter().map(|f| f.as_ref().unwrap().to_string()).collect();
    assert_eq!(frames, ["main.payment"]);
    let pending: Vec<String> = saved.pending.iter().map(ToString::to_string).collect();
    assert_eq!(pending, ["main.flight", "stay.hotel"]);
    assert_eq!(store.unfinished().unwrap(), ["trip"]);
    drop(run);

    // Resumed in another "process": it continues there (no flight reserved twice).
    let (end, data) = ended(Saga::new(Agent).resume_stored(store.clone(), "trip").unwrap());
    assert_eq!(end, Ended::At(SagaEnd::Cancelled));
    assert_eq!(
        data.log,
        ["reserve_flight", "reserve_hotel", "release_hotel", "release_flight"]
    );
    // A finished run resumed again answers its outcome, running nothing.
    let again = Saga::new(Agent).resume_stored(store.clone(), "trip").unwrap().unwrap();
    assert_eq!((again.end, again.data), (SagaEnd::Cancelled, data));
}

#[test]
fn a_run_that_fails_in_its_start_state_is_saved_as_failed_not_left_unfinished() {
    let store = sqlite_store();
    store.insert("trip", &Doc::new(4)).unwrap();
    let (end, data) = ended(Saga::new(Agent).start_durable(store.clone(), "trip").unwrap().finish());
    assert_eq!(
        end,
        Ended::Failed("reserve_flight failed in state `flight`: no seats".into())
    );
    assert!(data.log.is_empty());
    // The store says the run is over, failed: a restart does not pick it up again.
    let (_, saved) = store.load_run("trip").unwrap();
    assert!(
        matches!(saved.as_ref().map(|s| &s.phase), Some(SavedPhase::Failed { .. })),
        "{saved:?}"
    );
    assert!(store.unfinished().unwrap().is_empty());
}

#[test]
fn a_corrupted_or_unknown_position_is_a_clear_error() {
    let db = Sqlite::open(":memory:").unwrap();
    let store: Store = Arc::new(SqliteStore::new(db.clone(), "durable_bad").unwrap());
    store.insert("trip", &Doc::new(0)).unwrap();
    let cases = [
        ("garbage", "not a saved run position"),
        (
            "fsm-run 9\nphase\trunning\n",
            "format 9, which this runtime does not read",
        ),
        (
            "fsm-run 1\nphase\trunning\nat\tmain\tnowhere\ntransitions\t1\n",
            "state `nowhere` of network `main`",
        ),
        (
            "fsm-run 1\nphase\trunning\nat\tmain\tflight\ntransitions\tmany\n",
            "not a count",
        ),
        (
            "fsm-run 1\nphase\tfinished\nat\tmain\tflight\ntransitions\t1\n",
            "not an end of the run",
        ),
        (
            "fsm-run 1\nphase\trunning\nat\tstay\thotel\ntransitions\t1\nframe\nframe\n",
            "more than machine `Saga` nests",
        ),
    ];
    for (text, expected) in cases {
        db.with(|c| c.execute("UPDATE durable_bad SET position = ?1, finished = 0", [text]))
            .unwrap();
        let err = Saga::new(Agent).resume_stored(store.clone(), "trip").unwrap_err();
        assert!(matches!(err, StoreError::Position { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(expected), "{text:?}: {message}");
        assert!(message.contains("key `trip`"), "{message}");
    }
}

#[test]
fn rows_of_a_table_from_before_durable_runs_still_load() {
    let db = Sqlite::open(":memory:").unwrap();
    db.execute_batch(
        "CREATE TABLE trips (key TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
         INSERT INTO trips VALUES ('old', 3, '{\"value\":0,\"valid\":false,\"log\":[\"before\"],\"fail\":false}');",
    )
    .unwrap();
    let store: Store = Arc::new(SqliteStore::new(db.clone(), "trips").unwrap());
    assert_eq!(store.load("old").unwrap().version, 3);
    let (_, saved) = store.load_run("old").unwrap();
    assert!(saved.is_none());
    assert!(store.unfinished().unwrap().is_empty());
    // Opened again: the columns are there already.
    let store: Store = Arc::new(SqliteStore::new(db, "trips").unwrap());
    let out = Saga::new(Agent).resume_stored(store.clone(), "old").unwrap().unwrap();
    assert_eq!(out.end, SagaEnd::Confirmed);
    assert_eq!(out.data.log[0], "before");
    // Plain `run_stored` still works on it, and saves no position.
    store.insert("plain", &Doc::new(0)).unwrap();
    Saga::new(Agent).run_stored(store.clone(), "plain").unwrap().unwrap();
    assert!(store.load_run("plain").unwrap().1.is_none());
}

#[test]
fn a_pipeline_resumes_the_unfinished_keys_of_a_store() {
    use fsm_runtime::stream::{IterSource, Pipeline, VecSink};
    let store = sqlite_store();
    for (i, value) in [0, 1, 0, 2, 0].into_iter().enumerate() {
        let key = format!("trip-{i}");
        store.insert(&key, &Doc::new(value)).unwrap();
        // Each killed after its second save.
        let _ = Saga::new(Agent).resume_stored(Arc::new(Crashing::new(store.clone(), 2)), key);
    }
    let by_key = ByKey::durable(Saga::new(Agent), store.clone());
    let unfinished = by_key.unfinished().unwrap();
    let keys: Vec<&str> = unfinished.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, ["trip-0", "trip-1", "trip-2", "trip-3", "trip-4"]);
    let (confirmed, cancelled) = (VecSink::new(), VecSink::new());
    let dead = VecSink::new();
    let summary = Pipeline::new(&by_key)
        .route("confirmed", confirmed.clone())
        .route("cancelled", cancelled.clone())
        .dead_letter(dead.clone())
        .run(IterSource::new(unfinished))
        .unwrap();
    assert!(summary.is_balanced());
    let confirmed: Vec<Keyed<Doc>> = confirmed.take();
    assert_eq!(confirmed.len(), 3);
    assert_eq!(cancelled.take().len(), 1);
    assert_eq!(dead.take().len(), 1, "the run that failed");
    assert!(store.unfinished().unwrap().is_empty());
    for k in confirmed {
        assert_eq!(
            k.record.unwrap().log,
            ["reserve_flight", "reserve_hotel", "add_breakfast", "charge", "confirm"]
        );
    }
}

#[test]
fn a_store_that_keeps_no_positions_says_so() {
    /// A store of one's own, implementing only what a plain `reference` run needs.
    struct Plain(MemoryStore<Doc>);
    impl RecordStore<Doc> for Plain {
        fn load(&self, key: &str) -> Result<Versioned<Doc>, StoreError> {
            self.0.load(key)
        }
        fn save(&self, key: &str, data: &Doc, expected: u64) -> Result<u64, StoreError> {
            self.0.save(key, data, expected)
        }
        fn insert(&self, key: &str, data: &Doc) -> Result<u64, StoreError> {
            self.0.insert(key, data)
        }
    }
    let store: Store = Arc::new(Plain(MemoryStore::new()));
    store.insert("trip", &Doc::new(0)).unwrap();
    assert!(matches!(store.unfinished(), Err(StoreError::Unsupported(_))));
    // The durable run's saves are refused: each state fails with the reason.
    let failure = Saga::new(Agent)
        .resume_stored(store.clone(), "trip")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&failure.error, RunError::Function(e) if e.error.to_string().contains("does not support saving a run's position")),
        "{}",
        failure.error
    );
}
