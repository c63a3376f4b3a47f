//! An LLM workflow (issue 12): support tickets through an async machine that classifies each one,
//! extracts its fields into a typed struct and summarises it, asking a language model at every
//! step (`machines/llm_workflow.yaml`).
//!
//! ```text
//! cargo run --release --example llm_workflow -- [--records N] [--concurrency C] [--workers W] [--latency-ms L]
//! ```
//!
//! It needs nothing installed: it starts its own model server on 127.0.0.1, which speaks the
//! OpenAI chat-completions protocol (streamed answers as server-sent events, the token usage in
//! the last event), answers deterministically from the prompt after about L ms, and now and then
//! answers the extraction with malformed JSON. The machine's `extract` asks for JSON that must
//! parse into `Fields` and, when it does not, asks again with the parse error in the prompt; a
//! ticket whose answers never parse ends in `failed` and is dead-lettered. The summary shows the
//! tokens used (as the pipeline counted them, checked against what the server reported) and the
//! `read = written + dead-lettered` check.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use fsm_runtime::resources::{AsyncLlm, LlmConfig, TokenUsage};
use fsm_runtime::stream::{Concurrent, DeadLetter, IterSource, Pipeline, VecSink};
use fsm_runtime::{Context, FnError};
use serde::{Deserialize, Serialize};

mod machine {
    include!(concat!(env!("OUT_DIR"), "/llm_workflow.rs"));
}

use machine::{LlmWorkflow, LlmWorkflowEnd, LlmWorkflowFns, LlmWorkflowResources};

/// A support ticket, as it goes through the machine.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ticket {
    /// Its number.
    pub id: u64,
    /// What the customer wrote.
    pub text: String,
    /// `billing`, `bug` or `question`.
    pub category: Option<String>,
    /// The fields the model extracted.
    pub fields: Option<Fields>,
    /// How many answers the extraction took (1 when the first one parsed).
    pub extract_attempts: u32,
    /// A one-line summary.
    pub summary: Option<String>,
    /// The tokens this ticket's run used.
    pub tokens: TokenUsage,
}

/// What `extract` asks the model for: JSON that must parse into this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// The customer's name.
    pub customer: String,
    /// The order the ticket is about.
    pub order_id: u64,
    /// How urgent it is.
    pub urgency: Urgency,
}

/// How urgent a ticket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Whenever.
    Low,
    /// Soon.
    Medium,
    /// Now.
    High,
}

/// The machine's functions: one prompt each.
struct Model;

type Ctx<'a> = Context<'a, LlmWorkflowResources>;

impl LlmWorkflowFns for Model {
    async fn classify(&self, ticket: &mut Ticket, ctx: &mut Ctx<'_>) -> Result<(), FnError> {
        let prompt = format!(
            "Classify this support ticket as billing, bug or question. Answer with the category only.\n\nTicket: {}",
            ticket.text
        );
        let answer = ctx.resources().llm.complete(&prompt).await?;
        ticket.category = Some(answer.text.trim().to_lowercase());
        ticket.tokens = ctx.tokens();
        Ok(())
    }

    async fn extract(&self, ticket: &mut Ticket, ctx: &mut Ctx<'_>) -> Result<(), FnError> {
        let prompt = format!(
            "Extract the customer's name, the order number and the urgency (low, medium or high) of \
             this ticket as JSON: {{\"customer\": string, \"order_id\": integer, \"urgency\": string}}.\n\nTicket: {}",
            ticket.text
        );
        let parsed = ctx.resources().llm.complete_json::<Fields>(&prompt).await;
        ticket.tokens = ctx.tokens();
        let parsed = parsed?;
        ticket.extract_attempts = parsed.attempts;
        ticket.fields = Some(parsed.value);
        Ok(())
    }

    async fn summarise(&self, ticket: &mut Ticket, ctx: &mut Ctx<'_>) -> Result<(), FnError> {
        let prompt = format!("Summarise this ticket in one line.\n\nTicket: {}", ticket.text);
        let answer = ctx.resources().llm.complete(&prompt).await?;
        ticket.summary = Some(answer.text.trim().to_owned());
        ticket.tokens = ctx.tokens();
        Ok(())
    }
}

#[derive(Parser, Debug)]
#[command(
    about = "Support tickets through an LLM workflow (classify, extract, summarise) against a local model server"
)]
struct Args {
    /// How many tickets.
    #[arg(long, default_value_t = 200)]
    records: u64,
    /// Tickets in flight per worker.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Pipeline workers (threads, each with a runtime of its own).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// How long the server takes to answer, in milliseconds (spread over the streamed chunks).
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
}

/// Tickets of made-up customers; every 5th one's first extraction comes back malformed, every
/// 25th one's always does.
fn tickets(n: u64) -> impl Iterator<Item = Ticket> {
    const NAMES: [&str; 6] = ["Ada", "Brian", "Chen", "Dolores", "Emeka", "Farah"];
    const ISSUES: [&str; 6] = [
        "I was charged twice and want a refund",
        "the app crashes with an error when I open my basket",
        "how do I change the delivery address",
        "my invoice shows the wrong amount",
        "the tracking page is broken",
        "can I add a gift note",
    ];
    const URGENCY: [&str; 3] = ["Please fix this urgently.", "Thanks.", "Whenever you can."];
    (1..=n).map(|id| {
        let i = id as usize;
        let garbled = if id.is_multiple_of(25) { " (garbled)" } else { "" };
        Ticket {
            id,
            text: format!(
                "Hello, this is {}. About order #{}: {}. {}{garbled}",
                NAMES[i % NAMES.len()],
                1000 + id,
                ISSUES[(i / 2) % ISSUES.len()],
                URGENCY[i % URGENCY.len()],
            ),
            ..Ticket::default()
        }
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // The model server, on a runtime of its own (the pipeline's workers have theirs).
    let runtime = tokio::runtime::Runtime::new()?;
    let server = runtime.block_on(server::start(Duration::from_millis(args.latency_ms)))?;

    let llm = AsyncLlm::new(
        &LlmConfig::new(&server.url, "workflow-demo")
            .temperature(0.0)
            .format_retries(2),
    )?;
    let tokens = llm.tokens();
    let attempts = llm.format_retries() + 1;
    let machine = Arc::new(LlmWorkflow::new(Model, LlmWorkflowResources { llm }));
    let done = VecSink::<Ticket>::new();
    let dead = VecSink::<DeadLetter<Ticket>>::new();
    let summary = Pipeline::new(Concurrent(machine))
        .workers(args.workers)
        .chunk_size(args.concurrency.max(1) * 4)
        .concurrency(args.concurrency)
        .count_tokens(tokens)
        .route(LlmWorkflowEnd::Done, done.clone())
        .dead_letter_state(LlmWorkflowEnd::Failed)
        .dead_letter(dead.clone())
        .run(IterSource::new(tickets(args.records)))?;

    let done = done.take();
    let dead = dead.take();
    for ticket in done.iter().take(2) {
        println!("{}", serde_json::to_string(ticket)?);
    }
    if let Some(letter) = dead.first() {
        println!(
            "dead letter: ticket {:?}: {}",
            letter.record.as_ref().map(|t| t.id),
            letter.message
        );
    }
    let retried = done.iter().filter(|t| t.extract_attempts > 1).count();
    println!(
        "extractions asked again after malformed JSON: {retried} tickets; dead-lettered after {attempts} attempts: {}",
        dead.len()
    );
    println!("{summary}");
    let counted = summary.tokens.unwrap_or_default();
    let reported = server.reported();
    let per_ticket: TokenUsage = done.iter().map(|t| t.tokens).sum();
    println!(
        "tokens: the server reported {}, the pipeline counted {}: {}; written tickets' own counts add up to {}",
        reported.total_tokens,
        counted.total_tokens,
        if counted == reported { "equal" } else { "DIFFERENT" },
        per_ticket.total_tokens
    );
    println!(
        "server: {} requests, {} malformed answers sent, {} retry prompts carrying the parse error",
        server.stats.requests.load(Ordering::Relaxed),
        server.stats.malformed.load(Ordering::Relaxed),
        server.stats.feedback.load(Ordering::Relaxed),
    );
    if !summary.is_balanced() || counted != reported {
        return Err("the summary does not balance".into());
    }
    Ok(())
}

/// The model server (shared with the client benchmark, `llm_client_baseline.rs`).
#[path = "llm_server.rs"]
mod server;
