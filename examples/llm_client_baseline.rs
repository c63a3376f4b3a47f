//! What the async LLM client costs per call (`resources::AsyncLlm::complete`: request JSON,
//! streamed answer parsed event by event, tokens counted) against a raw reqwest loop that sends
//! the same request and reads the same streamed body without looking at it, both against the
//! same local model server (`llm_server.rs`, answering at once), one call at a time, in one run.
//! The baseline of `scripts/llm_bench.sh`.
//!
//! ```text
//! cargo run --release -p fsm-examples --example llm_client_baseline -- [--calls N] [--rounds R]
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use fsm_runtime::resources::{AsyncLlm, LlmConfig};

#[path = "llm_server.rs"]
mod server;

#[derive(Parser, Debug)]
struct Args {
    /// Calls per round and contender.
    #[arg(long, default_value_t = 2000)]
    calls: u32,
    /// Rounds; the contenders take turns and each keeps its fastest round.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
}

const PROMPT: &str = "Summarise this ticket in one line.\n\nTicket: Hello, this is Ada. About order #1001: \
                      I was charged twice and want a refund. Thanks.";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let server_runtime = tokio::runtime::Runtime::new()?;
    let server = server_runtime.block_on(server::start(Duration::ZERO))?;
    // The client's side: a current-thread runtime, as a pipeline worker's.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let llm = AsyncLlm::new(&LlmConfig::new(&server.url, "bench"))?;
    let raw = fsm_runtime::resources::reqwest::Client::new();
    let endpoint = llm.endpoint().to_owned();
    let body = serde_json::json!({
        "model": "bench",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let (mut best_client, mut best_raw) = (Duration::MAX, Duration::MAX);
    let mut sink = 0usize;
    for _ in 0..args.rounds {
        let started = Instant::now();
        runtime.block_on(async {
            for _ in 0..args.calls {
                let answer = llm.complete(PROMPT).await?;
                sink += answer.text.len();
            }
            Ok::<_, fsm_runtime::resources::ResourceError>(())
        })?;
        best_client = best_client.min(started.elapsed());
        let started = Instant::now();
        runtime.block_on(async {
            for _ in 0..args.calls {
                let mut response = raw.post(&endpoint).json(&body).send().await?;
                while let Some(chunk) = response.chunk().await? {
                    sink += chunk.len();
                }
            }
            Ok::<_, fsm_runtime::resources::reqwest::Error>(())
        })?;
        best_raw = best_raw.min(started.elapsed());
    }
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(args.calls);
    println!(
        "per call: AsyncLlm::complete {:.1} µs, raw reqwest loop {:.1} µs; client throughput / raw: {:.2}x (checksum {sink})",
        per_call(best_client),
        per_call(best_raw),
        best_raw.as_secs_f64() / best_client.as_secs_f64(),
    );
    Ok(())
}
