//! The build.rs builder: compile YAML machines into `OUT_DIR`, in the style of prost-build.
//!
//! `build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), fsm_codegen::config::Error> {
//!     fsm_codegen::Config::new().compile(["machines/order.yaml"])?;
//!     Ok(())
//! }
//! ```
//!
//! `src/lib.rs` (with the `fsm` facade; `include!(concat!(env!("OUT_DIR"), "/order.rs"))` without it):
//!
//! ```ignore
//! mod order {
//!     fsm::include_machine!("order");
//! }
//! ```
//!
//! What the builder does, runnable (outside build.rs, set the output directory and turn the cargo
//! directives off):
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("fsm-config-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let yaml = dir.join("door.yaml");
//! std::fs::write(&yaml, "name: Door\nevents: [{ name: open }, { name: close }]\nstates:\n  \
//!     - { name: closed, is_start: true }\n  - { name: opened }\narcs:\n  \
//!     - { from: closed, to: opened, on: open }\n  - { from: opened, to: closed, on: close }\n")?;
//!
//! let generated = fsm_codegen::Config::new()
//!     .out_dir(dir.join("out"))
//!     .cargo_metadata(false)
//!     .compile([&yaml])?;
//! assert_eq!(generated[0].output, dir.join("out").join("door.rs"));
//! let code = std::fs::read_to_string(&generated[0].output)?;
//! assert!(code.contains("pub enum DoorState") && code.contains("pub enum DoorEvent"));
//!
//! // A mistake fails with the rendered report, pointing into the file.
//! std::fs::write(&yaml, "name: Door\nstates:\n  - { name: closed, is_start: true }\narcs:\n  \
//!     - { from: closed, to: opend }\n")?;
//! let report = fsm_codegen::Config::new().out_dir(dir.join("out")).cargo_metadata(false).compile([&yaml]);
//! assert!(report.unwrap_err().to_string().contains("fsm::unknown_state"));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! Each file `machines/order.yaml` becomes `$OUT_DIR/order.rs` (the file stem, snake_case). Files
//! are written only when their content changes; `cargo:rerun-if-changed` is printed for every input
//! (and for the directory a glob reads, so new files are picked up). Errors in a machine fail the
//! build with the rendered report (file, line, column, the YAML underlined); warnings become
//! `cargo:warning=` lines.

use crate::codegen::Options;
use crate::diagnostics::Diagnostics;
use crate::span::Source;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Configuration of the build.rs generator.
#[derive(Clone, Debug)]
pub struct Config {
    out_dir: Option<PathBuf>,
    options: Options,
    cargo_metadata: bool,
    deny_warnings: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            out_dir: None,
            options: Options::default(),
            cargo_metadata: true,
            deny_warnings: false,
        }
    }
}

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The machine definition read.
    pub input: PathBuf,
    /// The Rust file written (or left as it was).
    pub output: PathBuf,
    /// Name of the machine.
    pub machine: String,
    /// Whether the file was (re)written.
    pub written: bool,
}

impl Config {
    /// A configuration with the defaults: output to `OUT_DIR`, runtime at `::fsm_runtime`, cargo
    /// directives printed.
    pub fn new() -> Self {
        Config::default()
    }

    /// Writes into `dir` instead of `OUT_DIR` (for tools and tests).
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The path of the runtime crate as the including crate sees it: `::fsm_runtime` (default) if
    /// it depends on `fsm-runtime`, `::fsm::runtime` if it depends on the `fsm` facade only.
    ///
    /// # Errors
    ///
    /// `path` must be a Rust path.
    pub fn runtime_path(&mut self, path: &str) -> Result<&mut Self, Error> {
        self.options
            .runtime_path(path)
            .map_err(|e| Error::Config(format!("runtime path `{path}`: {e}")))?;
        Ok(self)
    }

    /// Whether the Mermaid diagram goes into the machine type's docs (default: yes).
    pub fn diagram_in_docs(&mut self, yes: bool) -> &mut Self {
        self.options.diagram_in_docs = yes;
        self
    }

    /// Treat warnings (unreachable states, ...) as errors (default: no; a machine can also say
    /// `deny_warnings: true`).
    pub fn deny_warnings(&mut self, yes: bool) -> &mut Self {
        self.deny_warnings = yes;
        self
    }

    /// Whether to print `cargo:rerun-if-changed` and `cargo:warning` lines (default: yes; turn off
    /// outside build scripts).
    pub fn cargo_metadata(&mut self, yes: bool) -> &mut Self {
        self.cargo_metadata = yes;
        self
    }

    /// Compiles each YAML file into `<out dir>/<file stem>.rs`.
    ///
    /// Every file is checked before the first error is returned, so one build shows the problems
    /// of all files.
    ///
    /// # Errors
    ///
    /// [`Error::Machine`] with every rendered report when a machine has errors; [`Error::Io`] when a
    /// file cannot be read or written; [`Error::Config`] without `OUT_DIR` or when two inputs
    /// would write the same file.
    pub fn compile<I, P>(&self, files: I) -> Result<Vec<Generated>, Error>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| Error::Config("OUT_DIR is not set: call this from build.rs, or set `out_dir`".into()))?,
        };
        let mut reports = Vec::new();
        let mut generated: Vec<Generated> = Vec::new();
        for file in files {
            let input = file.as_ref().to_path_buf();
            self.cargo(&format!("rerun-if-changed={}", input.display()));
            let output = out_dir.join(format!("{}.rs", output_stem(&input)));
            if let Some(other) = generated.iter().find(|g| g.output == output) {
                return Err(Error::Config(format!(
                    "`{}` and `{}` would both generate `{}`",
                    other.input.display(),
                    input.display(),
                    output.display()
                )));
            }
            let bytes = std::fs::read(&input).map_err(|e| Error::Io(input.clone(), e))?;
            let source = match crate::span::decode(input.display().to_string(), &bytes) {
                Ok(source) => source,
                Err((source, diagnostic)) => {
                    let mut diagnostics = crate::Diagnostics::new();
                    diagnostics.push(diagnostic);
                    reports.push(diagnostics.render(&source));
                    continue;
                }
            };
            match crate::compile_with(&source, &self.options) {
                Ok(compiled) => {
                    let mut warnings = compiled.warnings;
                    if self.deny_warnings && !warnings.is_empty() {
                        warnings.deny_warnings();
                        reports.push(warnings.render(&source));
                        continue;
                    }
                    self.warn(&source, &warnings);
                    let written = crate::emit::write_if_changed(&output, &compiled.code)
                        .map_err(|e| Error::Io(output.clone(), e))?;
                    generated.push(Generated {
                        input,
                        output,
                        machine: compiled.ir.name,
                        written,
                    });
                }
                Err(diagnostics) => reports.push(diagnostics.render(&source)),
            }
        }
        if reports.is_empty() {
            Ok(generated)
        } else {
            Err(Error::Machine(reports.join("\n")))
        }
    }

    /// Compiles every file matching a glob pattern (`machines/*.yaml`), in sorted order.
    ///
    /// # Errors
    ///
    /// As [`Config::compile`]; [`Error::Config`] for a bad pattern or no matching file.
    pub fn compile_glob(&self, pattern: &str) -> Result<Vec<Generated>, Error> {
        let paths = glob::glob(pattern).map_err(|e| Error::Config(format!("pattern `{pattern}`: {e}")))?;
        let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Config(format!("no file matches `{pattern}`")));
        }
        // New files in the directories read must rerun the build script too.
        let mut dirs: Vec<&Path> = files.iter().filter_map(|f| f.parent()).collect();
        dirs.dedup();
        for d in dirs {
            let shown = if d.as_os_str().is_empty() { Path::new(".") } else { d };
            self.cargo(&format!("rerun-if-changed={}", shown.display()));
        }
        self.compile(&files)
    }

    fn cargo(&self, line: &str) {
        if self.cargo_metadata {
            println!("cargo:{line}");
        }
    }

    fn warn(&self, source: &Source, warnings: &Diagnostics) {
        if !self.cargo_metadata || warnings.is_empty() {
            return;
        }
        for w in warnings {
            let (line, col) = source.line_col(w.span().start);
            println!("cargo:warning={}:{line}:{col}: {} [{}]", source.name, w.message, w.code);
        }
        // The full report goes to stderr, which cargo shows with `-vv`.
        let _ = writeln!(std::io::stderr(), "{}", warnings.render(source));
    }
}

/// The output file stem of an input: its file stem in snake_case (`Order-Flow.yaml` ->
/// `order_flow`).
pub fn output_stem(input: &Path) -> String {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let snake = crate::naming::fn_ident(&stem);
    if snake.is_empty() { "machine".to_owned() } else { snake }
}

/// Why a build failed. `Debug` prints the same text as `Display` (the rendered report), so that
/// `fn main() -> Result<(), Error>` in build.rs shows it readably.
pub enum Error {
    /// Machines with errors: the rendered reports.
    Machine(String),
    /// A file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// A problem with the configuration.
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Machine(report) => f.write_str(report),
            Error::Io(path, e) => write!(f, "{}: {e}", path.display()),
            Error::Config(msg) => f.write_str(msg),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(_, e) => Some(e),
            _ => None,
        }
    }
}
