//! `fsm`: the command-line tool over the fsm compiler.
//!
//! ```text
//! fsm check machines/*.yaml            # every problem of every file, exit 1 if any is an error
//! fsm check --format json order.yaml   # for editors and CI
//! fsm schema -o fsm.schema.json        # JSON Schema of the YAML format (to stdout without -o)
//! fsm graph order.yaml --format dot     # the machine as a diagram (mermaid, the default, or dot)
//! fsm expand order.yaml                # the Rust code generated for the machine
//! ```
//!
//! Exit codes: 0 when there are no errors, 1 when there are, 2 when an input cannot be read.

use clap::{Parser, Subcommand, ValueEnum};
use fsm_codegen::{Diagnostics, Source, codes};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Compile-time checked finite-state machines: check machine files, print the format's schema.
#[derive(Parser, Debug)]
#[command(name = "fsm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check machine files and report every problem found in them.
    Check(CheckArgs),
    /// Print the JSON Schema of the YAML format (for editors: `# yaml-language-server: $schema=...`).
    Schema(SchemaArgs),
    /// Print the machine as a diagram: Mermaid (`stateDiagram-v2`) or Graphviz DOT.
    Graph(GraphArgs),
    /// Print the Rust code generated for a machine (what build.rs writes and the macros expand to).
    Expand(ExpandArgs),
}

#[derive(clap::Args, Debug)]
struct SchemaArgs {
    /// Write the schema to FILE instead of standard output (a symlink is followed, a device or
    /// FIFO written in place; a regular file is replaced whole, never left half-written).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct GraphArgs {
    /// The YAML machine file.
    file: PathBuf,
    /// Diagram format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    format: GraphFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    /// Mermaid `stateDiagram-v2` (renders on GitHub, in rustdoc with a plugin, in mermaid.live).
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
}

#[derive(clap::Args, Debug)]
struct ExpandArgs {
    /// The YAML machine file.
    file: PathBuf,
    /// Path of the runtime crate in the generated code (`::fsm::runtime` through the facade).
    #[arg(long, default_value = "::fsm_runtime")]
    runtime: String,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// The YAML machine files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output format: a readable report, or JSON for editors and CI.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Treat warnings (unreachable states, states that cannot reach an end) as errors.
    #[arg(long)]
    deny_warnings: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The miette report: coloured on a terminal, plain when piped.
    Human,
    /// A JSON array of diagnostics: code, severity, message, file, line, column, byte span.
    Json,
}

/// Exit status of `fsm check`.
const EXIT_ERRORS: u8 = 1;
const EXIT_UNREADABLE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Schema(args) => match &args.output {
            None => print(&fsm_codegen::schema::schema_json()),
            Some(path) => write_file(path, &fsm_codegen::schema::schema_json()),
        },
        Command::Graph(args) => graph(&args),
        Command::Expand(args) => expand(&args),
    }
}

/// Reads and compiles one machine for `graph` and `expand`; on errors prints the report.
fn compiled(
    file: &std::path::Path,
    options: &fsm_codegen::codegen::Options,
) -> Result<fsm_codegen::Compiled, ExitCode> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return Err(ExitCode::from(EXIT_UNREADABLE));
        }
    };
    let source = match fsm_codegen::span::decode(file.display().to_string(), &bytes) {
        Ok(source) => source,
        Err((source, diagnostic)) => {
            let mut diagnostics = Diagnostics::new();
            diagnostics.push(diagnostic);
            eprint!("{}", diagnostics.render(&source));
            return Err(ExitCode::from(EXIT_ERRORS));
        }
    };
    fsm_codegen::compile_with(&source, options).map_err(|diagnostics| {
        eprint!("{}", diagnostics.render(&source));
        ExitCode::from(EXIT_ERRORS)
    })
}

fn graph(args: &GraphArgs) -> ExitCode {
    let compiled = match compiled(&args.file, &fsm_codegen::codegen::Options::default()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let format = match args.format {
        GraphFormat::Mermaid => fsm_codegen::codegen::diagram::Format::Mermaid,
        GraphFormat::Dot => fsm_codegen::codegen::diagram::Format::Dot,
    };
    print(&fsm_codegen::codegen::diagram::render(&compiled.ir, format))
}

fn expand(args: &ExpandArgs) -> ExitCode {
    let mut options = fsm_codegen::codegen::Options::default();
    if let Err(e) = options.runtime_path(&args.runtime) {
        eprintln!("error: --runtime `{}`: {e}", args.runtime);
        return ExitCode::from(EXIT_ERRORS);
    }
    match compiled(&args.file, &options) {
        Ok(c) => print(&c.code),
        Err(code) => code,
    }
}

fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(EXIT_UNREADABLE),
    }
}

/// Writes `text` to `path` through the runtime's output file: a regular file is written beside
/// and renamed over (a failed write leaves the old file), a symlink followed, a device or FIFO
/// written in place. Errors name the file; exit code 2.
fn write_file(path: &std::path::Path, text: &str) -> ExitCode {
    let written = fsm_runtime::stream::OutputFile::create(path).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.finish()
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}

/// One checked file: its source and what was found, or why it could not be read.
enum Checked {
    Read(Source, Diagnostics),
    Unreadable(String, std::io::Error),
}

fn check(args: &CheckArgs) -> ExitCode {
    let checked: Vec<Checked> = args
        .files
        .iter()
        .map(|path| {
            let name = path.display().to_string();
            match std::fs::read(path) {
                Ok(bytes) => {
                    let (source, mut diagnostics) = match fsm_codegen::span::decode(name, &bytes) {
                        Ok(source) => {
                            let (_, diagnostics) = fsm_codegen::check(&source);
                            (source, diagnostics)
                        }
                        Err((source, diagnostic)) => {
                            let mut diagnostics = Diagnostics::new();
                            diagnostics.push(diagnostic);
                            (source, diagnostics)
                        }
                    };
                    if args.deny_warnings {
                        diagnostics.deny_warnings();
                    }
                    Checked::Read(source, diagnostics)
                }
                Err(error) => Checked::Unreadable(name, error),
            }
        })
        .collect();
    let report = match args.format {
        Format::Human => human(&checked),
        Format::Json => json(&checked),
    };
    let printed = print(&report);
    let unreadable = checked.iter().any(|c| matches!(c, Checked::Unreadable(..)));
    let errors = checked
        .iter()
        .any(|c| matches!(c, Checked::Read(_, d) if d.has_errors()));
    if unreadable {
        ExitCode::from(EXIT_UNREADABLE)
    } else if errors {
        ExitCode::from(EXIT_ERRORS)
    } else {
        printed
    }
}

fn human(checked: &[Checked]) -> String {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let (mut errors, mut warnings) = (0, 0);
    let mut out = String::new();
    for file in checked {
        match file {
            Checked::Read(source, diagnostics) => {
                errors += diagnostics.error_count();
                warnings += diagnostics.len() - diagnostics.error_count();
                // One report at a time, with a blank line after each, so that they stand apart;
                // at most `MAX_REPORTED` of a file, then how many more there are.
                let (reports, more) = diagnostics.render_each(source, theme.clone(), 100);
                for report in reports {
                    out.push_str(&report);
                    out.push('\n');
                }
                if more > 0 {
                    out.push_str(&format!("{}: ", source.name));
                    out.push_str(&fsm_codegen::diagnostics::more_line(more));
                }
            }
            Checked::Unreadable(name, error) => {
                errors += 1;
                out.push_str(&format!("error[{}]: cannot read `{name}`: {error}\n", codes::IO));
            }
        }
    }
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    out.push_str(&format!(
        "checked {}: {}, {}\n",
        plural(checked.len(), "file"),
        plural(errors, "error"),
        plural(warnings, "warning")
    ));
    out
}

fn json(checked: &[Checked]) -> String {
    let mut all = Vec::new();
    for file in checked {
        match file {
            Checked::Read(source, diagnostics) => {
                if let serde_json::Value::Array(items) = diagnostics.to_json(source) {
                    all.extend(items);
                }
            }
            Checked::Unreadable(name, error) => all.push(serde_json::json!({
                "code": codes::IO,
                "severity": "error",
                "message": format!("cannot read `{name}`: {error}"),
                "file": name,
                "line": null,
                "column": null,
                "span": null,
                "labels": [],
                "help": null,
            })),
        }
    }
    let mut text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".to_owned());
    text.push('\n');
    text
}
