//! The API orchestration capabilities of issue 12 against a real local HTTP server the tests
//! start (`fsm_examples::api_server`, axum on 127.0.0.1): a state's `retry` of `503` answers, the
//! circuit breaker and the bulkhead of an `AsyncHttp` endpoint, a state's `parallel:` functions
//! (the server sees them open at the same time; the first failure cancels the other, and the
//! server sees that request dropped), and the example itself, small.

use std::sync::atomic::Ordering;
use std::time::Duration;

use fsm_examples::api_server::{Behaviour, Server};
use fsm_runtime::resources::{AsyncHttp, HttpConfig, Resource, ResourceError};
use fsm_runtime::{Change, Context, FnError};

/// What the test machines carry.
#[derive(Clone, Debug, Default)]
pub struct Job {
    /// The `/flaky` key, and how many of its first requests answer 503.
    pub key: String,
    pub fails: u64,
    /// What the functions did, in the order their changes were applied.
    pub log: Vec<String>,
}

mod machines {
    fsm::fsm! {
        /// A call retried on 503.
        machine Retried {
            data: crate::Job;
            functions { fetch: async }
            start state begin;
            state call { transform: fetch; retry: { attempts: 4, delay_seconds: 0.001 }; on_error: failed; }
            end state done;
            end state failed;
            begin -> call;
            call -> done;
        }
    }

    fsm::fsm! {
        /// Two calls at the same time.
        machine Both {
            data: crate::Job;
            functions { left: async, right: async, slow: async, broken: async }
            start state begin;
            state pair { parallel: [left, right]; on_error: failed; }
            state race { parallel: [slow, broken]; on_error: failed; }
            end state done;
            end state failed;
            begin -> pair;
            pair -> race;
            race -> done;
        }
    }
}

use machines::{Both, BothEnd, BothFns, Retried, RetriedEnd, RetriedFns};

/// The functions: one handle on the server, and what `race` does.
struct Calls {
    http: AsyncHttp,
    /// `race` runs `broken` (a 500 at once) against `slow` (10 s); without it, `race` is skipped.
    race: bool,
}

fn server() -> Server {
    Server::start(Behaviour {
        latency: Duration::ZERO,
        failure_rate: 0.0,
    })
    .expect("start the local API server")
}

fn handle(url: &str) -> AsyncHttp {
    AsyncHttp::from_config(&HttpConfig::new(url).timeout_ms(20_000)).expect("an http handle")
}

impl RetriedFns for Calls {
    async fn fetch(&self, job: &mut Job, _: &mut Context<'_>) -> Result<(), FnError> {
        let answer: serde_json::Value = self.http.get_json(&format!("/flaky/{}/{}", job.key, job.fails)).await?;
        job.log.push(format!("answered on attempt {}", answer["attempt"]));
        Ok(())
    }
}

impl BothFns for Calls {
    async fn left(&self, _: &Job, _: &mut Context<'_>) -> Result<Change<Job>, FnError> {
        let answer: serde_json::Value = self.http.get_json("/hold/pair/2").await?;
        Ok(Box::new(move |job: &mut Job| {
            job.log.push(format!("left saw {}", answer["overlap"]))
        }))
    }

    async fn right(&self, _: &Job, _: &mut Context<'_>) -> Result<Change<Job>, FnError> {
        let answer: serde_json::Value = self.http.get_json("/hold/pair/2").await?;
        Ok(Box::new(move |job: &mut Job| {
            job.log.push(format!("right saw {}", answer["overlap"]))
        }))
    }

    async fn slow(&self, _: &Job, _: &mut Context<'_>) -> Result<Change<Job>, FnError> {
        if self.race {
            self.http.get("/slow").await?;
        }
        Ok(Box::new(|job: &mut Job| job.log.push("slow".into())))
    }

    async fn broken(&self, _: &Job, _: &mut Context<'_>) -> Result<Change<Job>, FnError> {
        if self.race {
            self.http.get("/fail").await?;
        }
        Ok(Box::new(|job: &mut Job| job.log.push("broken".into())))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_state_retries_503_answers_until_one_succeeds_or_its_attempts_run_out() {
    let server = server();
    let machine = Retried::new(Calls {
        http: handle(&server.url),
        race: false,
    });
    let job = |key: &str, fails| Job {
        key: key.into(),
        fails,
        ..Job::default()
    };
    let out = machine.run_async(job("three", 3)).await.expect("a run");
    assert_eq!(out.end, RetriedEnd::Done);
    assert_eq!(out.data.log, ["answered on attempt 4"], "three 503s, then the answer");

    let before = server.stats.requests.load(Ordering::SeqCst);
    let out = machine.run_async(job("five", 5)).await.expect("a run");
    assert_eq!(out.end, RetriedEnd::Failed, "four attempts, four 503s");
    assert!(out.data.log.is_empty());
    assert_eq!(server.stats.requests.load(Ordering::SeqCst) - before, 4);
    let error = out.error.expect("the error that led to `failed`");
    assert!(error.to_string().contains("failed 4 times"), "{error}");
    assert!(error.to_string().contains("status 503"), "{error}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_endpoints_breaker_opens_after_failures_in_a_row_and_closes_when_it_answers_again() {
    let server = server();
    let url = format!("{}/switch", server.url);
    let http = AsyncHttp::from_config(&HttpConfig::new(&url).breaker_failures(3).breaker_reset_ms(50))
        .expect("an http handle");
    server.stats.down.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let failed = http.get("").await.expect_err("the service is down");
        assert!(matches!(failed, ResourceError::Status { status: 503, .. }), "{failed}");
    }
    assert!(http.breaker_open());
    let sent = server.stats.requests.load(Ordering::SeqCst);
    let refused = http.get("").await.expect_err("the breaker is open");
    assert!(matches!(refused, ResourceError::CircuitOpen { .. }), "{refused}");
    assert_eq!(
        FnError::from(refused).kind(),
        Some(fsm_runtime::ErrorKind::CIRCUIT_OPEN)
    );
    assert_eq!(server.stats.requests.load(Ordering::SeqCst), sent, "not sent");

    // The service is back: once the reset time has passed, a request tries and closes it.
    server.stats.down.store(false, Ordering::SeqCst);
    let mut answered = false;
    for _ in 0..200 {
        match http.get("").await {
            Ok(_) => {
                answered = true;
                break;
            }
            Err(ResourceError::CircuitOpen { .. }) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => panic!("the service is up: {e}"),
        }
    }
    assert!(answered, "the breaker never let a request through");
    assert!(!http.breaker_open());
    assert!(http.get("").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoints_bulkhead_keeps_at_most_max_concurrency_requests_open() {
    let server = server();
    let http = AsyncHttp::from_config(&HttpConfig::new(&server.url).max_concurrency(3)).expect("an http handle");
    assert_eq!(http.max_concurrency(), Some(3));
    // Each request is held until three are open at once: with more than three allowed, the
    // server would see more.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let http = http.clone();
        calls.spawn(async move { http.get("/hold/bulk/3").await.map(drop) });
    }
    while let Some(done) = calls.join_next().await {
        done.expect("no panic").expect("an answer");
    }
    assert_eq!(
        server.stats.most_open("bulk"),
        3,
        "never more than max_concurrency open"
    );
    assert_eq!(http.open_requests(), (0, 3));
}

#[tokio::test(flavor = "current_thread")]
async fn parallel_functions_run_at_the_same_time_and_the_first_failure_cancels_the_others() {
    let server = server();
    // `pair`: `left` and `right` each wait until both requests are open at once.
    let machine = Both::new(Calls {
        http: handle(&server.url),
        race: false,
    });
    let out = machine.run_async(Job::default()).await.expect("a run");
    assert_eq!(out.end, BothEnd::Done);
    assert_eq!(
        out.data.log,
        ["left saw 2", "right saw 2", "slow", "broken"],
        "both open at once; the changes applied in list order"
    );

    // `race`: `broken` fails at once; `slow`'s request is dropped, and the server sees it.
    let machine = Both::new(Calls {
        http: handle(&server.url),
        race: true,
    });
    let out = machine.run_async(Job::default()).await.expect("a run");
    assert_eq!(out.end, BothEnd::Failed);
    assert_eq!(out.data.log, ["left saw 2", "right saw 2"], "race changed nothing");
    let error = out.error.expect("the error");
    assert_eq!(error.function, "broken");
    let mut cancelled = 0;
    for _ in 0..500 {
        cancelled = server.stats.cancelled.load(Ordering::SeqCst);
        if cancelled > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(cancelled, 1, "the server saw `slow`'s request dropped");
}

#[test]
fn the_example_decides_every_application_and_the_summary_balances() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_api_orchestration"))
        .args([
            "--records",
            "300",
            "--concurrency",
            "30",
            "--latency-ms",
            "1",
            "--failure-rate",
            "0.05",
        ])
        .output()
        .expect("run the example");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("check: read 300 = written 300 + dead-lettered 0 + dropped 0: ok"),
        "{stderr}"
    );
    assert!(stderr.contains("answered 503 and retried"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("records/s: "));
}
