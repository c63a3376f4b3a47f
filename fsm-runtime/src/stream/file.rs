//! Files: atomic outputs (written under a temporary name, renamed when the run succeeds), gzip, and
//! inputs that know their byte offset so a run can resume.

use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const BUFFER: usize = 256 * 1024;
/// Writes at least this long skip the buffer of an [`AtomicFile`].
const DIRECT_WRITE: usize = 32 * 1024;

/// Symbolic links followed before giving up (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Adds what was being done, and to which file, to an I/O error; keeps its kind.
pub(crate) fn context(error: io::Error, what: impl Display) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// Where an output is written: the file a run leaves behind, and how it gets there.
enum Target {
    /// A regular file (or a name not taken yet): written under `partial`, renamed to `path`.
    Atomic { partial: PathBuf, existed: bool },
    /// A device, FIFO or socket (`/dev/null`, a named pipe): written in place, nothing to rename.
    Direct,
}

/// A file written under a temporary name in the same directory (`.NAME.partial`) and renamed to its
/// final name only by [`AtomicFile::finish`], after an fsync: a crash or a failed run never leaves a
/// partial file under the final name.
///
/// A symbolic link is followed: its target is replaced, the link stays. A path that is not a regular
/// file (a device such as `/dev/null`, a FIFO) is written in place, as a shell redirection would;
/// such an output cannot checkpoint. A directory is refused.
///
/// The temporary file is removed on drop unless a checkpoint was taken (then it is what a resumed
/// run continues) or it was left by an earlier run and this one wrote nothing (a resume refused
/// for a wrong argument keeps what it would resume). Two runs writing the same output at once are
/// not supported.
pub struct AtomicFile {
    final_path: PathBuf,
    target: Target,
    out: BufWriter<File>,
    len: u64,
    /// Until the first write or restore, the temporary file may hold an interrupted run's output.
    fresh: bool,
    keep_on_drop: bool,
    finished: bool,
}

impl AtomicFile {
    /// Opens `.NAME.partial` next to `path` (next to the file a symbolic link points to). Existing
    /// content is kept until the first write (which truncates it), [`AtomicFile::restore`] (which
    /// resumes it) or [`AtomicFile::discard_partial`].
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let given = path.as_ref();
        match fs::metadata(given) {
            Ok(m) if m.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{}` is a directory", given.display()),
                ));
            }
            Ok(m) if !m.is_file() => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(given)
                    .map_err(|e| context(e, format_args!("cannot open `{}` for writing", given.display())))?;
                return Ok(AtomicFile {
                    final_path: given.to_path_buf(),
                    target: Target::Direct,
                    out: BufWriter::with_capacity(BUFFER, file),
                    len: 0,
                    fresh: false,
                    keep_on_drop: true,
                    finished: false,
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(context(e, format_args!("cannot write `{}`", given.display()))),
        }
        let final_path = resolve_links(given)?;
        let partial = partial_path_of(&final_path)?;
        let mut existed = false;
        let file = match OpenOptions::new().write(true).create_new(true).open(&partial) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                existed = true;
                OpenOptions::new().write(true).open(&partial)
            }
            Err(e) => Err(e),
        }
        .map_err(|e| context(e, format_args!("cannot create `{}`", partial.display())))?;
        Ok(AtomicFile {
            final_path,
            target: Target::Atomic { partial, existed },
            out: BufWriter::with_capacity(BUFFER, file),
            len: 0,
            fresh: true,
            keep_on_drop: false,
            finished: false,
        })
    }

    /// The final path (the target of a symbolic link given to [`AtomicFile::create`]).
    pub fn path(&self) -> &Path {
        &self.final_path
    }

    /// The temporary path written until [`AtomicFile::finish`]; `None` for a file written in
    /// place (a device, a FIFO).
    pub fn partial_path(&self) -> Option<&Path> {
        match &self.target {
            Target::Atomic { partial, .. } => Some(partial),
            Target::Direct => None,
        }
    }

    /// Empties the temporary file now, whatever an interrupted run left in it, and makes it this
    /// run's (removed if the run fails). For runs that will not resume.
    pub fn discard_partial(&mut self) -> io::Result<()> {
        self.start()?;
        if let Target::Atomic { existed, .. } = &mut self.target {
            *existed = false;
        }
        Ok(())
    }

    fn where_(&self) -> String {
        match &self.target {
            Target::Atomic { partial, .. } => format!("`{}`", partial.display()),
            Target::Direct => format!("`{}`", self.final_path.display()),
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if self.fresh {
            self.fresh = false;
            let file = self.out.get_mut();
            file.set_len(0)
                .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
                .map_err(|e| context(e, format_args!("cannot truncate {}", self.where_())))?;
        }
        Ok(())
    }

    /// Flushes and fsyncs; returns the length written, which [`AtomicFile::restore`] accepts.
    pub fn checkpoint(&mut self) -> io::Result<u64> {
        if let Target::Direct = self.target {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "`{}` is not a regular file: it cannot checkpoint",
                    self.final_path.display()
                ),
            ));
        }
        self.start()?;
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_data())
            .map_err(|e| context(e, format_args!("writing {}", self.where_())))?;
        self.keep_on_drop = true;
        Ok(self.len)
    }

    /// Continues an interrupted run: truncates the temporary file to `len` (a value returned by
    /// [`AtomicFile::checkpoint`]) and appends from there.
    pub fn restore(&mut self, len: u64) -> io::Result<()> {
        let partial = match &self.target {
            Target::Atomic { partial, .. } => partial.clone(),
            Target::Direct => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "`{}` is not a regular file: it cannot resume",
                        self.final_path.display()
                    ),
                ));
            }
        };
        let file = self.out.get_mut();
        let have = file
            .metadata()
            .map_err(|e| context(e, format_args!("`{}`", partial.display())))?
            .len();
        if have < len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "`{}` has {have} bytes but the checkpoint says {len}: it is not the file the checkpoint was taken with",
                    partial.display()
                ),
            ));
        }
        file.set_len(len)
            .and_then(|()| file.seek(SeekFrom::Start(len)).map(drop))
            .map_err(|e| context(e, format_args!("cannot truncate `{}`", partial.display())))?;
        self.len = len;
        self.fresh = false;
        self.keep_on_drop = true;
        Ok(())
    }

    /// Flushes, fsyncs, renames to the final name, and fsyncs the directory. A file written in
    /// place is only flushed.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        let partial = match &self.target {
            Target::Atomic { partial, .. } => partial.clone(),
            Target::Direct => {
                self.out
                    .flush()
                    .map_err(|e| context(e, format_args!("writing `{}`", self.final_path.display())))?;
                self.finished = true;
                return Ok(());
            }
        };
        self.start()?;
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .map_err(|e| context(e, format_args!("writing `{}`", partial.display())))?;
        fs::rename(&partial, &self.final_path).map_err(|e| {
            context(
                e,
                format_args!(
                    "cannot rename `{}` to `{}`",
                    partial.display(),
                    self.final_path.display()
                ),
            )
        })?;
        self.finished = true;
        sync_dir(&self.final_path);
        Ok(())
    }
}

/// The temporary name `.NAME.partial` next to `path`.
fn partial_path_of(path: &Path) -> io::Result<PathBuf> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` has no file name", path.display()),
        )
    })?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(file_name);
    partial_name.push(".partial");
    Ok(path.with_file_name(partial_name))
}

/// Follows symbolic links from `path` to the file they lead to (which may not exist yet: a
/// dangling link's target is created).
pub(crate) fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p)
                    .map_err(|e| context(e, format_args!("cannot read the link `{}`", p.display())))?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(context(e, format_args!("`{}`", p.display()))),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("`{}`: too many levels of symbolic links", path.display()),
    ))
}

#[cfg(unix)]
fn sync_dir(path: &Path) {
    // Makes the rename durable. Best effort: some file systems refuse to fsync a directory.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) {}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.start()?;
        let n = match self.out.write(buf) {
            Ok(n) => n,
            Err(e) => return Err(context(e, format_args!("writing {}", self.where_()))),
        };
        self.len += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.start()?;
        // A chunk's worth of records goes to the file as it is, not copied into the buffer first
        // (what is buffered is written before it).
        let written = if buf.len() >= DIRECT_WRITE {
            self.out.flush().and_then(|()| self.out.get_mut().write_all(buf))
        } else {
            self.out.write_all(buf)
        };
        if let Err(e) = written {
            return Err(context(e, format_args!("writing {}", self.where_())));
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.flush() {
            Ok(()) => Ok(()),
            Err(e) => Err(context(e, format_args!("writing {}", self.where_()))),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Target::Atomic { partial, existed } = &self.target
            && !self.finished
            && !self.keep_on_drop
            && !(self.fresh && *existed)
        {
            let _ = fs::remove_file(partial);
        }
    }
}

enum Output {
    File(AtomicFile),
    #[cfg(feature = "gzip")]
    Gzip(Option<flate2::write::GzEncoder<AtomicFile>>),
    Stream(BufWriter<Box<dyn Write + Send>>),
}

/// Where a file sink writes: an [`AtomicFile`] (gzip-compressed when the name ends in `.gz` and
/// the `gzip` feature is on), or a stream such as stdout.
pub struct OutputFile {
    out: Output,
    name: String,
}

impl OutputFile {
    /// Creates an atomic output file; `-` means stdout. A `.gz` name is compressed.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        if path == Path::new("-") {
            return Ok(Self::stdout());
        }
        let name = path.display().to_string();
        let file = AtomicFile::create(path)?;
        if path.extension().is_some_and(|e| e == "gz") {
            #[cfg(feature = "gzip")]
            {
                let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
                return Ok(OutputFile {
                    out: Output::Gzip(Some(gz)),
                    name,
                });
            }
            #[cfg(not(feature = "gzip"))]
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("`{name}`: writing gzip needs fsm-runtime's `gzip` feature"),
            ));
        }
        Ok(OutputFile {
            out: Output::File(file),
            name,
        })
    }

    /// Standard output (no atomicity, no checkpoint).
    pub fn stdout() -> Self {
        Self::writer("stdout", Box::new(io::stdout()))
    }

    /// Any writer (no atomicity, no checkpoint).
    pub fn writer(name: &str, w: Box<dyn Write + Send>) -> Self {
        OutputFile {
            out: Output::Stream(BufWriter::with_capacity(BUFFER, w)),
            name: name.to_string(),
        }
    }

    /// The name given at creation (`stdout` for stdout).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn atomic(&self) -> Option<&AtomicFile> {
        match &self.out {
            Output::File(f) => Some(f),
            #[cfg(feature = "gzip")]
            Output::Gzip(gz) => gz.as_ref().map(|gz| gz.get_ref()),
            Output::Stream(_) => None,
        }
    }

    /// The file written (after following symbolic links); `None` for stdout and other streams.
    pub fn path(&self) -> Option<&Path> {
        self.atomic().map(AtomicFile::path)
    }

    /// The temporary file written until [`OutputFile::finish`], if there is one: what to remove
    /// when the process is interrupted by a signal.
    pub fn partial_path(&self) -> Option<&Path> {
        self.atomic().and_then(AtomicFile::partial_path)
    }

    /// See [`AtomicFile::discard_partial`]; nothing to do for streams.
    pub fn discard_partial(&mut self) -> io::Result<()> {
        match &mut self.out {
            Output::File(f) => f.discard_partial(),
            #[cfg(feature = "gzip")]
            Output::Gzip(Some(gz)) => gz.get_mut().discard_partial(),
            _ => Ok(()),
        }
    }

    /// See [`super::Sink::checkpoint`]: plain files only.
    pub fn checkpoint(&mut self) -> io::Result<u64> {
        match &mut self.out {
            Output::File(f) => f.checkpoint(),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("`{}` cannot checkpoint (only uncompressed files can)", self.name),
            )),
        }
    }

    /// See [`super::Sink::restore`].
    pub fn restore(&mut self, len: u64) -> io::Result<()> {
        match &mut self.out {
            Output::File(f) => f.restore(len),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("`{}` cannot resume (only uncompressed files can)", self.name),
            )),
        }
    }

    /// Flushes and, for files, moves the output to its final name.
    pub fn finish(&mut self) -> io::Result<()> {
        match &mut self.out {
            Output::File(f) => f.finish(),
            #[cfg(feature = "gzip")]
            Output::Gzip(gz) => match gz.take() {
                Some(gz) => {
                    let mut file = gz.finish()?;
                    file.finish()
                }
                None => Ok(()),
            },
            Output::Stream(w) => w.flush(),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Output::File(f) => f.write(buf),
            #[cfg(feature = "gzip")]
            Output::Gzip(Some(gz)) => gz.write(buf),
            #[cfg(feature = "gzip")]
            Output::Gzip(None) => Err(io::Error::other("write after finish")),
            Output::Stream(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Output::File(f) => f.write_all(buf),
            #[cfg(feature = "gzip")]
            Output::Gzip(Some(gz)) => gz.write_all(buf),
            #[cfg(feature = "gzip")]
            Output::Gzip(None) => Err(io::Error::other("write after finish")),
            Output::Stream(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Output::File(f) => f.flush(),
            #[cfg(feature = "gzip")]
            Output::Gzip(Some(gz)) => gz.flush(),
            #[cfg(feature = "gzip")]
            Output::Gzip(None) => Ok(()),
            Output::Stream(w) => w.flush(),
        }
    }
}

/// A buffered input that counts the bytes consumed, so a source can report its [`super::Position`]
/// and resume from it: by seeking in plain files, by skipping decompressed bytes in gzip files.
pub struct InputFile {
    reader: Box<dyn BufRead + Send>,
    path: Option<PathBuf>,
    seekable: Option<File>,
    offset: u64,
    name: String,
}

impl InputFile {
    /// Opens a file; `-` means stdin. Gzip input (by magic bytes) is decompressed when the `gzip`
    /// feature is on.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        if path == Path::new("-") {
            return Ok(Self::stdin());
        }
        let name = path.display().to_string();
        let fail = |e| context(e, format_args!("cannot read input `{name}`"));
        let mut file = File::open(path).map_err(|e| context(e, format_args!("cannot open input `{name}`")))?;
        let meta = file.metadata().map_err(fail)?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("input `{name}` is a directory"),
            ));
        }
        if !meta.is_file() {
            // A FIFO or a device (`<(zcat IN.gz)`, /dev/stdin): it cannot seek, so gzip is
            // recognised by peeking at the buffer, and a checkpoint cannot resume it.
            let mut reader = BufReader::with_capacity(BUFFER, file);
            let reader: Box<dyn BufRead + Send> = if reader.fill_buf().map_err(fail)?.starts_with(&[0x1f, 0x8b]) {
                #[cfg(feature = "gzip")]
                {
                    Box::new(BufReader::with_capacity(
                        BUFFER,
                        flate2::bufread::MultiGzDecoder::new(reader),
                    ))
                }
                #[cfg(not(feature = "gzip"))]
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("`{name}` is gzip-compressed: reading it needs fsm-runtime's `gzip` feature"),
                ));
            } else {
                Box::new(reader)
            };
            return Ok(InputFile {
                reader,
                path: Some(path.to_path_buf()),
                seekable: None,
                offset: 0,
                name,
            });
        }
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic).map_err(fail)?;
        file.seek(SeekFrom::Start(0)).map_err(fail)?;
        if n == 2 && magic == [0x1f, 0x8b] {
            #[cfg(feature = "gzip")]
            {
                let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(BUFFER, file));
                return Ok(InputFile {
                    reader: Box::new(BufReader::with_capacity(BUFFER, gz)),
                    path: Some(path.to_path_buf()),
                    seekable: None,
                    offset: 0,
                    name,
                });
            }
            #[cfg(not(feature = "gzip"))]
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("`{name}` is gzip-compressed: reading it needs fsm-runtime's `gzip` feature"),
            ));
        }
        let seekable = file.try_clone().map_err(fail)?;
        Ok(InputFile {
            reader: Box::new(BufReader::with_capacity(BUFFER, file)),
            path: Some(path.to_path_buf()),
            seekable: Some(seekable),
            offset: 0,
            name,
        })
    }

    /// Standard input.
    pub fn stdin() -> Self {
        Self::reader("stdin", Box::new(BufReader::with_capacity(BUFFER, io::stdin())))
    }

    /// Any buffered reader.
    pub fn reader(name: &str, reader: Box<dyn BufRead + Send>) -> Self {
        InputFile {
            reader,
            path: None,
            seekable: None,
            offset: 0,
            name: name.to_string(),
        }
    }

    /// The name given at opening (`stdin` for stdin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file read, as given to [`InputFile::open`]; `None` for stdin and other readers.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads up to and including the next `\n` into `buf` (cleared first); returns the bytes read,
    /// 0 at the end.
    pub fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.clear();
        let n = self.reader.read_until(b'\n', buf)?;
        self.offset += n as u64;
        Ok(n)
    }

    /// Appends up to and including the next `\n` to `buf`; returns the bytes read, 0 at the end.
    pub fn append_line(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.reader.read_until(b'\n', buf)?;
        self.offset += n as u64;
        Ok(n)
    }

    /// Moves to `offset` bytes from the start; only before the first read.
    pub fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        if self.offset != 0 {
            return Err(io::Error::other("skip_to after reading"));
        }
        if let Some(file) = self.seekable.take() {
            let len = file.metadata()?.len();
            if len < offset {
                return Err(short_input(&self.name, offset));
            }
            let mut file = file;
            file.seek(SeekFrom::Start(offset))?;
            self.reader = Box::new(BufReader::with_capacity(BUFFER, file));
        } else {
            let skipped = io::copy(&mut (&mut self.reader).take(offset), &mut io::sink())?;
            if skipped < offset {
                return Err(short_input(&self.name, offset));
            }
        }
        self.offset = offset;
        Ok(())
    }

    /// The buffered bytes not consumed yet, reading more when there are none; empty at the end.
    /// With [`InputFile::consume`], this is how a source reads lines in bounded memory. As
    /// [`BufRead::fill_buf`], it may fail with [`io::ErrorKind::Interrupted`]: try again then.
    #[cfg_attr(not(feature = "jsonl"), allow(dead_code))]
    pub(crate) fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.reader.fill_buf()
    }

    /// Marks `n` bytes returned by [`InputFile::fill_buf`] as read.
    #[cfg_attr(not(feature = "jsonl"), allow(dead_code))]
    pub(crate) fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.offset += n as u64;
    }
}

impl Read for InputFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

fn short_input(name: &str, offset: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("`{name}` is shorter than the checkpoint's offset {offset}"),
    )
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The name a file is known by for comparisons: the canonical path when it exists, else the
/// canonical directory joined with the name (after following symbolic links).
pub(crate) fn canonical_path(path: &Path) -> PathBuf {
    if let Ok(p) = fs::canonicalize(path) {
        return p;
    }
    let p = resolve_links(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (fs::canonicalize(dir), p.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => std::env::current_dir().map_or(p.clone(), |cwd| cwd.join(&p)),
    }
}

/// Refuses one file in two roles of a run (`[("the input", in), ("the output", out), ...]`)
/// before anything is read or written: writing the input, or the output over the dead letters,
/// or the checkpoint over an output destroys data. Paths are compared canonically (symbolic
/// links followed, `..` resolved) and, for files that exist, by device and inode (hard links).
/// Devices and FIFOs (`/dev/null`, `-` for stdin or stdout) may serve several roles.
///
/// The error ([`io::ErrorKind::InvalidInput`]) names the file and both roles.
pub fn distinct_files(files: &[(&str, &Path)]) -> io::Result<()> {
    struct Key {
        canonical: PathBuf,
        id: Option<(u64, u64)>,
    }
    let mut seen: Vec<(&str, &Path, Key)> = Vec::new();
    for &(role, path) in files {
        if path == Path::new("-") {
            continue;
        }
        let id = match fs::metadata(path) {
            Ok(m) if !m.is_file() => continue,
            Ok(m) => file_id(&m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(context(e, format_args!("{role} `{}`", path.display()))),
        };
        let key = Key {
            canonical: canonical_path(path),
            id,
        };
        let same = seen
            .iter()
            .find(|(_, _, k)| k.canonical == key.canonical || (key.id.is_some() && k.id == key.id));
        if let Some((other_role, other_path, _)) = same {
            let also = if other_path == &path {
                String::new()
            } else {
                format!(" (given as `{}`)", other_path.display())
            };
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "`{}` is both {other_role}{also} and {role}: give each its own file",
                    path.display()
                ),
            ));
        }
        seen.push((role, path, key));
    }
    Ok(())
}

#[cfg(unix)]
fn file_id(m: &fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_m: &fs::Metadata) -> Option<(u64, u64)> {
    None
}
