//! The local HTTP API the `api_orchestration` example and its tests talk to (axum, on
//! 127.0.0.1, a port of its own): customers, orders, credit and decisions that answer after a
//! set latency and fail a set fraction of requests with `503`, plus endpoints tests use to see
//! what a client did (requests open at once, requests dropped before their answer).
//!
//! | route | answer |
//! |---|---|
//! | `GET /customers/{id}` | `{"id", "name", "segment"}` |
//! | `GET /orders/{id}` | `{"count", "total_cents"}` |
//! | `GET /credit/{id}` | `{"score"}` |
//! | `POST /decisions` | the decision, echoed |
//! | `GET /health` | `ok`, never delayed nor failed |
//! | `GET /hold/{group}/{n}` | waits until `n` requests of `group` are open at once (at most 5 s), then `{"overlap"}`: the most that were |
//! | `GET /slow` | answers after 10 s; a request dropped before counts in [`Stats::cancelled`] |
//! | `GET /fail` | `500` at once |
//! | `GET /flaky/{key}/{k}` | `503` for the first `k` requests of `key`, then `{"attempt"}` |
//! | `GET /switch` | `503` while [`Stats::down`] is set, `ok` otherwise |
//!
//! The customers, orders, credit and decisions routes count the requests open at once per route
//! ([`Stats::most_open`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// How the API behaves.
#[derive(Clone, Copy, Debug)]
pub struct Behaviour {
    /// Every answer of the business routes waits this long.
    pub latency: Duration,
    /// The fraction of business requests answered `503` (after the latency), 0 to 1.
    pub failure_rate: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            latency: Duration::from_millis(10),
            failure_rate: 0.02,
        }
    }
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests received, every route.
    pub requests: AtomicU64,
    /// Business requests answered `503` on purpose.
    pub injected_failures: AtomicU64,
    /// Requests of `/slow` dropped by the client before their answer.
    pub cancelled: AtomicU64,
    /// `/switch` answers `503` while set.
    pub down: AtomicBool,
    /// Per group (a route's first segment, or a `/hold` group): requests open now, and the most at once.
    open: Mutex<HashMap<String, (u64, u64)>>,
    /// Per `/flaky` key: requests seen.
    flaky: Mutex<HashMap<String, u64>>,
    /// Requests counted so far, for the failure draw.
    draws: AtomicU64,
}

impl Stats {
    /// The most requests of `group` (`customers`, `orders`, `credit`, `decisions`, a `/hold`
    /// group) that were open at once.
    pub fn most_open(&self, group: &str) -> u64 {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(group)
            .map_or(0, |(_, most)| *most)
    }

    /// Requests of `group` open now.
    pub fn open_now(&self, group: &str) -> u64 {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(group)
            .map_or(0, |(now, _)| *now)
    }

    /// Counts a request of `group` open until the guard drops.
    fn enter(self: &Arc<Self>, group: &str) -> OpenGuard {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = open.entry(group.to_owned()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(entry.0);
        OpenGuard {
            stats: self.clone(),
            group: group.to_owned(),
        }
    }

    /// Whether this business request fails: a fixed sequence of draws (splitmix64 of a
    /// counter), so a run fails the same fraction however requests interleave.
    fn fails(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let mut z = self
            .draws
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 <= rate
    }
}

struct OpenGuard {
    stats: Arc<Stats>,
    group: String,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let mut open = self.stats.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = open.get_mut(&self.group) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
}

#[derive(Clone)]
struct App {
    behaviour: Behaviour,
    stats: Arc<Stats>,
}

/// A running API server; stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// What it saw.
    pub stats: Arc<Stats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts the server on a free port of 127.0.0.1, on a runtime (two threads) of its own.
    pub fn start(behaviour: Behaviour) -> std::io::Result<Server> {
        Server::start_on(std::net::TcpListener::bind("127.0.0.1:0")?, behaviour)
    }

    /// Starts the server on `listener` (bound beforehand, so its address is known before any
    /// thread starts).
    pub fn start_on(listener: std::net::TcpListener, behaviour: Behaviour) -> std::io::Result<Server> {
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let stats = Arc::new(Stats::default());
        let app = App {
            behaviour,
            stats: stats.clone(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("api-server".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, router(app))
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
            // Requests still held (a `/slow` one) are dropped with the runtime.
            runtime.shutdown_timeout(Duration::from_millis(100));
        })?;
        Ok(Server {
            url,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Graceful shutdown waits for open connections (kept alive by clients): give up on them.
        if let Some(thread) = self.thread.take() {
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/customers/{id}", get(customer))
        .route("/orders/{id}", get(orders))
        .route("/credit/{id}", get(credit))
        .route("/decisions", post(decision))
        .route("/health", get(|| async { "ok" }))
        .route("/hold/{group}/{n}", get(hold))
        .route("/slow", get(slow))
        .route("/fail", get(fail))
        .route("/flaky/{key}/{k}", get(flaky))
        .route("/switch", get(switch))
        .with_state(app)
}

/// A business answer: after the latency, `503` for the failing fraction, else `body`.
async fn business(app: &App, group: &str, body: impl FnOnce() -> Value) -> Response {
    app.stats.requests.fetch_add(1, Ordering::Relaxed);
    let _open = app.stats.enter(group);
    tokio::time::sleep(app.behaviour.latency).await;
    if app.stats.fails(app.behaviour.failure_rate) {
        app.stats.injected_failures.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    Json(body()).into_response()
}

async fn customer(State(app): State<App>, Path(id): Path<u64>) -> Response {
    business(&app, "customers", || {
        let segment = ["retail", "business", "premium"][(id % 3) as usize];
        json!({ "id": id, "name": format!("customer {id}"), "segment": segment })
    })
    .await
}

async fn orders(State(app): State<App>, Path(id): Path<u64>) -> Response {
    business(
        &app,
        "orders",
        || json!({ "count": id % 7, "total_cents": (id % 7) * 1999 + id % 100 }),
    )
    .await
}

async fn credit(State(app): State<App>, Path(id): Path<u64>) -> Response {
    business(&app, "credit", || json!({ "score": 300 + (id * 37) % 551 })).await
}

async fn decision(State(app): State<App>, Json(body): Json<Value>) -> Response {
    business(&app, "decisions", || body).await
}

async fn hold(State(app): State<App>, Path((group, n)): Path<(String, u64)>) -> Response {
    app.stats.requests.fetch_add(1, Ordering::Relaxed);
    let _open = app.stats.enter(&group);
    // Bounded: a client that never opens `n` at once gets its answer after 5 s.
    for _ in 0..1000 {
        if app.stats.open_now(&group) >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Json(json!({ "overlap": app.stats.most_open(&group) })).into_response()
}

/// Counts itself cancelled unless it got to answer.
struct Cancelled(Arc<Stats>, bool);

impl Drop for Cancelled {
    fn drop(&mut self) {
        if !self.1 {
            self.0.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn slow(State(app): State<App>) -> Response {
    app.stats.requests.fetch_add(1, Ordering::Relaxed);
    let _open = app.stats.enter("slow");
    let mut guard = Cancelled(app.stats.clone(), false);
    tokio::time::sleep(Duration::from_secs(10)).await;
    guard.1 = true;
    "late".into_response()
}

async fn fail(State(app): State<App>) -> Response {
    app.stats.requests.fetch_add(1, Ordering::Relaxed);
    (StatusCode::INTERNAL_SERVER_ERROR, "broken").into_response()
}

async fn flaky(State(app): State<App>, Path((key, k)): Path<(String, u64)>) -> Response {
    app.stats.requests.fetch_add(1, Ordering::Relaxed);
    let attempt = {
        let mut seen = app.stats.flaky.lock().unwrap_or_else(PoisonError::into_inner);
        let n = seen.entry(key).or_default();
        *n += 1;
        *n
    };
    if attempt <= k {
        return (StatusCode::SERVICE_UNAVAILABLE, "not yet").into_response();
    }
    Json(json!({ "attempt": attempt })).into_response()
}

async fn switch(State(app): State<App>) -> Response {
    app.stats.requests.fetch_add(1, Ordering::Relaxed);
    if app.stats.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    "ok".into_response()
}
