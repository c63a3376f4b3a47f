//! The main job: seed 001's StreamingProcessor (examples/machines/streaming_processor.yaml,
//! compiled by build.rs) over a JSON Lines file, or over generated records.
//!
//! ```text
//! cargo run --release --example streaming -- --generate 1000000
//! cargo run --release --example streaming -- --input IN.jsonl --output OUT.jsonl --errors ERR.jsonl
//! cargo run --release --example streaming -- --generate 1000000 --save IN.jsonl   # write input, then exit
//! ```
//!
//! Valid records end in `output` and go to `--output`; invalid ones end in `error` and go, with
//! undecodable lines and failed runs, to the dead-letter file `--errors`, each with its reason, source
//! and line. Outputs appear under their final names only when the run succeeds. With
//! `--checkpoint FILE`, a killed run started again with the same arguments resumes where it stopped;
//! without it, an interrupted run (SIGINT, SIGTERM) removes its temporary files. One file cannot
//! serve two roles (input, output, dead letters, checkpoint): such a run is refused.
//!
//! `--input`, `--output` and `--errors` also take `sqlite://PATH?table=T`: records as rows
//! `(id INTEGER PRIMARY KEY, record TEXT)` (the record as JSON), dead letters in the dead-letter
//! table shape `(source, position, reason, message, payload)`. Output and dead letters in a database
//! go to the same one, committed together with the input's position every chunk: a killed run
//! started again resumes after the last committed chunk, without `--checkpoint`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fsm_examples::processor::StreamingProcessorEnd;
use fsm_examples::record::{Generated, Record, write_input};
use fsm_examples::streaming_machine;
use fsm_runtime::stream::{
    DEFAULT_MAX_RECORD_BYTES, InputFile, JsonlSink, JsonlSource, OutputFile, Pipeline, Source, SqliteSource,
    SqliteTarget, progress,
};

/// Upper bounds of the options: beyond them a run cannot start its threads or allocate its chunks,
/// so they are refused up front with a usage error instead.
const MAX_WORKERS: i64 = 256;
const MAX_CHUNK_SIZE: i64 = 1_000_000;
const MAX_RECORD_BYTES: u64 = 1 << 30;

#[derive(Parser, Debug)]
#[command(about = "Seed 001's StreamingProcessor over a JSON Lines stream")]
struct Args {
    /// JSON Lines input (`-` for stdin; `.gz` is decompressed), or `sqlite://PATH?table=T`.
    #[arg(long, conflicts_with = "generate")]
    input: Option<PathBuf>,
    /// Generate N records in the seed's shape (some invalid, some not JSON) instead of reading a file.
    #[arg(long, value_name = "N")]
    generate: Option<u64>,
    /// With --generate: write the generated input to this file and exit.
    #[arg(long, value_name = "FILE", requires = "generate")]
    save: Option<PathBuf>,
    /// Where records ending in `output` go (`-` for stdout; `.gz` is compressed), or
    /// `sqlite://PATH?table=T`.
    #[arg(long, default_value = "target/streaming/output.jsonl")]
    output: PathBuf,
    /// Dead-letter file: invalid records, undecodable lines, failed runs; or `sqlite://PATH?table=T`
    /// (the same database as --output's).
    #[arg(long, default_value = "target/streaming/errors.jsonl")]
    errors: PathBuf,
    /// Worker threads running the machine (1 to 256).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS))]
    workers: u16,
    /// Records per chunk (1 to 1,000,000). Memory holds at most (2 × workers + 2) chunks.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=MAX_CHUNK_SIZE))]
    chunk_size: u32,
    /// The longest input line read as a record, in bytes (1 KiB to 1 GiB; default 16 MiB). A
    /// longer line is skipped without being held in memory and dead-lettered as `too_large`.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_RECORD_BYTES as u64,
        value_parser = clap::value_parser!(u64).range(1024..=MAX_RECORD_BYTES)
    )]
    max_record_bytes: u64,
    /// Checkpoint file: resume an interrupted run from it.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Records between checkpoints (at least 1).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_every: u64,
    /// Write records as chunks finish instead of in input order.
    #[arg(long)]
    unordered: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub(crate) fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if let (Some(n), Some(path)) = (args.generate, &args.save) {
        write_input(path, n).map_err(|e| format!("--save `{}`: {e}", path.display()))?;
        eprintln!("wrote {n} records to {}", path.display());
        return Ok(());
    }
    let input = args
        .input
        .as_deref()
        .map(sqlite_url)
        .transpose()
        .map_err(|e| format!("--input: {e}"))?;
    match (input.flatten(), &args.input, args.generate) {
        (Some((path, table)), _, _) => {
            let name = args
                .input
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let source = SqliteSource::<Record>::table(&path, &table, "id")
                .map_err(|e| format!("--input: {e}"))?
                .json_column("record")
                .name(&name);
            run_pipeline(args, source)
        }
        (None, Some(path), _) => run_pipeline(args, limited(args, JsonlSource::open(path)?)),
        (None, None, Some(n)) => {
            let lines = std::io::BufReader::with_capacity(256 * 1024, Generated::new(n));
            run_pipeline(
                args,
                limited(
                    args,
                    JsonlSource::from_input(InputFile::reader("generated", Box::new(lines))),
                ),
            )
        }
        (None, None, None) => Err("give --input FILE or --generate N (see --help)".into()),
    }
}

fn limited(args: &Args, source: JsonlSource<Record>) -> JsonlSource<Record> {
    // Within usize: the option's range is at most 1 GiB.
    source.max_record_bytes(usize::try_from(args.max_record_bytes).unwrap_or(usize::MAX))
}

/// `sqlite://PATH?table=T` as (PATH, T); `None` for anything else (a file).
fn sqlite_url(arg: &std::path::Path) -> Result<Option<(PathBuf, String)>, String> {
    let Some(rest) = arg.to_str().and_then(|a| a.strip_prefix("sqlite://")) else {
        return Ok(None);
    };
    let Some((path, table)) = rest
        .split_once("?table=")
        .filter(|(p, t)| !p.is_empty() && !t.is_empty())
    else {
        return Err(format!("`{}`: write sqlite://PATH?table=TABLE", arg.display()));
    };
    Ok(Some((PathBuf::from(path), table.to_string())))
}

fn run_pipeline<S: Source<Item = Record>>(args: &Args, source: S) -> Result<(), Box<dyn std::error::Error>> {
    let source_name = source.name();
    let output_db = sqlite_url(&args.output).map_err(|e| format!("--output: {e}"))?;
    let errors_db = sqlite_url(&args.errors).map_err(|e| format!("--errors: {e}"))?;
    let machine = streaming_machine();
    let mut pipeline = Pipeline::new(&machine)
        .workers(usize::from(args.workers))
        .chunk_size(args.chunk_size as usize);
    match (output_db, errors_db) {
        (Some((out_path, out_table)), Some((err_path, err_table))) => {
            if out_path != err_path {
                return Err(
                    "--output and --errors in databases must be tables of the same one: they are committed together"
                        .into(),
                );
            }
            if args.checkpoint.is_some() {
                return Err("--checkpoint is for files: a database output keeps its position itself".into());
            }
            let target = SqliteTarget::open(&out_path, &format!("streaming:{out_table}"))
                .map_err(|e| format!("--output: {e}"))?;
            if args.generate.is_some() {
                // Generated input has no position to come back to: each run loads it all again
                // (upserts by id, so nothing is written twice).
                target.reset().map_err(|e| format!("--output: {e}"))?;
            }
            pipeline = pipeline
                .route(
                    StreamingProcessorEnd::Output,
                    target
                        .json_table::<Record>(&out_table, "id")
                        .map_err(|e| format!("--output: {e}"))?,
                )
                .dead_letter_state(StreamingProcessorEnd::Error)
                .dead_letter(
                    target
                        .dead_letters::<Record>(&err_table)
                        .map_err(|e| format!("--errors: {e}"))?,
                )
                .commit_chunks(target);
        }
        (None, None) => {
            for (flag, path) in [("--output", &args.output), ("--errors", &args.errors)] {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("{flag}: cannot create the directory `{}`: {e}", dir.display()))?;
                }
            }
            let mut output = OutputFile::create(&args.output).map_err(|e| format!("--output: {e}"))?;
            let mut errors = OutputFile::create(&args.errors).map_err(|e| format!("--errors: {e}"))?;
            if args.checkpoint.is_none() {
                // Nothing to resume: what a killed run left in the temporary files goes now, and an
                // interrupted run removes its own.
                output.discard_partial().map_err(|e| format!("--output: {e}"))?;
                errors.discard_partial().map_err(|e| format!("--errors: {e}"))?;
                let partials = [output.partial_path(), errors.partial_path()];
                remove_on_signal(partials.into_iter().flatten().map(PathBuf::from).collect())?;
            }
            pipeline = pipeline
                // Routes name the generated end enum: a misspelt end state is a compile error.
                .route(StreamingProcessorEnd::Output, JsonlSink::to_output(output))
                .dead_letter_state(StreamingProcessorEnd::Error)
                .dead_letter(JsonlSink::to_output(errors));
            if let Some(path) = &args.checkpoint {
                pipeline = pipeline.checkpoint(path, args.checkpoint_every);
            }
        }
        _ => return Err("--output and --errors are both files or both sqlite:// tables of one database".into()),
    }
    if args.unordered {
        pipeline = pipeline.unordered();
    }
    let bar = if args.quiet {
        None
    } else {
        let (bar, update) = progress::bar(args.generate);
        pipeline = pipeline.on_progress(Duration::from_millis(100), update);
        Some(bar)
    };

    let summary = pipeline.run(source)?;
    if let Some(bar) = bar {
        bar.finish();
    }
    eprintln!(
        "{source_name} -> {} (dead letters: {})",
        args.output.display(),
        args.errors.display()
    );
    eprintln!("{summary}");
    if let Some(kb) = peak_memory_kb() {
        eprintln!("peak memory: {:.1} MB", kb as f64 / 1024.0);
    }
    if !summary.is_balanced() {
        return Err("the summary does not balance".into());
    }
    Ok(())
}

/// On SIGINT or SIGTERM: removes `partials` and exits (128 + the signal, as a shell reports it).
#[cfg(unix)]
fn remove_on_signal(partials: Vec<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            for path in &partials {
                let _ = std::fs::remove_file(path);
            }
            eprintln!("interrupted (signal {signal}): temporary files removed");
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn remove_on_signal(_partials: Vec<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    Ok(())
}

/// Peak resident memory of this process (Linux: `VmHWM` in /proc/self/status).
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
