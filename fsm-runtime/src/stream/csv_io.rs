//! CSV with a header row, through serde.

use std::io;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::file::{InputFile, OutputFile};
use super::{Item, Malformed, Position, Sink, Source, WriteError};

/// Reads records from CSV with a header row. A row that does not decode into `T` is an
/// [`Item::Malformed`] (line number, serde error, the row as read).
///
/// Resumable: the checkpoint stores the number of rows read; a resumed run skips them.
pub struct CsvSource<T> {
    reader: csv::Reader<InputFile>,
    headers: Option<csv::ByteRecord>,
    row: csv::ByteRecord,
    rows: u64,
    name: Arc<str>,
    _record: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> CsvSource<T> {
    /// Opens a file (`-` for stdin; gzip is detected).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::from_input(InputFile::open(path)?))
    }

    /// Reads from an [`InputFile`].
    pub fn from_input(input: InputFile) -> Self {
        let name = Arc::from(input.name());
        CsvSource {
            reader: csv::ReaderBuilder::new().flexible(true).from_reader(input),
            headers: None,
            row: csv::ByteRecord::new(),
            rows: 0,
            name,
            _record: PhantomData,
        }
    }
}

impl<T: DeserializeOwned + Send> Source for CsvSource<T> {
    type Item = T;

    fn next_item(&mut self) -> io::Result<Option<Item<T>>> {
        if self.headers.is_none() {
            self.headers = Some(self.reader.byte_headers().map_err(csv_io)?.clone());
        }
        let read = self.reader.read_byte_record(&mut self.row);
        self.rows += 1;
        let line = self.row.position().map_or(self.rows + 1, |p| p.line());
        match read {
            Ok(false) => Ok(None),
            Ok(true) => Ok(Some(match self.row.deserialize::<T>(self.headers.as_ref()) {
                Ok(data) => Item::Record { data, line },
                Err(e) => Item::Malformed(Malformed {
                    line,
                    error: e.to_string(),
                    raw: raw_row(&self.row),
                }),
            })),
            // Invalid UTF-8 or quoting problems in one row; the reader can go on.
            Err(e) if !matches!(e.kind(), csv::ErrorKind::Io(_)) => Ok(Some(Item::Malformed(Malformed {
                line,
                error: e.to_string(),
                raw: raw_row(&self.row),
            }))),
            Err(e) => Err(csv_io(e)),
        }
    }

    fn path(&self) -> Option<&Path> {
        self.reader.get_ref().path()
    }

    fn name(&self) -> Arc<str> {
        self.name.clone()
    }

    fn position(&self) -> Option<Position> {
        Some(Position {
            offset: self.rows,
            line: self.rows,
        })
    }

    fn resume(&mut self, at: Position) -> io::Result<()> {
        while self.rows < at.line {
            if !self.reader.read_byte_record(&mut self.row).map_err(csv_io)? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("`{}` has fewer rows than the checkpoint's {}", self.name, at.line),
                ));
            }
            self.rows += 1;
        }
        Ok(())
    }
}

fn raw_row(row: &csv::ByteRecord) -> String {
    let fields: Vec<String> = row.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    fields.join(",")
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
    }
}

/// Writes records as CSV with a header row to an atomic file or stdout. Records must be flat
/// (nested structs and maps are rejected, i.e. dead-lettered): use JSON Lines for dead letters.
pub struct CsvSink<T> {
    writer: Option<csv::Writer<OutputFile>>,
    /// Whether the header row is in the output (written by us or by an interrupted run).
    has_header: bool,
    buf: Vec<u8>,
    _record: PhantomData<fn(&T)>,
}

impl<T: Serialize> CsvSink<T> {
    /// Creates an atomic output file (`-` for stdout; `.gz` is compressed).
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::to_output(OutputFile::create(path)?))
    }

    /// Writes to an [`OutputFile`].
    pub fn to_output(out: OutputFile) -> Self {
        CsvSink {
            writer: Some(csv::Writer::from_writer(out)),
            has_header: false,
            buf: Vec::new(),
            _record: PhantomData,
        }
    }

    fn take_output(&mut self) -> io::Result<OutputFile> {
        let w = self
            .writer
            .take()
            .ok_or_else(|| io::Error::other("CSV sink used after finish"))?;
        w.into_inner().map_err(|e| io::Error::other(e.to_string()))
    }

    fn writer(&mut self) -> io::Result<&mut csv::Writer<OutputFile>> {
        self.writer
            .as_mut()
            .ok_or_else(|| io::Error::other("CSV sink used after finish"))
    }
}

impl<T: Serialize> Sink<T> for CsvSink<T> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        // Encode into a scratch writer first so that a record that cannot be encoded leaves
        // nothing half-written in the output.
        let mut scratch = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(std::mem::take(&mut self.buf));
        let encoded = scratch.serialize(record);
        self.buf = scratch
            .into_inner()
            .map_err(|e| WriteError::Io(io::Error::other(e.to_string())))?;
        self.buf.clear();
        encoded.map_err(|e| WriteError::Rejected(e.to_string()))?;
        self.writer()?
            .serialize(record)
            .map_err(|e| WriteError::Io(csv_io(e)))?;
        self.has_header = true;
        Ok(())
    }

    fn path(&self) -> Option<&Path> {
        self.writer.as_ref().and_then(|w| w.get_ref().path())
    }

    fn checkpoint(&mut self) -> io::Result<u64> {
        let mut out = self.take_output()?;
        let token = out.checkpoint();
        self.writer = Some(csv::WriterBuilder::new().has_headers(!self.has_header).from_writer(out));
        token
    }

    fn restore(&mut self, token: u64) -> io::Result<()> {
        let mut out = self.take_output()?;
        let restored = out.restore(token);
        // A non-empty output starts with the header row the interrupted run wrote.
        self.has_header = token > 0;
        self.writer = Some(csv::WriterBuilder::new().has_headers(!self.has_header).from_writer(out));
        restored
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(w) = self.writer.take() {
            let mut out = w.into_inner().map_err(|e| io::Error::other(e.to_string()))?;
            out.finish()?;
        }
        Ok(())
    }
}
