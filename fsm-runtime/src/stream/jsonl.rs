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

/// How a [`JsonlSource`] decodes and a [`JsonlSink`] encodes records.
///
/// serde_json is the default. With the `sonic` feature, sonic-rs (SIMD) can be chosen per source
/// and sink; it accepts and writes what serde_json does: a line sonic-rs refuses is decoded by
/// serde_json again, so a malformed line's dead letter has serde_json's reason, and a line only
/// serde_json accepts (invalid UTF-8 inside a string of a field the record ignores) is still a
/// record; a record sonic-rs cannot encode is encoded by serde_json. The bytes written are
/// serde_json's. One difference remains: sonic-rs parses floating-point numbers correctly rounded,
/// serde_json (without its `float_roundtrip` feature) can be one unit in the last place off, so
/// a float read from the input may be written back differing in its last digit.
///
/// Measured on the main job's records (benches/benches/codec.rs, docs/streaming.md), sonic-rs is
/// not the faster codec for small records (1.5 times serde_json's decoding time); measure before
/// choosing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonCodec {
    /// serde_json.
    #[default]
    SerdeJson,
    /// sonic-rs, falling back to serde_json on errors (feature `sonic`).
    #[cfg(feature = "sonic")]
    Sonic,
}

impl JsonCodec {
    /// The codec named `name`: `serde_json` (or `serde`), or `sonic` (or `sonic-rs`) with the
    /// `sonic` feature.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "serde_json" | "serde" => Some(JsonCodec::SerdeJson),
            #[cfg(feature = "sonic")]
            "sonic" | "sonic-rs" => Some(JsonCodec::Sonic),
            _ => None,
        }
    }

    /// The codecs this build has.
    pub const ALL: &'static [JsonCodec] = &[
        JsonCodec::SerdeJson,
        #[cfg(feature = "sonic")]
        JsonCodec::Sonic,
    ];

    /// The codec's name, as [`JsonCodec::from_name`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            JsonCodec::SerdeJson => "serde_json",
            #[cfg(feature = "sonic")]
            JsonCodec::Sonic => "sonic",
        }
    }

    /// The codec's decoder: a JSON object (one line) into a `T`.
    pub fn decoder<T: DeserializeOwned>(self) -> Decoder<T> {
        match self {
            JsonCodec::SerdeJson => decode::<T>,
            #[cfg(feature = "sonic")]
            JsonCodec::Sonic => decode_sonic::<T>,
        }
    }

    /// The codec's encoder: a `T` as one JSON line (with its `\n`).
    pub fn encoder<T: Serialize>(self) -> Encoder<T> {
        match self {
            JsonCodec::SerdeJson => encode::<T>,
            #[cfg(feature = "sonic")]
            JsonCodec::Sonic => encode_sonic::<T>,
        }
    }
}

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
    decode: Decoder<T>,
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
            decode: decode::<T>,
            _record: PhantomData,
        }
    }

    /// Decodes with `codec` (default [`JsonCodec::SerdeJson`]).
    pub fn codec(mut self, codec: JsonCodec) -> Self {
        self.decode = codec.decoder::<T>();
        self
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
            return Ok(Some(match (self.decode)(text) {
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
        Some(self.decode)
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

/// [`decode`] by sonic-rs; what it refuses is decoded by serde_json (see [`JsonCodec`]).
#[cfg(feature = "sonic")]
fn decode_sonic<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    not_an_object(bytes)?;
    match sonic_rs::from_slice(bytes) {
        Ok(record) => Ok(record),
        Err(_) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
    }
}

/// [`encode`] by sonic-rs; what it cannot encode is encoded by serde_json (see [`JsonCodec`]).
#[cfg(feature = "sonic")]
fn encode_sonic<T: Serialize>(record: &T, buf: &mut Vec<u8>) -> Result<(), String> {
    let start = buf.len();
    match sonic_rs::to_writer(&mut *buf, record) {
        Ok(()) => {
            buf.push(b'\n');
            Ok(())
        }
        Err(_) => {
            buf.truncate(start);
            encode(record, buf)
        }
    }
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
    codec: JsonCodec,
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
            codec: JsonCodec::SerdeJson,
        }
    }

    /// Encodes with `codec` (default [`JsonCodec::SerdeJson`]).
    pub fn codec(mut self, codec: JsonCodec) -> Self {
        self.codec = codec;
        self
    }
}

impl<T: Serialize> Sink<T> for JsonlSink {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        self.buf.clear();
        (self.codec.encoder::<T>())(record, &mut self.buf).map_err(WriteError::Rejected)?;
        self.out.write_all(&self.buf)?;
        Ok(())
    }

    fn encoder(&self) -> Option<Encoder<T>> {
        Some(self.codec.encoder::<T>())
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

#[cfg(all(test, feature = "sonic"))]
mod tests {
    //! sonic-rs against serde_json on hostile input: the same records, the same reasons, the
    //! same bytes.
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rec {
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<i64>,
        #[serde(default)]
        category: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        score: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<Kind>,
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Pending,
        Done,
    }

    fn hostile_lines() -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = [
            &br#"{"id": 1, "value": 10, "category": "cat_1", "kind": "pending"}"#[..],
            b"{\"id\":1,\"category\":\"\xff\"}",
            // serde_json skips the strings of ignored fields without checking their UTF-8; sonic-rs
            // checks the whole line first: the fallback keeps serde_json's answer.
            b"{\"id\":1,\"x\":\"\xc3\x28\"}",
            b"{\"id\":1}\xff",
            b"\xff\xfe{\"id\":1}",
            b"{\"id\":1,\"category\":\"a\x01b\"}",
            b"{\"id\":1,\"x\":\"\0\"}",
            b"{\"id\":1,\"category\":\"a\x7fb\"}",
            br#"{"id":1,"category":"\ud800"}"#,
            br#"{"id":1,"x":"\ud800"}"#,
            br#"{"id":1,"category":"\udc00\ud800"}"#,
            br#"{"id":1,"category":"\u00e9\n\"\\\u2028\ud83d\ude00\/"}"#,
            br#"{"id":1} x"#,
            br#"{"id":1}{"id":2}"#,
            br#"{"id":1,"id":2}"#,
            br#"{"id":1e400}"#,
            br#"{"id":1,"x":1e400}"#,
            br#"{"id":18446744073709551616}"#,
            br#"{"id":18446744073709551615}"#,
            br#"{"id":-1}"#,
            br#"{"id":1,"value":1.5}"#,
            br#"{"id":1,"value":-0}"#,
            br#"{"id":1,"value":9223372036854775808}"#,
            br#"{"id":1,"value":NaN}"#,
            br#"{"id":1,"x":Infinity}"#,
            br#"{}"#,
            br#"{"id":1,}"#,
            br#"{"id":01}"#,
            br#"{"id":1,"x":[1,]}"#,
            br#"{"id":1,"x":{"a" 1}}"#,
            br#"{"id":1,"x":tru}"#,
            br#"{"id":1,"x":"\x"}"#,
            br#"{"id":1,"x":"\u12"}"#,
            br#"{"id":1,"x":'a'}"#,
            br#"{"id":1, "kind":"bogus"}"#,
            br#"{"id":1, "category":null}"#,
            br#"{"id":1"#,
            br#"{"id": 1, "value": oops"#,
            b"{\"id\":1}\x0c",
            br#"{"id":1,"x":"unterminated}"#,
            br#"{"id":1,"x":[1,2,{"y":[true,false,null]}]}"#,
            br#"[1,"cat",null]"#,
            br#"{"id":"1"}"#,
            br#"{"id":1,"score":1e-400}"#,
            br#"{"id":1,"score":0.1}"#,
            br#"{"id":1,"score":-0.0}"#,
        ]
        .iter()
        .map(|l| l.to_vec())
        .collect();
        for depth in [127, 128, 129, 10_000] {
            let mut open = br#"{"id":1,"x":"#.to_vec();
            open.extend(std::iter::repeat_n(b'[', depth));
            let mut closed = open.clone();
            closed.extend(std::iter::repeat_n(b']', depth));
            closed.push(b'}');
            open.push(b'}');
            lines.push(open);
            lines.push(closed);
        }
        let mut long = br#"{"id":1,"category":""#.to_vec();
        long.extend(std::iter::repeat_n(b'a', 100_000));
        long.extend_from_slice(b"\"}");
        lines.push(long);
        lines
    }

    #[test]
    fn sonic_decodes_what_serde_json_decodes_and_refuses_with_its_reasons() {
        let (serde, sonic) = (JsonCodec::SerdeJson.decoder::<Rec>(), JsonCodec::Sonic.decoder::<Rec>());
        for line in hostile_lines() {
            let text = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
            assert_eq!(sonic(&line), serde(&line), "line {text}");
        }
    }

    #[test]
    fn sonic_writes_serde_jsons_bytes() {
        let strings = [
            "plain",
            "quote\" back\\ slash/",
            "ctl \u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f} end",
            "é ü 😀 \u{2028}\u{2029} \u{fffd}",
            "</script>",
            "",
        ];
        let floats = [
            0.0,
            -0.0,
            1.0,
            100.0,
            0.1,
            1e-7,
            1e15,
            1e16,
            1e21,
            123456789.123,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1.0 / 3.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let values = [None, Some(0), Some(-1), Some(i64::MIN), Some(i64::MAX)];
        let (serde, sonic) = (JsonCodec::SerdeJson.encoder::<Rec>(), JsonCodec::Sonic.encoder::<Rec>());
        let mut n = 0;
        for (i, category) in strings.iter().enumerate() {
            for (j, score) in floats.iter().enumerate() {
                let record = Rec {
                    id: [0, 1, u64::MAX][(i + j) % 3],
                    value: values[(i + j) % values.len()],
                    category: (*category).to_string(),
                    score: (j % 4 != 3).then_some(*score),
                    kind: (j % 2 == 0).then_some(Kind::Done),
                };
                let (mut a, mut b) = (b"prefix".to_vec(), b"prefix".to_vec());
                assert_eq!(serde(&record, &mut a), sonic(&record, &mut b));
                assert_eq!(String::from_utf8_lossy(&b), String::from_utf8_lossy(&a), "{record:?}");
                n += 1;
            }
        }
        assert_eq!(n, strings.len() * floats.len());
        // A map whose keys are not strings: both write the number as the key.
        let map = std::collections::BTreeMap::from([(1u32, "one"), (2, "two")]);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert_eq!(
            JsonCodec::SerdeJson.encoder()(&map, &mut a),
            JsonCodec::Sonic.encoder()(&map, &mut b)
        );
        assert_eq!(a, b);
    }

    #[test]
    fn codecs_by_name() {
        for codec in JsonCodec::ALL {
            assert_eq!(JsonCodec::from_name(codec.name()), Some(*codec));
        }
        assert_eq!(JsonCodec::from_name("sonic-rs"), Some(JsonCodec::Sonic));
        assert_eq!(JsonCodec::from_name("simd"), None);
    }
}
