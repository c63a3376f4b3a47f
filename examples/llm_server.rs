//! A model server for the LLM examples: it speaks the OpenAI chat-completions protocol
//! (streamed answers as server-sent events, the usage in the last event when asked), answers
//! deterministically from the prompt, and now and then sends malformed JSON on purpose.

// Each program that includes it uses part of it.
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fsm_runtime::resources::TokenUsage;
use serde_json::{Value, json};

/// What the server counted.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub malformed: AtomicU64,
    pub feedback: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    total_tokens: AtomicU64,
}

pub struct Server {
    /// `http://127.0.0.1:<port>/v1`.
    pub url: String,
    pub stats: Arc<Stats>,
}

impl Server {
    /// The tokens of every answer, as the server reported them.
    pub fn reported(&self) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.stats.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.stats.completion_tokens.load(Ordering::Relaxed),
            total_tokens: self.stats.total_tokens.load(Ordering::Relaxed),
        }
    }
}

#[derive(Clone)]
struct Shared {
    stats: Arc<Stats>,
    latency: Duration,
}

/// Binds 127.0.0.1 on a free port and serves on the current runtime.
pub async fn start(latency: Duration) -> std::io::Result<Server> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    let stats = Arc::new(Stats::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(Shared {
            stats: stats.clone(),
            latency,
        });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Server { url, stats })
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count().max(1) as u64
}

async fn chat(State(shared): State<Shared>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let stats = &shared.stats;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let content = |m: &Value| m["content"].as_str().unwrap_or_default().to_owned();
    let users: Vec<String> = messages.iter().filter(|m| m["role"] == "user").map(content).collect();
    let first = users.first().cloned().unwrap_or_default();
    if users.len() > 1 && users.iter().skip(1).any(|u| u.contains("not valid JSON")) {
        stats.feedback.fetch_add(1, Ordering::Relaxed);
    }
    let (answer, malformed) = answer(&first, users.len());
    if malformed {
        stats.malformed.fetch_add(1, Ordering::Relaxed);
    }
    let prompt_tokens: u64 = messages.iter().map(|m| words(&content(m))).sum();
    let completion_tokens = words(&answer);
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    stats.prompt_tokens.fetch_add(prompt_tokens, Ordering::Relaxed);
    stats.completion_tokens.fetch_add(completion_tokens, Ordering::Relaxed);
    stats
        .total_tokens
        .fetch_add(prompt_tokens + completion_tokens, Ordering::Relaxed);
    if request["stream"] != true {
        if !shared.latency.is_zero() {
            tokio::time::sleep(shared.latency).await;
        }
        let body = json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": usage,
        });
        return ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    }
    // Streamed: the answer in pieces of a few characters, the usage last, then `[DONE]`.
    let mut events: Vec<String> = Vec::new();
    let chars: Vec<char> = answer.chars().collect();
    for piece in chars.chunks(12) {
        let piece: String = piece.iter().collect();
        let chunk = json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]});
        events.push(format!("data: {chunk}\n\n"));
    }
    let stop =
        json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    events.push(format!("data: {stop}\n\n"));
    if request["stream_options"]["include_usage"] == true {
        events.push(format!("data: {}\n\n", json!({"choices": [], "usage": usage})));
    }
    events.push("data: [DONE]\n\n".to_owned());
    let pause = shared.latency / events.len() as u32;
    let stream = futures_util::stream::unfold(events.into_iter(), move |mut events| async move {
        let event = events.next()?;
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        Some((Ok::<_, Infallible>(Bytes::from(event)), events))
    });
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
}

/// The answer to a conversation whose first user message is `prompt` and which has `turns`
/// user messages (more than one: the client asked again after a malformed answer), and
/// whether it is malformed on purpose.
fn answer(prompt: &str, turns: usize) -> (String, bool) {
    let ticket = prompt.split("Ticket: ").nth(1).unwrap_or_default();
    let lower = ticket.to_lowercase();
    let name = ticket
        .split("this is ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .unwrap_or("someone");
    let order: u64 = ticket
        .split('#')
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0);
    if prompt.starts_with("Classify") {
        let category = if ["refund", "charged", "invoice"].iter().any(|w| lower.contains(w)) {
            "billing"
        } else if ["crash", "error", "broken"].iter().any(|w| lower.contains(w)) {
            "bug"
        } else {
            "question"
        };
        return (category.to_owned(), false);
    }
    if prompt.starts_with("Extract") {
        let urgency = if lower.contains("urgent") {
            "high"
        } else if lower.contains("whenever") {
            "low"
        } else {
            "medium"
        };
        // A ticket marked garbled never gets JSON; every 5th gets a malformed first answer.
        if lower.contains("garbled") {
            return (format!("Sure! The customer is {name}, order {order}."), true);
        }
        if order.is_multiple_of(5) && turns == 1 {
            return (
                format!("{{\"customer\": \"{name}\", \"order_id\": \"#{order}\", \"urgency\": \"{urgency}\""),
                true,
            );
        }
        let json = json!({"customer": name, "order_id": order, "urgency": urgency});
        return (format!("```json\n{json}\n```"), false);
    }
    let issue = ticket
        .split(": ")
        .nth(1)
        .and_then(|s| s.split('.').next())
        .unwrap_or(ticket);
    (format!("{name}, order {order}: {issue}."), false)
}
