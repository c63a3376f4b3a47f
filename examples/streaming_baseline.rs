//! The main job's baseline: the same work as `streaming` (seed 001: decode each JSON line,
//! validate, enrich, categorise, encode; invalid records and undecodable lines to the dead
//! letters) as the plain single-threaded serde_json loop a person would write without the
//! framework (`fsm_examples::record::plain_loop`). Its outputs are the main job's, record for
//! record (tests/bench_contenders.rs). scripts/main_job_bench.sh times the two side by side.
//!
//! ```text
//! cargo run --release --example streaming_baseline -- --input IN.jsonl --output OUT.jsonl --errors ERR.jsonl
//! ```

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use fsm_examples::record::plain_loop;

#[derive(Parser, Debug)]
#[command(about = "The main job's work as a plain serde_json loop (the benchmark's baseline)")]
struct Args {
    /// JSON Lines input.
    #[arg(long)]
    input: PathBuf,
    /// Where valid records go.
    #[arg(long)]
    output: PathBuf,
    /// Where invalid records and undecodable lines go.
    #[arg(long)]
    errors: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let run = || -> std::io::Result<_> {
        let input = BufReader::with_capacity(256 * 1024, File::open(&args.input)?);
        plain_loop(
            &args.input.display().to_string(),
            input,
            File::create(&args.output)?,
            File::create(&args.errors)?,
        )
    };
    match run() {
        Ok(counts) => {
            let elapsed = started.elapsed();
            println!(
                "read {} records in {elapsed:.2?} ({:.0} records/s): {} written, {} dead-lettered",
                counts.read,
                counts.read as f64 / elapsed.as_secs_f64().max(1e-9),
                counts.written,
                counts.errors
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
