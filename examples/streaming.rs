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
//! started again resumes after the last committed chunk, without `--checkpoint`. They also take
//! `postgres://USER@HOST:PORT/DB?table=T` (the same, in PostgreSQL: records as rows
//! `(id BIGINT PRIMARY KEY, record JSONB)`, output upserted by `id` into such a table, created if
//! missing). Other URL parameters (`&sslmode=require`, `&options=-csearch_path%3Ds`) go to the
//! server.
//!
//! Past one machine (docs/scale-out.md): `--input nats://HOST:PORT/STREAM` reads a NATS JetStream
//! stream (`?subject=`, default `STREAM.records`; `?consumer=`, default `fsm-workers`) through a
//! durable consumer that any number of these processes share, on any hosts; each message is
//! acknowledged once its output is durable. `--until-drained` exits when nothing is left.
//! `--output`/`--errors` may be `nats://HOST:PORT/STREAM?subject=S` too (defaults
//! `STREAM.output`, `STREAM.dead_letters`). The `publish` subcommand loads a file into a stream:
//!
//! ```text
//! cargo run --release --example streaming -- publish --input IN.jsonl --to nats://127.0.0.1:4222/WORK
//! cargo run --release --example streaming -- --input nats://127.0.0.1:4222/WORK --until-drained \
//!     --output postgres://postgres@127.0.0.1:5432/test?table=out --errors postgres://postgres@127.0.0.1:5432/test?table=errors
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fsm_examples::processor::StreamingProcessorEnd;
use fsm_examples::record::{Generated, Record, write_input};
use fsm_examples::streaming_machine;
use fsm_runtime::stream::{
    DEFAULT_MAX_RECORD_BYTES, InputFile, JetStream, JsonCodec, JsonlSink, JsonlSource, NatsConsumer,
    NatsDeadLetterSink, NatsSink, NatsSource, NatsUrl, OutputFile, Pipeline, PostgresSource, PostgresTarget, Source,
    SqliteSource, SqliteTarget, progress,
};

/// Upper bounds of the options: beyond them a run cannot start its threads or allocate its chunks,
/// so they are refused up front with a usage error instead.
const MAX_WORKERS: i64 = 256;
const MAX_CHUNK_SIZE: i64 = 1_000_000;
const MAX_RECORD_BYTES: u64 = 1 << 30;

#[derive(Parser, Debug)]
#[command(
    about = "Seed 001's StreamingProcessor over a JSON Lines stream",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// JSON Lines input (`-` for stdin; `.gz` is decompressed), `sqlite://PATH?table=T`,
    /// `postgres://USER@HOST:PORT/DB?table=T` (rows `(id, record)`, the record as JSON), or a
    /// NATS JetStream stream `nats://HOST:PORT/STREAM[?subject=S][&consumer=C]`.
    #[arg(long, conflicts_with = "generate")]
    input: Option<PathBuf>,
    /// With a `nats://` input: exit when the stream has nothing left for any worker (instead of
    /// waiting for more).
    #[arg(long)]
    until_drained: bool,
    /// With a `nats://` input: seconds the server waits for a message's acknowledgement before it
    /// delivers the message again (to any worker); used when the consumer is created.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    ack_wait: u64,
    /// With a `nats://` input: deliveries of a message before it is dead-lettered as `poison`
    /// (it crashed its worker each time); used when the consumer is created.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(3..=1000))]
    max_deliver: u64,
    /// Generate N records in the seed's shape (some invalid, some not JSON) instead of reading a file.
    #[arg(long, value_name = "N")]
    generate: Option<u64>,
    /// With --generate: write the generated input to this file and exit.
    #[arg(long, value_name = "FILE", requires = "generate")]
    save: Option<PathBuf>,
    /// Where records ending in `output` go (`-` for stdout; `.gz` is compressed),
    /// `sqlite://PATH?table=T`, `postgres://USER@HOST:PORT/DB?table=T` or
    /// `nats://HOST:PORT/STREAM[?subject=S]`.
    #[arg(long, default_value = "target/streaming/output.jsonl")]
    output: PathBuf,
    /// Dead-letter file: invalid records, undecodable lines, failed runs; or a table of the same
    /// database as --output's, or `nats://HOST:PORT/STREAM[?subject=S]` (reason in the headers).
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
    /// The JSON codec of JSON Lines input, output and dead letters: `serde_json`, or `sonic`
    /// (sonic-rs: the same records, reasons and bytes; not faster on these small records,
    /// docs/streaming.md § JSON codecs).
    #[arg(long, default_value = "serde_json", value_parser = codec_name)]
    codec: JsonCodec,
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

#[derive(Subcommand, Debug)]
enum Command {
    /// Loads a JSON Lines file into a JetStream stream (created if missing), one message per
    /// line, with message IDs `PATH:LINE`: loading it again within the stream's duplicate window
    /// (2 minutes by default) adds nothing.
    Publish {
        /// The JSON Lines file.
        #[arg(long)]
        input: PathBuf,
        /// The stream: `nats://HOST:PORT/STREAM[?subject=S]` (default subject `STREAM.records`).
        #[arg(long)]
        to: String,
    },
}

pub(crate) fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.command {
        Some(Command::Publish { input, to }) => publish(input, to),
        None => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

fn publish(input: &std::path::Path, to: &str) -> Result<(), BoxError> {
    let url = nats_url(to).ok_or_else(|| format!("--to `{to}`: write nats://HOST:PORT/STREAM"))??;
    let file = std::fs::File::open(input).map_err(|e| format!("--input `{}`: {e}", input.display()))?;
    // The message IDs name the file by its canonical path: the same file loaded from another
    // directory is still recognised.
    let id = std::fs::canonicalize(input).unwrap_or_else(|_| input.to_path_buf());
    let js = JetStream::connect(&url.server)?;
    js.ensure_stream(&url.stream)?;
    let subject = url.subject_or("records");
    let done = js.publish_lines(
        std::io::BufReader::with_capacity(256 * 1024, file),
        &subject,
        &id.display().to_string(),
    )?;
    eprintln!(
        "{} -> {subject}: {} messages stored, {} dropped as duplicates",
        input.display(),
        done.stored,
        done.duplicates
    );
    Ok(())
}

fn nats_url(arg: &str) -> Option<Result<NatsUrl, String>> {
    NatsUrl::parse(arg)
}

fn run(args: &Args) -> Result<(), BoxError> {
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
    let nats = args
        .input
        .as_deref()
        .and_then(|p| p.to_str())
        .and_then(nats_url)
        .transpose()
        .map_err(|e| format!("--input: {e}"))?;
    if args.until_drained && nats.is_none() {
        return Err("--until-drained is for a nats:// input".into());
    }
    if let Some(url) = nats {
        let js = JetStream::connect(&url.server).map_err(|e| format!("--input: {e}"))?;
        let consumer = NatsConsumer {
            name: url.consumer.clone().unwrap_or_else(|| NatsConsumer::default().name),
            subject: Some(url.subject_or("records")),
            ack_wait: Duration::from_secs(args.ack_wait),
            max_deliver: args.max_deliver,
            ..NatsConsumer::default()
        };
        let source = NatsSource::<Record>::open(&js, &url.stream, consumer)
            .map_err(|e| format!("--input: {e}"))?
            .batch(args.chunk_size as usize)
            .until_drained(args.until_drained);
        return run_pipeline(args, source);
    }
    if let Some(Place::Postgres(url, table)) = args
        .input
        .as_deref()
        .filter(|p| {
            p.to_str()
                .is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
        })
        .map(Place::parse)
        .transpose()
        .map_err(|e| format!("--input: {e}"))?
    {
        let name = args
            .input
            .as_deref()
            .map(|p| redacted(&p.display().to_string()))
            .unwrap_or_default();
        let source = PostgresSource::<Record>::table(&url, &table, "id")
            .map_err(|e| format!("--input: {e}"))?
            .json_column("record")
            .name(&name);
        return run_pipeline(args, source);
    }
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
    source
        .max_record_bytes(usize::try_from(args.max_record_bytes).unwrap_or(usize::MAX))
        .codec(args.codec)
}

fn codec_name(name: &str) -> Result<JsonCodec, String> {
    JsonCodec::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = JsonCodec::ALL.iter().map(|c| c.name()).collect();
        format!("`{name}` is no JSON codec of this build (codecs: {})", known.join(", "))
    })
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

/// `url` without the password of its credentials (`postgres://u:secret@h/db` as
/// `postgres://u@h/db`): the name of a database input, which dead letters and messages show.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split_once(':').map_or(credentials, |(u, _)| u);
            format!("{scheme}://{user}@{host}{}", &rest[authority_end..])
        }
        None => url.to_string(),
    }
}

/// Where --output or --errors goes.
enum Place {
    File(PathBuf),
    Sqlite(PathBuf, String),
    /// The connection URL (without `table=`) and the table.
    Postgres(String, String),
    Nats(NatsUrl),
}

impl Place {
    fn parse(arg: &std::path::Path) -> Result<Place, String> {
        if let Some((path, table)) = sqlite_url(arg)? {
            return Ok(Place::Sqlite(path, table));
        }
        let Some(text) = arg.to_str() else {
            return Ok(Place::File(arg.to_path_buf()));
        };
        if let Some(url) = nats_url(text) {
            return url.map(Place::Nats);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let usage = || format!("`{text}`: write postgres://USER@HOST:PORT/DB?table=TABLE");
            let (base, query) = text.split_once('?').ok_or_else(usage)?;
            let mut table = None;
            let rest: Vec<&str> = query
                .split('&')
                .filter(|p| match p.strip_prefix("table=") {
                    Some(t) => {
                        table = Some(t.to_string());
                        false
                    }
                    None => true,
                })
                .collect();
            let table = table.filter(|t| !t.is_empty()).ok_or_else(usage)?;
            let url = if rest.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", rest.join("&"))
            };
            return Ok(Place::Postgres(url, table));
        }
        Ok(Place::File(arg.to_path_buf()))
    }
}

/// The job's name in the sink database's position table. Workers reading a stream each have
/// their own (the stream's consumer keeps their common place; the rows are only their counts).
fn job_name(table: &str, from_nats: bool) -> String {
    if from_nats {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("streaming:{table}@{}:{}", host.trim(), std::process::id())
    } else {
        format!("streaming:{table}")
    }
}

fn no_checkpoint(args: &Args) -> Result<(), BoxError> {
    if args.checkpoint.is_some() {
        return Err("--checkpoint is for files: a database or stream output keeps its position itself".into());
    }
    Ok(())
}

fn run_pipeline<S: Source<Item = Record>>(args: &Args, source: S) -> Result<(), Box<dyn std::error::Error>> {
    let source_name = source.name();
    let output = Place::parse(&args.output).map_err(|e| format!("--output: {e}"))?;
    let errors = Place::parse(&args.errors).map_err(|e| format!("--errors: {e}"))?;
    let machine = streaming_machine();
    let mut pipeline = Pipeline::new(&machine)
        .workers(usize::from(args.workers))
        .chunk_size(args.chunk_size as usize);
    let from_nats = args
        .input
        .as_deref()
        .and_then(|p| p.to_str())
        .is_some_and(|s| s.starts_with("nats://"));
    match (output, errors) {
        (Place::Sqlite(out_path, out_table), Place::Sqlite(err_path, err_table)) => {
            if out_path != err_path {
                return Err(
                    "--output and --errors in databases must be tables of the same one: they are committed together"
                        .into(),
                );
            }
            no_checkpoint(args)?;
            let target = SqliteTarget::open(&out_path, &job_name(&out_table, from_nats))
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
        (Place::Postgres(out_url, out_table), Place::Postgres(err_url, err_table)) => {
            if out_url != err_url {
                return Err(
                    "--output and --errors in databases must be tables of the same one: they are committed together"
                        .into(),
                );
            }
            no_checkpoint(args)?;
            let target = PostgresTarget::open(&out_url, &job_name(&out_table, from_nats))
                .map_err(|e| format!("--output: {e}"))?;
            if args.generate.is_some() {
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
        (Place::Nats(out), Place::Nats(err)) => {
            no_checkpoint(args)?;
            let js = JetStream::connect(&out.server).map_err(|e| format!("--output: {e}"))?;
            let err_js = if err.server == out.server {
                js.clone()
            } else {
                JetStream::connect(&err.server).map_err(|e| format!("--errors: {e}"))?
            };
            pipeline = pipeline
                .route(
                    StreamingProcessorEnd::Output,
                    NatsSink::<Record>::new(&js, &out.stream, &out.subject_or("output"))
                        .map_err(|e| format!("--output: {e}"))?,
                )
                .dead_letter_state(StreamingProcessorEnd::Error)
                .dead_letter(
                    NatsDeadLetterSink::<Record>::new(&err_js, &err.stream, &err.subject_or("dead_letters"))
                        .map_err(|e| format!("--errors: {e}"))?,
                );
        }
        (Place::File(out_path), Place::File(err_path)) => {
            for (flag, path) in [("--output", &out_path), ("--errors", &err_path)] {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("{flag}: cannot create the directory `{}`: {e}", dir.display()))?;
                }
            }
            if from_nats && args.checkpoint.is_none() {
                return Err(
                    "a nats:// input with file outputs needs --checkpoint: a message is acknowledged once its output is durable, and a file is durable before the run ends only through its checkpoint"
                        .into(),
                );
            }
            let mut output = OutputFile::create(&out_path).map_err(|e| format!("--output: {e}"))?;
            let mut errors = OutputFile::create(&err_path).map_err(|e| format!("--errors: {e}"))?;
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
                .route(
                    StreamingProcessorEnd::Output,
                    JsonlSink::to_output(output).codec(args.codec),
                )
                .dead_letter_state(StreamingProcessorEnd::Error)
                .dead_letter(JsonlSink::to_output(errors).codec(args.codec));
            if let Some(path) = &args.checkpoint {
                pipeline = pipeline.checkpoint(path, args.checkpoint_every);
            }
        }
        _ => {
            return Err(
                "--output and --errors are both files, both tables of one database (sqlite:// or postgres://), or both nats:// subjects"
                    .into(),
            );
        }
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
