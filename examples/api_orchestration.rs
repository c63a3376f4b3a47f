//! API orchestration (issue 12): an async machine (`machines/api_orchestration.yaml`) decides
//! credit applications by calling four HTTP services: per record, it fetches the customer, then
//! the orders and the credit score at the same time (`parallel:`), then posts the decision. Every
//! call is retried with back-off on a `503` and goes through the endpoint's circuit breaker and
//! bulkhead (`AsyncHttp`). The example starts the services itself, on 127.0.0.1 (axum), answering
//! after `--latency-ms` and failing a fraction `--failure-rate` with `503`, so it runs with nothing
//! installed:
//!
//! ```text
//! cargo run --release --example api_orchestration -- --records 2000 --concurrency 100 --latency-ms 10
//! ```
//!
//! It prints the pipeline's summary (with the `read = written + dead-lettered` check) and the
//! records per second, and fails when the summary does not balance.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use fsm_examples::api::{Api, ApiOrchestration, ApiOrchestrationEnd, ApiOrchestrationResources, Application};
use fsm_examples::api_server::{Behaviour, Server};
use fsm_runtime::resources::with_vars;
use fsm_runtime::stream::{Concurrent, IterSource, Pipeline, VecSink};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Decides credit applications through four local HTTP services.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Applications to decide.
    #[arg(long, default_value_t = 1000)]
    records: u64,
    /// Applications in flight at once.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// How long each service takes to answer, in milliseconds.
    #[arg(long, default_value_t = 10)]
    latency_ms: u64,
    /// The fraction of requests each service answers with 503 (0 to 1).
    #[arg(long, default_value_t = 0.02)]
    failure_rate: f64,
}

pub fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), BoxError> {
    if !(0.0..=1.0).contains(&args.failure_rate) {
        return Err("--failure-rate must be from 0 to 1".into());
    }
    let concurrency = args.concurrency.max(1);
    // The services' address is known once the server listens; the resources' `base_url` is
    // `${API_URL}/...`, handed in for their opening only (`with_vars`), not set in the
    // process's environment.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = Server::start_on(
        listener,
        Behaviour {
            latency: Duration::from_millis(args.latency_ms),
            failure_rate: args.failure_rate,
        },
    )?;
    let resources = with_vars([("API_URL", url.as_str())], ApiOrchestrationResources::open)?;
    let machine = Arc::new(ApiOrchestration::new(Api, resources));

    let decided = VecSink::new();
    let failed = VecSink::new();
    let records = (0..args.records).map(|id| Application {
        id,
        ..Application::default()
    });
    let summary = Pipeline::new(Concurrent(machine))
        .workers(1)
        .chunk_size(concurrency.max(256))
        .concurrency(concurrency)
        .route(ApiOrchestrationEnd::Decided, decided.clone())
        .dead_letter_state(ApiOrchestrationEnd::Failed)
        .dead_letter(failed.clone())
        .run(IterSource::new(records).named("applications"))?;

    let decisions = decided.take();
    let approved = decisions.iter().filter(|a| a.approved == Some(true)).count();
    let stats = &server.stats;
    eprintln!(
        "api_orchestration: {} records, concurrency {concurrency}, latency {} ms, failure rate {} ({url})",
        args.records, args.latency_ms, args.failure_rate
    );
    eprintln!("{summary}");
    eprintln!("  decided   {:>10}  ({approved} approved)", decisions.len());
    eprintln!(
        "  requests  {:>10}  ({} answered 503 and retried)",
        stats.requests.load(std::sync::atomic::Ordering::Relaxed),
        stats.injected_failures.load(std::sync::atomic::Ordering::Relaxed)
    );
    eprintln!(
        "  open at once: customers {}, orders {}, credit {}, decisions {}",
        stats.most_open("customers"),
        stats.most_open("orders"),
        stats.most_open("credit"),
        stats.most_open("decisions")
    );
    println!("records/s: {:.1}", summary.records_per_sec());
    drop(server);
    if !summary.is_balanced() {
        return Err("the summary does not balance".into());
    }
    Ok(())
}
