//! [`AsyncHttp`]: an HTTP endpoint for machines with async functions, through reqwest on tokio,
//! with a circuit breaker and a bulkhead of its own.
//!
//! Why a client per thread: reqwest's connections are tasks of the tokio runtime that opened
//! them. A pipeline's workers each run a current-thread runtime ([`Concurrent`]), which polls
//! its tasks only while it runs a chunk, so a connection opened on one worker's runtime and
//! reused from another's would wait for the first worker to run again. The handle therefore
//! keeps one `reqwest::Client` per thread (built on first use from the handle's settings): on a
//! current-thread runtime that is one client, one pool, per runtime; on a multi-thread runtime
//! one per worker thread, all of the same runtime.
//!
//! [`Concurrent`]: crate::stream::Concurrent

use super::{Health, Http, HttpConfig, HttpResponse, Resource, ResourceError, excerpt};
use crate::resilience::CircuitBreaker;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// An HTTP API under a base URL, for the async functions of a machine: `get_json("/users/7")`
/// awaits `GET {base_url}/users/7` without holding a thread. What a `kind: http` resource of a
/// machine with async functions is (feature `http-async`); synchronous machines keep [`Http`].
///
/// - An error status (400 and above) is [`ResourceError::Status`] with the start of the body; a
///   failure to connect or a timeout is [`ResourceError::HttpAsync`]. A `POST` that failed after
///   its request was sent is [`ResourceError::OutcomeUnknown`]: it may have been applied, so a
///   state's `retry` does not send it again (a `503` answer is a clean refusal and is retried).
/// - `timeout_ms` limits each whole request; the request is cancelled (its connection closed)
///   when the time runs out, or when the future is dropped (a state's `timeout_seconds`).
/// - `breaker_failures` (with `breaker_reset_ms`): a circuit breaker for this endpoint, shared by
///   every clone: after so many failed requests in a row (no connection, a timeout, a 5xx, 408 or
///   429), requests fail at once with [`ResourceError::CircuitOpen`] until the reset time has
///   passed; the next request then tries (closing it on success, opening it again on failure).
/// - `max_concurrency`: a bulkhead: at most so many requests of this endpoint open at once,
///   across every run and worker of the process; the others wait for a place without a thread.
///
/// Health checks (`health_path`, or whether the server accepts a connection) and opening go
/// through the blocking client, as for [`Http`]: they run outside the machine's runs.
#[derive(Clone)]
pub struct AsyncHttp {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells this handle's per-thread clients apart from other handles'.
    id: u64,
    base_url: Arc<str>,
    headers: reqwest::header::HeaderMap,
    timeout: Option<Duration>,
    blocking: Http,
    breaker: Option<CircuitBreaker>,
    bulkhead: Option<(Semaphore, u32)>,
    open: AtomicU32,
    most_open: AtomicU32,
}

thread_local! {
    /// This thread's client of each handle used on it.
    static CLIENTS: RefCell<Vec<(u64, reqwest::Client)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Resource for AsyncHttp {
    type Config = HttpConfig;

    fn from_config(config: &HttpConfig) -> Result<Self, ResourceError> {
        let blocking = Http::from_config(config)?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let value = super::expand_env("headers", value)?;
            let bad = |reason: String| ResourceError::Config { key: "headers", reason };
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| bad(format!("`{name}` is not a header name: {e}")))?;
            let value = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|e| bad(format!("the value of `{name}` is not a header value: {e}")))?;
            headers.append(name, value);
        }
        let breaker = config.breaker_failures.map(|failures| {
            let reset = config.breaker_reset_ms.unwrap_or(DEFAULT_BREAKER_RESET_MS);
            CircuitBreaker::new(failures, reset.saturating_mul(1_000_000))
        });
        let bulkhead = config
            .max_concurrency
            .map(|n| (Semaphore::new(n.max(1) as usize), n.max(1)));
        Ok(AsyncHttp {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                base_url: blocking.base_url().into(),
                headers,
                timeout: config.timeout_ms.map(Duration::from_millis),
                blocking,
                breaker,
                bulkhead,
                open: AtomicU32::new(0),
                most_open: AtomicU32::new(0),
            }),
        })
    }
}

/// How long a breaker stays open when `breaker_reset_ms` is not given.
pub const DEFAULT_BREAKER_RESET_MS: u64 = 1000;

impl AsyncHttp {
    /// Requests under `base_url`, no time limit, no breaker, no bulkhead.
    pub fn new(base_url: &str) -> Result<Self, ResourceError> {
        AsyncHttp::from_config(&HttpConfig::new(base_url))
    }

    /// The base URL (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The full URL of `path` (`/users/7` or `users/7`).
    pub fn url(&self, path: &str) -> String {
        self.inner.blocking.url(path)
    }

    /// This thread's reqwest client (configured headers and time limit), for requests this handle
    /// has no method for. Requests made with it pass neither the breaker nor the bulkhead.
    pub fn client(&self) -> Result<reqwest::Client, ResourceError> {
        let id = self.inner.id;
        CLIENTS.with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some((_, client)) = clients.iter().find(|(of, _)| *of == id) {
                return Ok(client.clone());
            }
            let mut builder = reqwest::Client::builder()
                .default_headers(self.inner.headers.clone())
                .tcp_nodelay(true);
            if let Some(timeout) = self.inner.timeout {
                builder = builder.timeout(timeout).connect_timeout(timeout);
            }
            let client = builder.build().map_err(|e| ResourceError::HttpAsync {
                url: self.inner.base_url.to_string(),
                source: Box::new(e),
            })?;
            clients.push((id, client.clone()));
            Ok(client)
        })
    }

    /// Whether the breaker is open now (requests fail at once). `false` without a breaker.
    pub fn breaker_open(&self) -> bool {
        self.inner.breaker.as_ref().is_some_and(CircuitBreaker::is_open)
    }

    /// The bulkhead's limit (`max_concurrency`), if any.
    pub fn max_concurrency(&self) -> Option<u32> {
        self.inner.bulkhead.as_ref().map(|(_, n)| *n)
    }

    /// Requests open now (sent, their answer not yet read), and the most that were open at once
    /// since the handle was opened.
    pub fn open_requests(&self) -> (u32, u32) {
        (
            self.inner.open.load(Ordering::Acquire),
            self.inner.most_open.load(Ordering::Acquire),
        )
    }

    /// `GET {base_url}{path}`.
    pub async fn get(&self, path: &str) -> Result<HttpResponse, ResourceError> {
        let url = self.url(path);
        self.send(url, false, |client, url| client.get(url)).await
    }

    /// `GET` and parse the body as JSON.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ResourceError> {
        self.get(path).await?.json()
    }

    /// `POST {base_url}{path}` with `body` as JSON.
    pub async fn post_json<B: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<HttpResponse, ResourceError> {
        let url = self.url(path);
        let bytes = serde_json::to_vec(body).map_err(|e| ResourceError::Response {
            url: url.clone(),
            reason: format!("the request body is not JSON: {e}"),
        })?;
        self.send(url, true, move |client, url| {
            client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes)
        })
        .await
    }

    /// `POST` with a JSON body, and parse the answer as JSON.
    pub async fn post_json_for<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ResourceError> {
        self.post_json(path, body).await?.json()
    }

    /// One request through the breaker and the bulkhead. `write`: a failure after sending is
    /// [`ResourceError::OutcomeUnknown`].
    async fn send(
        &self,
        url: String,
        write: bool,
        request: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<HttpResponse, ResourceError> {
        let inner = &*self.inner;
        if let Some(breaker) = &inner.breaker
            && breaker.is_open()
        {
            return Err(ResourceError::CircuitOpen { url });
        }
        // The semaphore is never closed: `acquire` cannot fail.
        let _place = match &inner.bulkhead {
            Some((places, _)) => places.acquire().await.ok(),
            None => None,
        };
        let client = self.client()?;
        let _open = Open::new(inner);
        let result = exchange(request(&client, &url), url, write).await;
        if let Some(breaker) = &inner.breaker {
            breaker.record_outcome(!counts_against(&result));
        }
        result
    }
}

/// Counts a request open while it lives (also when its future is dropped).
struct Open<'a>(&'a Inner);

impl<'a> Open<'a> {
    fn new(inner: &'a Inner) -> Self {
        let now = inner.open.fetch_add(1, Ordering::AcqRel) + 1;
        inner.most_open.fetch_max(now, Ordering::AcqRel);
        Open(inner)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether a request's result is a failure of the endpoint, for its breaker: no answer, or an
/// answer that says the server is in trouble. A 4xx other than 408 and 429 is the caller's
/// mistake: the endpoint is up.
fn counts_against(result: &Result<HttpResponse, ResourceError>) -> bool {
    match result {
        Ok(_) => false,
        Err(ResourceError::OutcomeUnknown(_)) => true,
        Err(e) => e.is_transient(),
    }
}

async fn exchange(request: reqwest::RequestBuilder, url: String, write: bool) -> Result<HttpResponse, ResourceError> {
    let failed = |url: &str, e: reqwest::Error| {
        let sent = !e.is_connect() && !e.is_builder();
        let e = ResourceError::HttpAsync {
            url: url.to_owned(),
            source: Box::new(e),
        };
        if write && sent {
            ResourceError::OutcomeUnknown(Box::new(e))
        } else {
            e
        }
    };
    let response = request.send().await.map_err(|e| failed(&url, e))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| failed(&url, e))?.to_vec();
    if status >= 400 {
        return Err(ResourceError::Status {
            url,
            status,
            body: excerpt(&body),
        });
    }
    Ok(HttpResponse { url, status, body })
}

impl Health for AsyncHttp {
    fn health(&self) -> Result<(), ResourceError> {
        self.inner.blocking.health()
    }
}

impl std::fmt::Debug for AsyncHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: names only.
        let headers: Vec<&str> = self.inner.headers.keys().map(|name| name.as_str()).collect();
        f.debug_struct("AsyncHttp")
            .field("base_url", &self.inner.base_url)
            .field("headers", &headers)
            .field("max_concurrency", &self.max_concurrency())
            .field("breaker_open", &self.breaker_open())
            .finish_non_exhaustive()
    }
}

/// Whether reqwest's error may go away when tried again: no connection, a timeout.
pub(super) fn transient(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout()
}
