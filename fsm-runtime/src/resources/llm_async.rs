//! [`AsyncLlm`]: an OpenAI-compatible chat completions endpoint for machines with async
//! functions, on reqwest: answers streamed (server-sent events), token usage counted per call,
//! per run and per handle, and JSON answers checked against a type, asked again with the parse
//! error as feedback.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::tokens::{TokenMeter, TokenUsage};
use super::{Health, LlmConfig, Message, Resource, ResourceError, excerpt};

/// The time limit of a connectivity check when the handle has none.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A language model behind an OpenAI-compatible API, for async machines: what a machine with
/// async functions gets for a resource of `kind: llm` (synchronous machines get the blocking
/// [`Llm`](super::Llm)).
///
/// ```ignore
/// async fn classify(&self, t: &mut Ticket, ctx: &mut Context<'_, TriageResources>) -> Result<(), FnError> {
///     let answer = ctx.resources().llm.complete(&format!("Classify: {}", t.text)).await?;
///     t.category = answer.text.trim().to_owned();
///     Ok(())
/// }
/// async fn extract(&self, t: &mut Ticket, ctx: &mut Context<'_, TriageResources>) -> Result<(), FnError> {
///     // JSON that must parse into `Fields`; asked again with the parse error, `format_retries` times.
///     t.fields = Some(ctx.resources().llm.complete_json::<Fields>(&prompt).await?.value);
///     Ok(())
/// }
/// ```
///
/// - **Streaming.** Requests ask for `stream: true` with `stream_options.include_usage` (unless
///   the config says `stream: false`) and assemble the `data:` chunks of the server-sent events
///   into one [`Completion`]; a server that answers with plain JSON instead is read as such.
/// - **Tokens.** Each [`Completion`] carries the usage the server reported; the same is added to
///   the handle's [`TokenMeter`] ([`AsyncLlm::tokens`], shared by clones, for
///   [`Pipeline::count_tokens`](crate::stream::Pipeline::count_tokens)) and to the current run's
///   count ([`Context::tokens`](crate::Context::tokens), [`tokens_this_run`]).
/// - **Formats.** [`AsyncLlm::complete_json`] and [`AsyncLlm::chat_json`] parse the answer (its
///   code fence, if any, removed) into a `T: Deserialize`; an answer that does not parse is sent
///   back with the parse error, up to `format_retries` times (default 2), then the call fails
///   with [`ResourceError::Format`].
/// - **Cancellation.** Dropping the future (a state's `timeout_seconds`) drops the request: the
///   connection is closed and the server sees it. The config's `timeout_ms` limits each request,
///   body included.
/// - **Connections.** Each thread keeps its own reqwest client per handle, so connections are
///   driven by the runtime that uses them: a pipeline's workers each run a tokio runtime of their
///   own, and a connection opened on one worker's runtime would stall on another's.
#[derive(Clone)]
pub struct AsyncLlm {
    inner: Arc<Inner>,
}

struct Inner {
    /// Which handle (and its clones) a thread's client belongs to.
    id: u64,
    endpoint: String,
    model: String,
    authorization: Option<String>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    system: Option<String>,
    health_url: Option<String>,
    timeout: Option<Duration>,
    stream: bool,
    format_retries: u32,
    meter: TokenMeter,
}

/// One answer of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Completion {
    /// The text of the first choice (streamed chunks put together).
    pub text: String,
    /// The tokens the server reported for the request (zero if it reported none).
    pub usage: TokenUsage,
    /// Why the model stopped (`stop`, `length`, ...), when the server said.
    pub finish_reason: Option<String>,
}

/// An answer parsed into `T` by [`AsyncLlm::complete_json`] or [`AsyncLlm::chat_json`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Parsed<T> {
    /// The value.
    pub value: T,
    /// The text it was parsed from.
    pub text: String,
    /// How many requests it took (1 when the first answer parsed).
    pub attempts: u32,
    /// The tokens of all of them.
    pub usage: TokenUsage,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Whether an [`AsyncLlm`] was ever opened in this process: until then the pipeline's runs skip
/// counting tokens per run (see [`track`]).
static OPENED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's reqwest client for each handle it used (at most a few handles).
    static CLIENTS: RefCell<Vec<(u64, reqwest::Client)>> = const { RefCell::new(Vec::new()) };
}

tokio::task_local! {
    /// The tokens of the run being polled, when it is counted.
    static RUN_TOKENS: Cell<TokenUsage>;
}

/// Runs `future` counting the tokens of the [`AsyncLlm`] calls made inside it: its output and
/// their sum. [`Concurrent`](crate::stream::Concurrent) wraps each run of a pipeline in it, so
/// [`Context::tokens`](crate::Context::tokens) is the run's count; wrap a `run_async` in it to
/// get the same outside a pipeline.
pub async fn track<F: Future>(future: F) -> (F::Output, TokenUsage) {
    RUN_TOKENS
        .scope(Cell::new(TokenUsage::ZERO), async move {
            let output = future.await;
            (output, tokens_this_run().unwrap_or_default())
        })
        .await
}

/// The tokens counted so far in the current run (inside [`track`], as every run of a pipeline
/// is once an [`AsyncLlm`] is open); `None` outside.
pub fn tokens_this_run() -> Option<TokenUsage> {
    RUN_TOKENS.try_with(Cell::get).ok()
}

/// Whether runs should be counted: an [`AsyncLlm`] was opened.
pub(crate) fn counting() -> bool {
    OPENED.load(Ordering::Relaxed)
}

fn count(usage: TokenUsage) {
    let _ = RUN_TOKENS.try_with(|cell| cell.set(cell.get() + usage));
}

fn build_client() -> Result<reqwest::Client, ResourceError> {
    reqwest::Client::builder().build().map_err(|e| ResourceError::Config {
        key: "base_url",
        reason: format!("cannot build the HTTP client: {e}"),
    })
}

impl Resource for AsyncLlm {
    type Config = LlmConfig;

    fn from_config(config: &LlmConfig) -> Result<Self, ResourceError> {
        let model = super::expand_env("model", &config.model)?.into_owned();
        if model.is_empty() {
            return Err(ResourceError::Config {
                key: "model",
                reason: "is empty".into(),
            });
        }
        let base_url = super::expand_env("base_url", &config.base_url)?;
        let base = base_url.trim_end_matches('/');
        if reqwest::Url::parse(base).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            return Err(ResourceError::Config {
                key: "base_url",
                reason: format!("`{base_url}` is not an http:// or https:// URL"),
            });
        }
        let authorization = match &config.api_key_env {
            Some(var) => {
                let key = super::env::var(var)?;
                Some(format!("Bearer {key}"))
            }
            None => None,
        };
        let health_url = match &config.health_path {
            Some(path) => {
                let path = super::expand_env("health_path", path)?;
                Some(format!("{base}/{}", path.trim_start_matches('/')))
            }
            None => None,
        };
        let system = match &config.system {
            Some(system) => Some(super::expand_env("system", system)?.into_owned()),
            None => None,
        };
        // Fails now, not at the first call, when no client can be built (TLS roots).
        build_client()?;
        let llm = AsyncLlm {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                endpoint: format!("{base}/chat/completions"),
                model,
                authorization,
                max_tokens: config.max_tokens,
                temperature: config.temperature,
                system,
                health_url,
                timeout: config.timeout_ms.map(Duration::from_millis),
                stream: config.stream,
                format_retries: config.format_retries,
                meter: TokenMeter::new(),
            }),
        };
        if llm.inner.health_url.is_some() {
            Health::health(&llm)?;
        }
        OPENED.store(true, Ordering::Relaxed);
        Ok(llm)
    }
}

impl AsyncLlm {
    /// Opens `config` (as the generated `open()` does).
    pub fn new(config: &LlmConfig) -> Result<Self, ResourceError> {
        AsyncLlm::from_config(config)
    }

    /// The model asked.
    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// The URL requests go to (`{base_url}/chat/completions`).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The tokens of every call through this handle and its clones, as a meter that keeps
    /// counting: give it to [`Pipeline::count_tokens`](crate::stream::Pipeline::count_tokens) to
    /// see them in the summary.
    pub fn tokens(&self) -> TokenMeter {
        self.inner.meter.clone()
    }

    /// How many times a JSON answer that does not parse is asked for again (`format_retries`).
    pub fn format_retries(&self) -> u32 {
        self.inner.format_retries
    }

    /// This thread's client for this handle.
    fn client(&self) -> Result<reqwest::Client, ResourceError> {
        CLIENTS.with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some((_, client)) = clients.iter().find(|(id, _)| *id == self.inner.id) {
                return Ok(client.clone());
            }
            let client = build_client()?;
            // A thread that saw many handles come and go keeps the latest few.
            if clients.len() >= 8 {
                clients.remove(0);
            }
            clients.push((self.inner.id, client.clone()));
            Ok(client)
        })
    }

    /// The model's answer to `prompt` (one user message, after the configured system message).
    pub async fn complete(&self, prompt: &str) -> Result<Completion, ResourceError> {
        self.chat(&[Message::user(prompt)]).await
    }

    /// The model's next message in a conversation (after the configured system message),
    /// streamed and put together. Its tokens are counted (handle and run) as it ends.
    pub async fn chat(&self, messages: &[Message]) -> Result<Completion, ResourceError> {
        let completion = self.request(messages).await?;
        self.inner.meter.add(completion.usage);
        count(completion.usage);
        Ok(completion)
    }

    /// The answer to `prompt` parsed as JSON into `T`: an answer that does not parse is sent
    /// back with the parse error and asked again, `format_retries` times at most.
    pub async fn complete_json<T: DeserializeOwned>(&self, prompt: &str) -> Result<Parsed<T>, ResourceError> {
        self.chat_json(&[Message::user(prompt)]).await
    }

    /// [`AsyncLlm::complete_json`] for a conversation.
    pub async fn chat_json<T: DeserializeOwned>(&self, messages: &[Message]) -> Result<Parsed<T>, ResourceError> {
        self.chat_json_retrying(messages, self.inner.format_retries).await
    }

    /// [`AsyncLlm::chat_json`] with `retries` instead of the configured `format_retries`.
    pub async fn chat_json_retrying<T: DeserializeOwned>(
        &self,
        messages: &[Message],
        retries: u32,
    ) -> Result<Parsed<T>, ResourceError> {
        let mut conversation = messages.to_vec();
        let mut usage = TokenUsage::ZERO;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let answer = self.chat(&conversation).await?;
            usage += answer.usage;
            let error = match serde_json::from_str::<T>(json_text(&answer.text)) {
                Ok(value) => {
                    return Ok(Parsed {
                        value,
                        text: answer.text,
                        attempts,
                        usage,
                    });
                }
                Err(e) => e.to_string(),
            };
            if attempts > retries {
                return Err(ResourceError::Format {
                    url: self.inner.endpoint.clone(),
                    attempts,
                    error,
                    answer: answer.text,
                });
            }
            conversation.push(Message::assistant(answer.text));
            conversation.push(Message::user(format_feedback(&error)));
        }
    }

    fn body(&self, messages: &[Message]) -> serde_json::Value {
        let system = self
            .inner
            .system
            .as_deref()
            .map(|s| serde_json::json!({"role": "system", "content": s}));
        let messages: Vec<serde_json::Value> = system
            .into_iter()
            .chain(
                messages
                    .iter()
                    .map(|m| serde_json::json!({"role": m.role, "content": m.content})),
            )
            .collect();
        let mut body = serde_json::json!({ "model": self.inner.model, "messages": messages });
        if self.inner.stream {
            body["stream"] = true.into();
            body["stream_options"] = serde_json::json!({ "include_usage": true });
        }
        if let Some(n) = self.inner.max_tokens {
            body["max_tokens"] = n.into();
        }
        if let Some(t) = self.inner.temperature {
            body["temperature"] = t.into();
        }
        body
    }

    async fn request(&self, messages: &[Message]) -> Result<Completion, ResourceError> {
        let url = &self.inner.endpoint;
        let failed = |e: reqwest::Error| self.failure(e);
        let mut request = self.client()?.post(url).json(&self.body(messages));
        if let Some(auth) = &self.inner.authorization {
            request = request.header("authorization", auth);
        }
        if let Some(limit) = self.inner.timeout {
            request = request.timeout(limit);
        }
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let event_stream = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if status >= 400 || !event_stream {
            let body = response.bytes().await.map_err(failed)?;
            if status >= 400 {
                return Err(ResourceError::Status {
                    url: url.clone(),
                    status,
                    body: excerpt(&body),
                });
            }
            return whole(url, &body);
        }
        let mut events = Events::default();
        while let Some(bytes) = response.chunk().await.map_err(failed)? {
            if events.feed(url, &bytes)? {
                break;
            }
        }
        events.finish(url)
    }

    fn failure(&self, e: reqwest::Error) -> ResourceError {
        let url = self.inner.endpoint.clone();
        match self.inner.timeout {
            Some(after) if e.is_timeout() => ResourceError::Timeout {
                what: format!("a completion from {url}"),
                after,
            },
            _ => ResourceError::HttpAsync {
                url,
                source: Box::new(e),
            },
        }
    }

    async fn probe(&self) -> Result<(), ResourceError> {
        let Some(url) = &self.inner.health_url else {
            return Ok(());
        };
        let mut request = self
            .client()?
            .get(url)
            .timeout(self.inner.timeout.unwrap_or(PROBE_TIMEOUT));
        if let Some(auth) = &self.inner.authorization {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.map_err(|e| self.failure(e))?;
        let status = response.status().as_u16();
        if status >= 400 {
            let body = response.bytes().await.unwrap_or_default();
            return Err(ResourceError::Status {
                url: url.clone(),
                status,
                body: excerpt(&body),
            });
        }
        Ok(())
    }
}

/// What the model is told when its answer does not parse: the parser's error, so it can fix it.
pub fn format_feedback(error: &str) -> String {
    format!(
        "Your answer is not valid JSON of the expected shape: {error}. Answer again with the JSON \
         only, no other text."
    )
}

/// The JSON in an answer: the answer without surrounding space, or the inside of its code fence
/// (```` ```json ... ``` ````), as models like to write.
fn json_text(text: &str) -> &str {
    let text = text.trim();
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let rest = rest.find('\n').map_or("", |i| &rest[i + 1..]);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

/// A non-streamed answer.
fn whole(url: &str, body: &[u8]) -> Result<Completion, ResourceError> {
    let answer: serde_json::Value = serde_json::from_slice(body).map_err(|e| ResourceError::Response {
        url: url.to_owned(),
        reason: format!("the answer is not JSON: {e}"),
    })?;
    let text = answer
        .pointer("/choices/0/message/content")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ResourceError::Response {
            url: url.to_owned(),
            reason: "no `choices[0].message.content` in the answer".into(),
        })?;
    Ok(Completion {
        text: text.to_owned(),
        usage: usage(&answer),
        finish_reason: answer
            .pointer("/choices/0/finish_reason")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    })
}

fn usage(answer: &serde_json::Value) -> TokenUsage {
    let n = |key: &str| {
        answer
            .pointer(&format!("/usage/{key}"))
            .and_then(serde_json::Value::as_u64)
    };
    let prompt_tokens = n("prompt_tokens").unwrap_or(0);
    let completion_tokens = n("completion_tokens").unwrap_or(0);
    TokenUsage {
        prompt_tokens,
        completion_tokens,
        total_tokens: n("total_tokens").unwrap_or(prompt_tokens + completion_tokens),
    }
}

/// A stream of server-sent events being put together into one completion.
#[derive(Default)]
struct Events {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    text: String,
    usage: TokenUsage,
    finish_reason: Option<String>,
    done: bool,
    chunks: usize,
}

impl Events {
    /// Takes the next bytes of the body; `true` once `data: [DONE]` came.
    fn feed(&mut self, url: &str, bytes: &[u8]) -> Result<bool, ResourceError> {
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let line = std::mem::take(&mut self.line);
            self.line_ended(url, &line)?;
            if self.done {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn line_ended(&mut self, url: &str, line: &[u8]) -> Result<(), ResourceError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Comments (`: keep-alive`), `event:`, `id:` and blank lines carry no data.
        let Some(data) = line.strip_prefix(b"data:") else {
            return Ok(());
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: serde_json::Value = serde_json::from_slice(data).map_err(|e| ResourceError::Response {
            url: url.to_owned(),
            reason: format!("a streamed chunk is not JSON: {e}"),
        })?;
        if let Some(error) = chunk.get("error") {
            return Err(ResourceError::Response {
                url: url.to_owned(),
                reason: format!("the server reported an error mid-stream: {error}"),
            });
        }
        self.chunks += 1;
        if let Some(piece) = chunk
            .pointer("/choices/0/delta/content")
            .and_then(serde_json::Value::as_str)
        {
            self.text.push_str(piece);
        }
        if let Some(reason) = chunk
            .pointer("/choices/0/finish_reason")
            .and_then(serde_json::Value::as_str)
        {
            self.finish_reason = Some(reason.to_owned());
        }
        if chunk.get("usage").is_some_and(serde_json::Value::is_object) {
            self.usage = usage(&chunk);
        }
        Ok(())
    }

    fn finish(mut self, url: &str) -> Result<Completion, ResourceError> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_ended(url, &line)?;
        }
        if self.chunks == 0 {
            return Err(ResourceError::Response {
                url: url.to_owned(),
                reason: "the stream ended without a chunk".into(),
            });
        }
        Ok(Completion {
            text: self.text,
            usage: self.usage,
            finish_reason: self.finish_reason,
        })
    }
}

/// Runs `future` on a runtime of its own, on a thread of its own: the synchronous health check
/// of an async handle, callable from anywhere (inside a runtime too, which must not block).
fn on_own_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
}

impl Health for AsyncLlm {
    /// Whether the service is up: `GET health_path` (with the API key) answers below 400, or,
    /// without a `health_path`, the server accepts a TCP connection. Synchronous (pipelines check
    /// health between chunks): it runs on a thread and runtime of its own.
    fn health(&self) -> Result<(), ResourceError> {
        if self.inner.health_url.is_none() {
            return reachable(&self.inner.endpoint, self.inner.timeout.unwrap_or(PROBE_TIMEOUT));
        }
        on_own_runtime(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ResourceError::Config {
                    key: "health_path",
                    reason: format!("cannot start a runtime for the health check: {e}"),
                })?;
            runtime.block_on(self.probe())
        })
    }
}

/// The server of `url` accepts a TCP connection within `limit`.
fn reachable(url: &str, limit: Duration) -> Result<(), ResourceError> {
    use std::net::{TcpStream, ToSocketAddrs};
    let parsed = reqwest::Url::parse(url).map_err(|e| ResourceError::Config {
        key: "base_url",
        reason: format!("`{url}` is not a URL: {e}"),
    })?;
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = parsed.port_or_known_default().unwrap_or(80);
    let io = |source: std::io::Error| ResourceError::Io {
        path: url.into(),
        source,
    };
    let mut last = None;
    for addr in (host, port).to_socket_addrs().map_err(io)? {
        match TcpStream::connect_timeout(&addr, limit) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = Some(ResourceError::Timeout {
                    what: format!("connecting to {addr}"),
                    after: limit,
                });
            }
            Err(e) => last = Some(io(e)),
        }
    }
    Err(last.unwrap_or_else(|| ResourceError::Config {
        key: "base_url",
        reason: format!("`{host}` has no address"),
    }))
}

impl std::fmt::Debug for AsyncLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncLlm")
            .field("endpoint", &self.inner.endpoint)
            .field("model", &self.inner.model)
            .field("api_key", &self.inner.authorization.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_anywhere_are_put_together_with_the_usage_of_the_last() {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n: keep-alive\n\n\
                    data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n\
                    data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n\
                    data: [DONE]\n\n";
        for split in [1, 3, 7, body.len()] {
            let mut events = Events::default();
            let mut done = false;
            for piece in body.as_bytes().chunks(split) {
                done = events.feed("u", piece).unwrap();
                if done {
                    break;
                }
            }
            assert!(done);
            let completion = events.finish("u").unwrap();
            assert_eq!(completion.text, "Hello");
            assert_eq!(completion.finish_reason.as_deref(), Some("stop"));
            assert_eq!(
                completion.usage,
                TokenUsage {
                    prompt_tokens: 5,
                    completion_tokens: 2,
                    total_tokens: 7
                }
            );
        }
    }

    #[test]
    fn a_code_fence_around_json_is_removed() {
        assert_eq!(json_text(" {\"a\":1} "), "{\"a\":1}");
        assert_eq!(json_text("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(json_text("```\n[1]\n```\n"), "[1]");
    }

    #[test]
    fn an_error_mid_stream_fails_the_call() {
        let mut events = Events::default();
        let e = events
            .feed("u", b"data: {\"error\":{\"message\":\"overloaded\"}}\n")
            .unwrap_err();
        assert!(e.to_string().contains("overloaded"), "{e}");
    }
}
