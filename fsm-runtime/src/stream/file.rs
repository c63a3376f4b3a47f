//! Files: atomic outputs (written under a temporary name, renamed when the run succeeds), gzip, and
//! inputs that know their byte offset so a run can resume.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const BUFFER: usize = 256 * 1024;

/// A file written under a temporary name in the same directory (`.NAME.partial`) and renamed to its
/// final name only by [`AtomicFile::finish`], after an fsync: a crash or a failed run never leaves a
/// partial file under the final name.
///
/// The temporary file is removed on drop unless a checkpoint was taken (then it is what a resumed
/// run continues). Two runs writing the same output at once are not supported.
pub struct AtomicFile {
    final_path: PathBuf,
    partial_path: PathBuf,
    out: BufWriter<File>,
    len: u64,
    /// Until the first write or restore, the temporary file may hold an interrupted run's output.
    fresh: bool,
    keep_on_drop: bool,
    finished: bool,
}

impl AtomicFile {
    /// Opens `.NAME.partial` next to `path`. Existing content is kept until the first write (which
    /// truncates it) or [`AtomicFile::restore`] (which resumes it).
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let final_path = path.as_ref().to_path_buf();
        let file_name = final_path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name"))?;
        let mut partial_name = std::ffi::OsString::from(".");
        partial_name.push(file_name);
        partial_name.push(".partial");
        let partial_path = final_path.with_file_name(partial_name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial_path)?;
        Ok(AtomicFile {
            final_path,
            partial_path,
            out: BufWriter::with_capacity(BUFFER, file),
            len: 0,
            fresh: true,
            keep_on_drop: false,
            finished: false,
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.final_path
    }

    /// The temporary path written until [`AtomicFile::finish`].
    pub fn partial_path(&self) -> &Path {
        &self.partial_path
    }

    fn start(&mut self) -> io::Result<()> {
        if self.fresh {
            self.fresh = false;
            self.out.get_mut().set_len(0)?;
            self.out.get_mut().seek(SeekFrom::Start(0))?;
        }
        Ok(())
    }

    /// Flushes and fsyncs; returns the length written, which [`AtomicFile::restore`] accepts.
    pub fn checkpoint(&mut self) -> io::Result<u64> {
        self.start()?;
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        self.keep_on_drop = true;
        Ok(self.len)
    }

    /// Continues an interrupted run: truncates the temporary file to `len` (a value returned by
    /// [`AtomicFile::checkpoint`]) and appends from there.
    pub fn restore(&mut self, len: u64) -> io::Result<()> {
        let file = self.out.get_mut();
        let have = file.metadata()?.len();
        if have < len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "`{}` has {have} bytes but the checkpoint says {len}: it is not the file the checkpoint was taken with",
                    self.partial_path.display()
                ),
            ));
        }
        file.set_len(len)?;
        file.seek(SeekFrom::Start(len))?;
        self.len = len;
        self.fresh = false;
        self.keep_on_drop = true;
        Ok(())
    }

    /// Flushes, fsyncs, renames to the final name, and fsyncs the directory.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.start()?;
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        fs::rename(&self.partial_path, &self.final_path)?;
        self.finished = true;
        sync_dir(&self.final_path);
        Ok(())
    }
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
        let n = self.out.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.start()?;
        self.out.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.finished && !self.keep_on_drop {
            let _ = fs::remove_file(&self.partial_path);
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
        let mut file = File::open(path)?;
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic)?;
        file.seek(SeekFrom::Start(0))?;
        if n == 2 && magic == [0x1f, 0x8b] {
            #[cfg(feature = "gzip")]
            {
                let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(BUFFER, file));
                return Ok(InputFile {
                    reader: Box::new(BufReader::with_capacity(BUFFER, gz)),
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
        let seekable = file.try_clone()?;
        Ok(InputFile {
            reader: Box::new(BufReader::with_capacity(BUFFER, file)),
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
            seekable: None,
            offset: 0,
            name: name.to_string(),
        }
    }

    /// The name given at opening (`stdin` for stdin).
    pub fn name(&self) -> &str {
        &self.name
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
