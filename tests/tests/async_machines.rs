//! Machines with async functions (`async: true`): `run_async`, `step_async`, `handle_async`, on
//! current-thread and multi-thread tokio runtimes; retries that wait without a thread, a timeout
//! that cancels the call (a local TCP server sees the connection closed), a circuit breaker that
//! opens and closes, a bulkhead that bounds the calls open at once.
#![deny(warnings)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use fsm_runtime::{Context, FnError, Status};
use support::Doc;
use support::machines::async_api::{AsyncApi, AsyncApiEnd, AsyncApiFns, AsyncApiState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The functions of `AsyncApi`: counters for what the tests check, and optionally a server that
/// `slow_call` asks and that never answers.
#[derive(Default)]
struct Api {
    /// `fetch` fails on its first `failures` calls.
    failures: u32,
    fetches: AtomicU32,
    /// `slow_call` sends a request here and waits for an answer that never comes.
    silent_server: Option<SocketAddr>,
    guarded_calls: AtomicU32,
    open_now: AtomicUsize,
    open_most: AtomicUsize,
    fetching_now: AtomicUsize,
    fetching_most: AtomicUsize,
}

impl AsyncApiFns for Api {
    async fn fetch(&self, data: &mut Doc, _: &mut Context<'_>) -> Result<(), FnError> {
        let call = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        // Changed before the failure: copy mode rolls the failed runs back.
        data.value += 1;
        let now = self.fetching_now.fetch_add(1, Ordering::SeqCst) + 1;
        self.fetching_most.fetch_max(now, Ordering::SeqCst);
        // Later records wait less: with several in flight they end out of input order.
        tokio::time::sleep(Duration::from_millis(10 - data.value.rem_euclid(10) as u64)).await;
        self.fetching_now.fetch_sub(1, Ordering::SeqCst);
        if call <= self.failures {
            return Err(FnError::new(format!("503 service unavailable (call {call})")));
        }
        data.log.push(format!("fetched on call {call}"));
        Ok(())
    }

    async fn note(&self, data: &mut Doc, _: &mut Context<'_>) {
        data.log.push("note".into());
    }

    async fn slow_call(&self, data: &mut Doc, _: &mut Context<'_>) -> Result<(), FnError> {
        if let Some(addr) = self.silent_server {
            let mut stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| FnError::with_source("the silent server", e))?;
            stream
                .write_all(b"GET / HTTP/1.1\r\n\r\n")
                .await
                .map_err(|e| FnError::with_source("the silent server", e))?;
            let mut answer = Vec::new();
            stream
                .read_to_end(&mut answer)
                .await
                .map_err(|e| FnError::with_source("the silent server", e))?;
        }
        data.log.push("slow".into());
        Ok(())
    }

    async fn guarded_call(&self, data: &mut Doc, _: &mut Context<'_>) -> Result<(), FnError> {
        self.guarded_calls.fetch_add(1, Ordering::SeqCst);
        let now = self.open_now.fetch_add(1, Ordering::SeqCst) + 1;
        self.open_most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.open_now.fetch_sub(1, Ordering::SeqCst);
        if data.fail {
            return Err(FnError::new(format!("asked to fail at {}", data.value)));
        }
        Ok(())
    }

    async fn limited_call(&self, data: &mut Doc, _: &mut Context<'_>) -> Result<(), FnError> {
        data.log.push("limited".into());
        Ok(())
    }

    fn mark_validity(&self, data: &mut Doc, _: &mut Context<'_>) -> Result<(), FnError> {
        data.valid = data.value >= 0;
        data.log.push("mark_validity".into());
        Ok(())
    }

    fn is_valid(&self, data: &Doc) -> bool {
        data.valid
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_machine_runs_on_a_current_thread_runtime() {
    let machine = AsyncApi::new(Api::default());
    let out = machine.run_async(Doc::new(1)).await.unwrap();
    assert_eq!(out.end, AsyncApiEnd::Done);
    assert_eq!(out.data.value, 2);
    assert_eq!(
        out.data.log,
        ["fetched on call 1", "note", "slow", "mark_validity", "limited"]
    );
    assert_eq!(out.transitions, 5);

    // One transition at a time: the same path.
    let mut run = machine.start(Doc::new(1));
    let mut path = Vec::new();
    loop {
        match run.step_async().await.unwrap() {
            Status::Finished(end) => {
                assert_eq!(end, AsyncApiEnd::Done);
                break;
            }
            Status::Running(at) | Status::Waiting(at) => path.push(at),
        }
    }
    use AsyncApiState::*;
    assert_eq!(path, [Start, Fetching, Slow, Guarded, Paced]);
    // A finished run answers `Finished` again.
    assert_eq!(run.step_async().await.unwrap(), Status::Finished(AsyncApiEnd::Done));

    // History, as for a synchronous run.
    let options = machine.options();
    let out = machine
        .with_options(fsm_runtime::RunOptions {
            history: true,
            ..options
        })
        .run_async(Doc::new(1))
        .await
        .unwrap();
    let states: Vec<&str> = out.history.iter().map(|h| h.state).collect();
    assert_eq!(states, ["start", "fetching", "slow", "guarded", "paced", "done"]);
}

#[tokio::test(flavor = "current_thread")]
async fn retries_wait_without_a_thread_and_roll_back_each_failed_run() {
    // Two 503s, three attempts: the third run succeeds; the two failed ones were rolled back (the
    // record has one `+ 1`, not three).
    let machine = AsyncApi::new(Api {
        failures: 2,
        ..Api::default()
    });
    let out = machine.run_async(Doc::new(1)).await.unwrap();
    assert_eq!(out.end, AsyncApiEnd::Done);
    assert_eq!(out.data.value, 2);
    assert_eq!(out.data.log[0], "fetched on call 3");
    assert_eq!(machine.fns().fetches.load(Ordering::SeqCst), 3);

    // Three 503s: the attempts run out; the error says how many runs failed.
    let machine = AsyncApi::new(Api {
        failures: 3,
        ..Api::default()
    });
    let out = machine.run_async(Doc::new(1)).await.unwrap();
    assert_eq!((out.end, out.data.value), (AsyncApiEnd::Failed, 1));
    let error = out.error.unwrap();
    assert_eq!((error.state, error.function), ("fetching", "fetch"));
    assert!(
        error
            .to_string()
            .contains("failed 3 times: 503 service unavailable (call 3)"),
        "{error}"
    );
}

/// A server that accepts one connection, reads the request, never answers, and reports what it
/// saw when the client closed the connection: the bytes it read before the end of the stream.
async fn silent_server() -> (SocketAddr, tokio::sync::oneshot::Receiver<usize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = 0;
        let mut buf = [0u8; 256];
        // `read` answers 0 at the end of the stream: the client closed its side.
        while let Ok(n @ 1..) = socket.read(&mut buf).await {
            seen += n;
        }
        let _ = closed_tx.send(seen);
    });
    (addr, closed_rx)
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_cancels_the_call_and_the_server_sees_the_connection_closed() {
    let (addr, closed) = silent_server().await;
    let machine = AsyncApi::new(Api {
        silent_server: Some(addr),
        ..Api::default()
    });
    let out = machine.run_async(Doc::new(1)).await.unwrap();
    assert_eq!(out.end, AsyncApiEnd::Failed);
    let error = out.error.unwrap();
    assert_eq!(error.state, "slow");
    assert_eq!(error.function, fsm_runtime::resilience::TIMEOUT_FUNCTION);
    assert!(error.to_string().contains("timeout of 50ms: cancelled"), "{error}");
    // The state's changes are rolled back (`note` ran before the call).
    assert_eq!(out.data.log, ["fetched on call 1"]);
    // The call's future was dropped: its connection closed, which the server saw after reading
    // the whole request.
    let seen = closed.await.unwrap();
    assert_eq!(seen, b"GET / HTTP/1.1\r\n\r\n".len());
}

#[tokio::test(flavor = "current_thread")]
async fn a_bulkhead_bounds_the_calls_open_at_once_and_a_breaker_opens_and_closes() {
    // Twenty runs at once on one thread: never more than two inside `guarded` (`max_concurrency:
    // 2`), and two at a time since the others wait for a place.
    let machine = Arc::new(AsyncApi::new(Api::default()));
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..20 {
        let machine = machine.clone();
        runs.spawn(async move { machine.run_async(Doc::new(i)).await });
    }
    while let Some(done) = runs.join_next().await {
        assert_eq!(done.unwrap().unwrap().end, AsyncApiEnd::Done);
    }
    assert_eq!(machine.fns().guarded_calls.load(Ordering::SeqCst), 20);
    assert_eq!(machine.fns().open_most.load(Ordering::SeqCst), 2);

    // Two failures in a row open `guarded`'s breaker (one per state, for every run in the
    // process): the next run fails at once, without a call.
    for _ in 0..2 {
        let out = machine.run_async(Doc::failing(1)).await.unwrap();
        assert_eq!(out.error.unwrap().function, "guarded_call");
    }
    let out = machine.run_async(Doc::new(1)).await.unwrap();
    assert_eq!(out.end, AsyncApiEnd::Failed);
    assert_eq!(out.error.unwrap().function, fsm_runtime::resilience::BREAKER_FUNCTION);
    assert_eq!(machine.fns().guarded_calls.load(Ordering::SeqCst), 22);

    // After `reset_seconds` (1 s) a run may try again; its success closes the breaker, so one
    // failure after it does not open it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(machine.run_async(Doc::new(1)).await.unwrap().end, AsyncApiEnd::Done);
    assert!(machine.run_async(Doc::failing(1)).await.unwrap().error.is_some());
    assert_eq!(machine.run_async(Doc::new(1)).await.unwrap().end, AsyncApiEnd::Done);
    assert_eq!(machine.fns().guarded_calls.load(Ordering::SeqCst), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_an_async_machine_move_between_threads() {
    // `tokio::spawn` on a multi-thread runtime: the run's future is `Send`.
    let machine = Arc::new(AsyncApi::new(Api::default()));
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let machine = machine.clone();
            tokio::spawn(async move { machine.run_async(Doc::new(i)).await })
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        let out = run.await.unwrap().unwrap();
        assert_eq!((out.end, out.data.value), (AsyncApiEnd::Done, i as i64 + 1));
    }
}

/// An event-driven machine with an async function, in the DSL (`name: async`).
mod door {
    fsm::fsm! {
        machine Door {
            data: crate::support::Doc;
            data_mode: direct;
            events { Open, Close(u32) }
            functions { unlock: async, log_close: async infallible }
            start state closed;
            state opened { transform: unlock; on_error: jammed; }
            state closing { transform: log_close; }
            state jammed;
            end state gone;
            closed -> opened on Open;
            opened -> closing on Close;
            closing -> closed;
            jammed -> gone on Open;
        }
    }

    pub struct Lock;

    impl DoorFns for Lock {
        async fn unlock(
            &self,
            data: &mut crate::support::Doc,
            _: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), fsm_runtime::FnError> {
            tokio::task::yield_now().await;
            if data.fail {
                return Err(fsm_runtime::FnError::new("the lock is stuck"));
            }
            data.log.push("unlocked".into());
            Ok(())
        }

        async fn log_close(&self, data: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) {
            data.log.push("closed".into());
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn handle_async_feeds_events_to_an_async_machine() {
    use door::{Door, DoorEnd, DoorEvent, DoorState, Lock};
    use fsm_runtime::{HandleError, Reject};
    let machine = Door::new(Lock);
    let mut run = machine.start(Doc::new(0));
    assert_eq!(
        run.handle_async(DoorEvent::Open).await.unwrap(),
        Status::Waiting(DoorState::Opened)
    );
    // The event's arc, then the eventless arc back, awaiting `log_close` on the way.
    assert_eq!(
        run.handle_async(DoorEvent::Close(3)).await.unwrap(),
        Status::Waiting(DoorState::Closed)
    );
    assert_eq!(run.data().log, ["unlocked", "closed"]);
    // An event no arc takes is handed back, the run unchanged.
    match run.handle_async(DoorEvent::Close(1)).await {
        Err(HandleError::Rejected { state, reason, .. }) => {
            assert_eq!((state, reason), (DoorState::Closed, Reject::NoArc));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(run.transitions(), 3);

    // A failing async function follows the state's `on_error` arc.
    let mut run = machine.start(Doc::failing(0));
    assert_eq!(
        run.handle_async(DoorEvent::Open).await.unwrap(),
        Status::Waiting(DoorState::Jammed)
    );
    assert_eq!(run.last_error().unwrap().function, "unlock");
    assert_eq!(
        run.handle_async(DoorEvent::Open).await.unwrap(),
        Status::Finished(DoorEnd::Gone)
    );
    match run.handle_async(DoorEvent::Open).await {
        Err(HandleError::Rejected { reason, .. }) => assert_eq!(reason, Reject::Finished),
        other => panic!("{other:?}"),
    }
}

/// A pipeline of an async machine: `concurrency(8)` keeps eight records in flight per worker (the
/// functions count them), output in input order, or in the order the runs end with `unordered()`;
/// the pipeline runs from a current-thread runtime without blocking it.
#[tokio::test(flavor = "current_thread")]
async fn a_pipeline_keeps_records_in_flight_in_order_on_a_current_thread_runtime() {
    use fsm_runtime::stream::{Concurrent, IterSource, Pipeline, VecSink};
    for ordered in [true, false] {
        let machine = Arc::new(AsyncApi::new(Api::default()));
        let done = VecSink::new();
        let mut pipeline = Pipeline::new(Concurrent(machine.clone()))
            .chunk_size(40)
            .concurrency(8)
            .route(AsyncApiEnd::Done, done.clone());
        if !ordered {
            pipeline = pipeline.unordered();
        }
        // The executor stays free while the pipeline runs: a timer on it keeps ticking.
        let ticks = tokio::spawn(async {
            let mut n = 0u32;
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                n += 1;
                if n == 3 {
                    return n;
                }
            }
        });
        let summary = pipeline
            .run_async(IterSource::new((0..100).map(Doc::new)))
            .await
            .unwrap();
        assert_eq!(ticks.await.unwrap(), 3);
        assert_eq!((summary.read, summary.written_total()), (100, 100));
        assert!(summary.is_balanced());
        assert_eq!(machine.fns().fetching_most.load(Ordering::SeqCst), 8);
        let values: Vec<i64> = done.take().iter().map(|d| d.value).collect();
        let mut sorted = values.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=100).collect::<Vec<_>>());
        if ordered {
            assert_eq!(values, sorted);
        } else {
            assert_ne!(values, sorted, "eight at a time, the shorter runs end first");
        }
    }
}

/// A data-driven machine with an async function that may fail, an `on_error` arc and a loop, in
/// the DSL: `run_async` on the lean path (nothing observes the run) and on the general one
/// (history) must agree.
mod retry_loop {
    fsm::fsm! {
        machine RetryLoop {
            data: crate::support::Doc;
            functions { work: async, again: async, is_done }
            start state start;
            state working { transform: work; on_error: recovering; }
            state recovering { transform: again; }
            end state done;
            start -> working;
            working -> done if is_done;
            working -> working;
            recovering -> done;
        }
    }

    #[derive(Clone)]
    pub struct Steps;

    impl RetryLoopFns for Steps {
        async fn work(
            &self,
            data: &mut crate::support::Doc,
            _: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), fsm_runtime::FnError> {
            data.value += 1;
            tokio::task::yield_now().await;
            if data.fail && data.value == 3 {
                return Err(fsm_runtime::FnError::new("work failed"));
            }
            data.log.push(format!("work {}", data.value));
            Ok(())
        }

        async fn again(
            &self,
            data: &mut crate::support::Doc,
            ctx: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), fsm_runtime::FnError> {
            tokio::task::yield_now().await;
            let function = ctx.error().map(|e| e.function).unwrap_or("none");
            data.log.push(format!("recovered from {function}"));
            Ok(())
        }

        fn is_done(&self, data: &crate::support::Doc) -> bool {
            data.value >= 4
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn run_async_answers_the_same_whether_or_not_it_is_observed() {
    use retry_loop::{RetryLoop, Steps};
    let lean = RetryLoop::new(Steps);
    let observed = lean.clone().with_options(fsm_runtime::RunOptions {
        history: true,
        ..lean.options()
    });
    for doc in [Doc::new(0), Doc::failing(0)] {
        let (a, b) = (
            lean.run_async(doc.clone()).await.unwrap(),
            observed.run_async(doc).await.unwrap(),
        );
        assert_eq!((a.end, &a.data, a.transitions), (b.end, &b.data, b.transitions));
        assert_eq!(a.error.map(|e| e.function), b.error.map(|e| e.function));
        assert!(a.history.is_empty());
        assert_eq!(b.history.len() as u32, b.transitions + 1);
    }
    // The failing run: the copy of the record rolled back, the `on_error` arc followed.
    let out = lean.run_async(Doc::failing(0)).await.unwrap();
    assert_eq!(out.data.log, ["work 1", "work 2", "recovered from work"]);
    assert_eq!(out.data.value, 2);
    assert_eq!(out.end, retry_loop::RetryLoopEnd::Done);
    assert_eq!(out.transitions, 5);

    // The step limit: the same error on both paths.
    for history in [false, true] {
        let limited = lean.clone().with_options(fsm_runtime::RunOptions {
            max_transitions: 2,
            history,
        });
        let failure = limited.run_async(Doc::new(0)).await.unwrap_err();
        assert!(
            matches!(
                failure.error,
                fsm_runtime::RunError::StepLimit {
                    limit: 2,
                    state: "working"
                }
            ),
            "{:?}",
            failure.error
        );
    }
}

mod async_trip {
    use fsm_runtime::FnError;

    fsm::fsm! {
        /// The saga of `tests/compensation.rs` with async reservations: flight, hotel, charge;
        /// a declined charge cancels. Compensations are synchronous (the compiler refuses an
        /// async one).
        machine AsyncTrip {
            data: crate::support::Doc;
            data_mode: direct;
            errors { declined }
            functions { reserve_flight: async, reserve_hotel: async, charge: async }
            start state flight { transform: reserve_flight; compensate: release_flight; }
            state hotel { transform: reserve_hotel; compensate: release_hotel; }
            state payment { transform: charge; compensate: refund; on_error: [declined] -> cancelled; }
            end state confirmed;
            end state cancelled { compensate: true; }
            flight -> hotel;
            hotel -> payment;
            payment -> confirmed;
        }
    }

    /// `value` says how the charge goes: 0 it works, 1 it is declined, 2 it fails of no kind.
    pub struct Agent;

    fn log(data: &mut crate::support::Doc, what: &str) {
        data.log.push(what.to_owned());
    }

    impl AsyncTripFns for Agent {
        async fn reserve_flight(
            &self,
            d: &mut crate::support::Doc,
            _: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), FnError> {
            tokio::task::yield_now().await;
            log(d, "reserve_flight");
            Ok(())
        }
        fn release_flight(&self, d: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            log(d, "release_flight");
            Ok(())
        }
        async fn reserve_hotel(
            &self,
            d: &mut crate::support::Doc,
            _: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), FnError> {
            tokio::task::yield_now().await;
            log(d, "reserve_hotel");
            Ok(())
        }
        fn release_hotel(&self, d: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            log(d, "release_hotel");
            Ok(())
        }
        async fn charge(&self, d: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            tokio::task::yield_now().await;
            log(d, "charge");
            match d.value {
                0 => Ok(()),
                2 => Err("the bank is down".into()),
                _ => Err(AsyncTripErrorKind::Declined.error("card refused")),
            }
        }
        fn refund(&self, d: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            log(d, "refund");
            Ok(())
        }
    }
}

/// What the sync saga of `tests/compensation.rs` does, awaited: the states completed are
/// compensated, last first, when the run fails or ends in an end state marked `compensate: true`;
/// the state that failed is not (it did not complete). `run_async`, `finish_async` and
/// `step_async` alike, with and without history.
#[tokio::test(flavor = "current_thread")]
async fn an_async_saga_compensates_the_completed_states_in_reverse() {
    use async_trip::{Agent, AsyncTrip, AsyncTripEnd};
    use fsm_runtime::{RunError, RunOptions};
    let undone = [
        "reserve_flight",
        "reserve_hotel",
        "charge",
        "release_hotel",
        "release_flight",
    ];
    for history in [false, true] {
        let machine = AsyncTrip::new(Agent).with_options(RunOptions {
            history,
            ..RunOptions::default()
        });
        // Success: nothing compensated.
        let out = machine.run_async(Doc::new(0)).await.unwrap();
        assert_eq!(out.end, AsyncTripEnd::Confirmed);
        assert_eq!(out.data.log, ["reserve_flight", "reserve_hotel", "charge"]);

        // Declined: the `on_error` arc to `cancelled`, which compensates.
        let out = machine.run_async(Doc::new(1)).await.unwrap();
        assert_eq!(out.end, AsyncTripEnd::Cancelled);
        assert_eq!(out.data.log, undone);
        if history {
            let path: Vec<(&str, bool)> = out.history.iter().map(|h| (h.state, h.compensation)).collect();
            assert_eq!(
                path,
                [
                    ("flight", false),
                    ("hotel", false),
                    ("payment", false),
                    ("cancelled", false),
                    ("hotel", true),
                    ("flight", true)
                ]
            );
        }

        // A failure of no kind: the run fails, keeps its error, and compensates.
        for failure in [
            machine.run_async(Doc::new(2)).await.unwrap_err(),
            machine.start(Doc::new(2)).finish_async().await.unwrap_err(),
        ] {
            assert!(
                matches!(&failure.error, RunError::Function(e) if e.state == "payment"),
                "{:?}",
                failure.error
            );
            assert_eq!(failure.data.log, undone);
        }

        // Stepped: the same, the failing step reporting the error after compensating.
        let mut run = machine.start(Doc::new(2));
        let error = loop {
            match run.step_async().await {
                Ok(Status::Finished(end)) => panic!("finished in {end:?}"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert!(
            matches!(&error, RunError::Function(e) if e.state == "payment"),
            "{error:?}"
        );
        assert_eq!(run.data().log, undone);
        assert!(run.pending_compensations().is_empty());
    }
}
