//! JSON Lines: one JSON value per line.

use std::io::{self, Write};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::file::{InputFile, OutputFile};
use super::{Decoder, Encoder, Item, Malformed, Position, Raw, Sink, Source, TooLarge, WriteError};

/// The default maximum record size of [`JsonlSource`]: 16 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 << 20;

/// The UTF-8 byte-order mark some editors put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads one record per line: each line is a JSON object (blank lines are skipped). A line that
/// is not an object or does not decode into `T` is an [`Item::Malformed`] with its line number and
/// the reason, never a fatal error.
///
/// Lines end at `\n`, `\r\n` or a lone `\r`; a UTF-8 byte-order mark at the start is skipped. A
/// line longer than the maximum record size ([`JsonlSource::max_record_bytes`], 16 MiB by
/// default) is read past without being held in memory and becomes an [`Item::TooLarge`]
/// (dead letter `too_large`, with its line), and the stream goes on.
///
/// Resumable: plain files seek to the checkpoint's offset, gzip files skip to it.
pub struct JsonlSource<T> {
    input: InputFile,
    name: Arc<str>,
    line: u64,
    buf: Vec<u8>,
    max_record_bytes: usize,
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
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            _record: PhantomData,
        }
    }

    /// The longest line read as a record, in bytes (at least 1; default
    /// [`DEFAULT_MAX_RECORD_BYTES`]). A longer line is skipped in bounded memory and
    /// dead-lettered as `too_large`: memory per record never exceeds this.
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes.max(1);
        self
    }
}

/// One line as [`read_line`] found it.
enum Line {
    /// The end of the input: no line.
    End,
    /// A line, appended to the buffer without its line end.
    Kept,
    /// A line longer than the limit, of this many bytes; nothing of it was kept.
    TooLarge(u64),
}

/// Reads the next line, appending it (without its line end) to `buf` unless it is longer than
/// `max` bytes: then it is read past in the input's buffer, never held whole. Line ends are `\n`,
/// `\r\n` and a lone `\r`; a byte-order mark at the very start is skipped.
fn read_line(input: &mut InputFile, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    if input.offset() == 0 && fill_buf(input)?.starts_with(BOM) {
        input.consume(BOM.len());
    }
    let start = buf.len();
    let max = max as u64;
    let mut len = 0u64;
    let mut any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            // The end of the input: a last line without a line end, or no line at all.
            if !any {
                return Ok(Line::End);
            }
            break;
        }
        any = true;
        let (take, line_end) = match memchr::memchr2(b'\n', b'\r', available) {
            Some(i) => (i, Some(available[i])),
            None => (available.len(), None),
        };
        len += take as u64;
        if len <= max {
            buf.extend_from_slice(&available[..take]);
        } else {
            // Too long: drop what was kept of it and only count the rest.
            buf.truncate(start);
        }
        match line_end {
            None => input.consume(take),
            Some(b) => {
                input.consume(take + 1);
                if b == b'\r' && fill_buf(input)?.first() == Some(&b'\n') {
                    input.consume(1);
                }
                break;
            }
        }
    }
    Ok(if len > max { Line::TooLarge(len) } else { Line::Kept })
}

/// [`InputFile::fill_buf`], trying again when interrupted (off the hot path: it reads twice).
fn fill_buf(input: &mut InputFile) -> io::Result<&[u8]> {
    loop {
        match input.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    input.fill_buf()
}

impl<T: DeserializeOwned + Send> Source for JsonlSource<T> {
    type Item = T;

    fn next_item(&mut self) -> io::Result<Option<Item<T>>> {
        loop {
            self.buf.clear();
            let read = read_line(&mut self.input, &mut self.buf, self.max_record_bytes)?;
            if let Line::End = read {
                return Ok(None);
            }
            self.line += 1;
            if let Line::TooLarge(bytes) = read {
                return Ok(Some(Item::TooLarge(self.too_large(bytes))));
            }
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            return Ok(Some(match decode::<T>(text) {
                Ok(data) => Item::Record { data, line: self.line },
                Err(error) => Item::Malformed(Malformed {
                    line: self.line,
                    error,
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

    fn next_raw(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Raw>> {
        // Reads straight into the chunk's buffer.
        let start = buf.len();
        loop {
            let read = read_line(&mut self.input, buf, self.max_record_bytes)?;
            if let Line::End = read {
                return Ok(None);
            }
            self.line += 1;
            if let Line::TooLarge(bytes) = read {
                return Ok(Some(Raw::TooLarge(self.too_large(bytes))));
            }
            if buf[start..].trim_ascii().is_empty() {
                buf.truncate(start);
            } else {
                return Ok(Some(Raw::Record(self.line)));
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

impl<T> JsonlSource<T> {
    fn too_large(&self, bytes: u64) -> TooLarge {
        TooLarge {
            line: self.line,
            bytes,
            limit: self.max_record_bytes as u64,
        }
    }
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    not_an_object(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// A record must be a JSON object: serde would also fill a struct from an array
/// (`[7, 70, "c"]`), by position. Only the first byte is looked at, so it costs nothing; text that
/// is no JSON value at all is left to serde_json's more precise error.
fn not_an_object(bytes: &[u8]) -> Result<(), String> {
    let text = bytes.trim_ascii_start();
    if text.first() == Some(&b'{') {
        return Ok(());
    }
    let text = text.trim_ascii_end();
    let what = match text.first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'-' | b'0'..=b'9') => "a number",
        _ if text == b"true" || text == b"false" => "a boolean",
        _ if text == b"null" => "null",
        _ => return Ok(()),
    };
    Err(format!(
        "a record must be a JSON object (`{{...}}`), this line is {what}"
    ))
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
