//! The async LLM client (`resources::AsyncLlm`, feature `llm-async`) against a real local server
//! each test starts (axum on 127.0.0.1) that speaks the OpenAI chat-completions protocol:
//! streamed answers put together, tokens counted as the server reported them, JSON answers
//! asked again with the parse error as feedback, the retry limit, and a dropped call closing its
//! connection.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fsm_runtime::resources::{AsyncLlm, LlmConfig, Message, ResourceError, TokenUsage, track};
use serde_json::{Value, json};

/// What the server answers to one request.
#[derive(Clone)]
struct Reply {
    text: String,
    /// Characters per streamed chunk.
    piece: usize,
    /// Wait before each chunk.
    pause: Duration,
}

impl Reply {
    fn new(text: impl Into<String>) -> Self {
        Reply {
            text: text.into(),
            piece: 3,
            pause: Duration::ZERO,
        }
    }
}

type Script = dyn Fn(&[Value]) -> Reply + Send + Sync;

#[derive(Default)]
struct Seen {
    /// Every request's body.
    requests: Mutex<Vec<Value>>,
    /// The tokens the server reported, summed.
    prompt: AtomicU64,
    completion: AtomicU64,
    total: AtomicU64,
    /// Streams dropped before their last event: the client went away.
    dropped: AtomicU64,
    /// Streams sent to the end.
    finished: AtomicU64,
}

impl Seen {
    fn reported(&self) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.prompt.load(Ordering::SeqCst),
            completion_tokens: self.completion.load(Ordering::SeqCst),
            total_tokens: self.total.load(Ordering::SeqCst),
        }
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Seen>,
    script: Arc<Script>,
}

/// Counts a stream that is dropped before its end.
struct Guard {
    seen: Arc<Seen>,
    ended: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let counter = if self.ended {
            &self.seen.finished
        } else {
            &self.seen.dropped
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

async fn chat(State(shared): State<Shared>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap();
    shared.seen.requests.lock().unwrap().push(request.clone());
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let reply = (shared.script)(&messages);
    // Made-up but distinct counts, so a sum that misses one shows.
    let prompt_tokens = 10 * messages.len() as u64 + 1;
    let completion_tokens = reply.text.len() as u64;
    let total = prompt_tokens + completion_tokens;
    let seen = &shared.seen;
    seen.prompt.fetch_add(prompt_tokens, Ordering::SeqCst);
    seen.completion.fetch_add(completion_tokens, Ordering::SeqCst);
    seen.total.fetch_add(total, Ordering::SeqCst);
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total});
    if request["stream"] != true {
        let body = json!({"choices": [{"message": {"role": "assistant", "content": reply.text}, "finish_reason": "stop"}], "usage": usage});
        return ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    }
    assert_eq!(request["stream_options"]["include_usage"], true);
    let chars: Vec<char> = reply.text.chars().collect();
    let mut events: Vec<String> = chars
        .chunks(reply.piece.max(1))
        .map(|p| {
            let piece: String = p.iter().collect();
            format!(
                "data: {}\r\n\r\n",
                json!({"choices": [{"index": 0, "delta": {"content": piece}}]})
            )
        })
        .collect();
    events.push(format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    ));
    events.push(": a comment line, ignored\n\n".to_owned());
    events.push(format!("data: {}\n\n", json!({"choices": [], "usage": usage})));
    events.push("data: [DONE]\n\n".to_owned());
    let guard = Guard {
        seen: seen.clone(),
        ended: false,
    };
    let pause = reply.pause;
    let stream = futures_util::stream::unfold((events.into_iter(), guard), move |(mut events, mut guard)| async move {
        let Some(event) = events.next() else {
            guard.ended = true;
            drop(guard);
            return None;
        };
        tokio::time::sleep(pause).await;
        // Events split across writes, as a network splits them.
        let (a, b) = event.split_at(event.len() / 2);
        let bytes = Bytes::from(format!("{a}{b}"));
        Some((Ok::<_, Infallible>(bytes), (events, guard)))
    });
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
}

/// A server on a thread and runtime of its own (so it keeps serving whatever the test's runtime
/// does; it lives until the test process ends), and what it saw.
struct Server {
    url: String,
    seen: Arc<Seen>,
}

fn server(script: impl Fn(&[Value]) -> Reply + Send + Sync + 'static) -> Server {
    let seen = Arc::new(Seen::default());
    let shared = Shared {
        seen: seen.clone(),
        script: Arc::new(script),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = Router::new()
                .route("/v1/chat/completions", post(chat))
                .with_state(shared);
            axum::serve(listener, app).await
        })
    });
    Server { url, seen }
}

fn last_user(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[derive(Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Extracted {
    name: String,
    order_id: u64,
}

#[tokio::test(flavor = "current_thread")]
async fn a_streamed_answer_is_put_together_from_its_chunks() {
    let text = "The quick brown fox jumps over the lazy dog, – ünïcödé too.";
    let server = server(move |_| Reply::new(text));
    let llm = AsyncLlm::new(&LlmConfig::new(&server.url, "m").system("Be brief.").max_tokens(50)).unwrap();
    let answer = llm.complete("Say it.").await.unwrap();
    assert_eq!(answer.text, text);
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
    let request = &server.seen.requests()[0];
    assert_eq!(request["model"], "m");
    assert_eq!(request["stream"], true);
    assert_eq!(request["max_tokens"], 50);
    assert_eq!(
        request["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(request["messages"][1], json!({"role": "user", "content": "Say it."}));
    assert_eq!(server.seen.finished.load(Ordering::SeqCst), 1);

    // `stream: false`: the plain JSON answer.
    let plain = AsyncLlm::new(&LlmConfig::new(&server.url, "m").stream(false)).unwrap();
    assert_eq!(plain.complete("Again.").await.unwrap().text, text);
    assert_eq!(server.seen.requests()[1].get("stream"), None);
}

#[tokio::test(flavor = "current_thread")]
async fn tokens_add_up_to_what_the_server_reported_per_call_per_run_and_per_handle() {
    let server = server(|messages| Reply::new(format!("echo {}", last_user(messages))));
    let llm = AsyncLlm::new(&LlmConfig::new(&server.url, "m")).unwrap();
    let meter = llm.tokens();
    let mut per_call = TokenUsage::ZERO;
    let ((), in_run) = track(async {
        for i in 0..5 {
            let answer = llm.clone().complete(&format!("prompt {i}")).await.unwrap();
            assert!(!answer.usage.is_zero());
            per_call += answer.usage;
        }
    })
    .await;
    assert_eq!(per_call, server.seen.reported());
    assert_eq!(in_run, per_call);
    assert_eq!(meter.total(), per_call);
    // Outside `track` the calls still reach the handle's meter.
    let outside = llm.complete("one more").await.unwrap().usage;
    assert_eq!(meter.total(), per_call + outside);
    assert_eq!(meter.total(), server.seen.reported());
    assert_eq!(fsm_runtime::resources::tokens_this_run(), None);
}

#[tokio::test(flavor = "current_thread")]
async fn json_that_does_not_parse_is_asked_again_with_the_parse_error_in_the_prompt() {
    let server = server(|messages| {
        if messages.len() == 1 {
            // Wrong type: order_id as a string.
            Reply::new(r##"{"name": "Ada", "order_id": "#17"}"##)
        } else {
            Reply::new("```json\n{\"name\": \"Ada\", \"order_id\": 17}\n```")
        }
    });
    let llm = AsyncLlm::new(&LlmConfig::new(&server.url, "m").format_retries(2)).unwrap();
    let parsed = llm.complete_json::<Extracted>("Extract.").await.unwrap();
    assert_eq!(
        parsed.value,
        Extracted {
            name: "Ada".into(),
            order_id: 17
        }
    );
    assert_eq!(parsed.attempts, 2);
    assert_eq!(parsed.usage, server.seen.reported());
    let requests = server.seen.requests();
    assert_eq!(requests.len(), 2);
    let second = requests[1]["messages"].as_array().unwrap();
    assert_eq!(second.len(), 3, "{second:?}");
    assert_eq!(second[0]["content"], "Extract.");
    assert_eq!(second[1]["role"], "assistant");
    assert_eq!(second[1]["content"], r##"{"name": "Ada", "order_id": "#17"}"##);
    // The server sees serde's own error text in the second prompt.
    let error = serde_json::from_str::<Extracted>(r##"{"name": "Ada", "order_id": "#17"}"##)
        .unwrap_err()
        .to_string();
    let feedback = second[2]["content"].as_str().unwrap();
    assert!(feedback.contains(&error), "{feedback}");
    assert!(error.contains("invalid type"), "{error}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_retry_limit_ends_in_a_format_error_after_one_plus_retries_answers() {
    let server = server(|_| Reply::new("I cannot answer in JSON, sorry."));
    let llm = AsyncLlm::new(&LlmConfig::new(&server.url, "m").format_retries(2)).unwrap();
    let e = llm
        .chat_json::<Extracted>(&[Message::user("Extract.")])
        .await
        .unwrap_err();
    match &e {
        ResourceError::Format { attempts, answer, .. } => {
            assert_eq!(*attempts, 3);
            assert_eq!(answer, "I cannot answer in JSON, sorry.");
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.is_transient());
    assert_eq!(server.seen.requests().len(), 3);
    // Every answer's tokens were counted, the failed ones too.
    assert_eq!(llm.tokens().total(), server.seen.reported());
    let zero = AsyncLlm::new(&LlmConfig::new(&server.url, "m").format_retries(0)).unwrap();
    assert!(matches!(
        zero.complete_json::<Extracted>("x").await,
        Err(ResourceError::Format { attempts: 1, .. })
    ));
}

/// Dropping the call (what a state's `timeout_seconds` does to its future) closes the connection:
/// the server's stream is dropped before its end. The handle's own `timeout_ms` fails the call
/// with a timeout.
#[tokio::test(flavor = "current_thread")]
async fn a_dropped_call_closes_its_connection_and_timeout_ms_fails_with_a_timeout() {
    let server = server(|_| Reply {
        text: "a slow answer that takes its time".into(),
        piece: 2,
        pause: Duration::from_millis(100),
    });
    let llm = AsyncLlm::new(&LlmConfig::new(&server.url, "m")).unwrap();
    let cancelled = tokio::time::timeout(Duration::from_millis(250), llm.complete("slowly")).await;
    assert!(cancelled.is_err(), "the answer takes seconds");
    // The server notices when it next writes.
    for _ in 0..100 {
        if server.seen.dropped.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.seen.dropped.load(Ordering::SeqCst), 1);
    assert_eq!(server.seen.finished.load(Ordering::SeqCst), 0);

    let limited = AsyncLlm::new(&LlmConfig::new(&server.url, "m").timeout_ms(250)).unwrap();
    let e = limited.complete("slowly").await.unwrap_err();
    assert!(matches!(e, ResourceError::Timeout { .. }), "{e:?}");
    assert!(e.is_transient());
}

#[tokio::test(flavor = "current_thread")]
async fn errors_of_the_server_and_of_the_configuration_are_reported() {
    assert!(matches!(
        AsyncLlm::new(&LlmConfig::new("ftp://x", "m")),
        Err(ResourceError::Config { key: "base_url", .. })
    ));
    assert!(matches!(
        AsyncLlm::new(&LlmConfig::new("http://127.0.0.1:1", "")),
        Err(ResourceError::Config { key: "model", .. })
    ));
    // Nothing listens on port 1: a transient failure to connect.
    let nowhere = AsyncLlm::new(&LlmConfig::new("http://127.0.0.1:1/v1", "m")).unwrap();
    let e = nowhere.complete("x").await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(fsm_runtime::resources::Health::health(&nowhere).is_err());
    let server = server(|_| Reply::new("ok"));
    let llm = AsyncLlm::new(&LlmConfig::new(&server.url, "m")).unwrap();
    assert!(fsm_runtime::resources::Health::health(&llm).is_ok());
    let wrong = AsyncLlm::new(&LlmConfig::new(format!("{}/nothing", server.url), "m")).unwrap();
    assert!(matches!(
        wrong.complete("x").await,
        Err(ResourceError::Status { status: 404, .. })
    ));
}

/// Used from many threads, each with a runtime of its own (as the pipeline's workers are), one
/// handle keeps working: each thread has its own connections.
#[test]
fn one_handle_serves_threads_with_runtimes_of_their_own() {
    let server = server(|messages| Reply::new(last_user(messages)));
    let llm = AsyncLlm::new(&LlmConfig::new(&server.url, "m")).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..3 {
            let llm = llm.clone();
            let stop = &stop;
            s.spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                for i in 0..5 {
                    let prompt = format!("{t}-{i}");
                    let answer = runtime.block_on(llm.complete(&prompt)).unwrap();
                    assert_eq!(answer.text, prompt);
                    // A pause without driving the runtime, as a worker waiting for its next chunk.
                    std::thread::sleep(Duration::from_millis(5));
                }
                stop.store(true, Ordering::SeqCst);
            });
        }
    });
    assert!(stop.load(Ordering::SeqCst));
    assert_eq!(llm.tokens().total(), server.seen.reported());
}
