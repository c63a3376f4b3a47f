//! JSON Lines: one JSON value per line.

use std::io::{self, Write};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::file::{InputFile, OutputFile};
use super::{Decoder, Encoder, Item, Malformed, Position, Sink, Source, WriteError};

/// Reads one record per line (blank lines are skipped). A line that does not decode into `T` is an
/// [`Item::Malformed`] with its line number and the serde error, never a fatal error.
///
/// Resumable: plain files seek to the checkpoint's offset, gzip files skip to it.
pub struct JsonlSource<T> {
    input: InputFile,
    name: Arc<str>,
    line: u64,
    buf: Vec<u8>,
    _record: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonlSource<T> {
    /// Opens a file (`-` for stdin; gzip is detected).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::from_input(InputFile::open(path)?))
    }

    /// Reads standard input.
    pub fn stdin() -> Self {
        Self::from_input(InputFile::stdin())
    }

    /// Reads from an [`InputFile`] (e.g. one made with [`InputFile::reader`]).
    pub fn from_input(input: InputFile) -> Self {
        JsonlSource {
            name: Arc::from(input.name()),
            input,
            line: 0,
            buf: Vec::with_capacity(1024),
            _record: PhantomData,
        }
    }
}

impl<T: DeserializeOwned + Send> Source for JsonlSource<T> {
    type Item = T;

    fn next_item(&mut self) -> io::Result<Option<Item<T>>> {
        loop {
            if self.input.read_line(&mut self.buf)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            return Ok(Some(match serde_json::from_slice::<T>(text) {
                Ok(data) => Item::Record { data, line: self.line },
                Err(e) => Item::Malformed(Malformed {
                    line: self.line,
                    error: e.to_string(),
                    raw: String::from_utf8_lossy(text).into_owned(),
                }),
            }));
        }
    }

    fn name(&self) -> Arc<str> {
        self.name.clone()
    }

    fn path(&self) -> Option<&Path> {
        self.input.path()
    }

    fn decoder(&self) -> Option<Decoder<T>> {
        Some(decode::<T>)
    }

    fn next_raw(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<u64>> {
        // Reads straight into the chunk's buffer; the line keeps its newline, which the decoder
        // ignores (JSON allows surrounding whitespace).
        let start = buf.len();
        loop {
            if self.input.append_line(buf)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            if buf[start..].trim_ascii().is_empty() {
                buf.truncate(start);
            } else {
                return Ok(Some(self.line));
            }
        }
    }

    fn position(&self) -> Option<Position> {
        Some(Position {
            offset: self.input.offset(),
            line: self.line,
        })
    }

    fn resume(&mut self, at: Position) -> io::Result<()> {
        self.input.skip_to(at.offset)?;
        self.line = at.line;
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

fn encode<T: Serialize>(record: &T, buf: &mut Vec<u8>) -> Result<(), String> {
    let start = buf.len();
    match serde_json::to_writer(&mut *buf, record) {
        Ok(()) => {
            buf.push(b'\n');
            Ok(())
        }
        Err(e) => {
            buf.truncate(start);
            Err(e.to_string())
        }
    }
}

/// Writes one JSON value per line, to an atomic file (see [`OutputFile`]) or stdout. Works for any
/// `Serialize` record, so the same type serves as output and dead-letter sink. A record that fails
/// to encode is rejected (dead-lettered) without leaving half a line behind.
pub struct JsonlSink {
    out: OutputFile,
    buf: Vec<u8>,
}

impl JsonlSink {
    /// Creates an atomic output file (`-` for stdout; `.gz` is compressed).
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::to_output(OutputFile::create(path)?))
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self::to_output(OutputFile::stdout())
    }

    /// Writes to an [`OutputFile`].
    pub fn to_output(out: OutputFile) -> Self {
        JsonlSink {
            out,
            buf: Vec::with_capacity(1024),
        }
    }
}

impl<T: Serialize> Sink<T> for JsonlSink {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        self.buf.clear();
        encode(record, &mut self.buf).map_err(WriteError::Rejected)?;
        self.out.write_all(&self.buf)?;
        Ok(())
    }

    fn encoder(&self) -> Option<Encoder<T>> {
        Some(encode::<T>)
    }

    fn path(&self) -> Option<&Path> {
        self.out.path()
    }

    fn write_encoded(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.out.write_all(bytes)?;
        Ok(())
    }

    fn checkpoint(&mut self) -> io::Result<u64> {
        self.out.checkpoint()
    }

    fn restore(&mut self, token: u64) -> io::Result<()> {
        self.out.restore(token)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.finish()
    }
}
