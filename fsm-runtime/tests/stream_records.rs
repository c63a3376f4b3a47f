//! What counts as a JSON Lines record: objects only, a byte-order mark skipped, `\r`, `\r\n` and
//! `\n` as line ends, and a maximum record size read past in bounded memory (issue 15, items 8
//! and 9).
#![cfg(feature = "jsonl")]

mod stream_support;

use std::fs;
use std::io::{self, BufReader, Read};

use fsm_runtime::stream::{InputFile, Item, JsonlSink, JsonlSource, Pipeline, Raw, Source, Summary, TooLarge};
use serde_json::Value;
use stream_support::{Classify, Rec, read_jsonl, temp_dir};

/// Runs `Classify` over `input` (`output` to a file, `error` and everything bad to the dead-letter
/// file); returns the ids written, the (reason, line) of each dead letter, the dead letters and
/// the summary.
fn run(name: &str, input: &[u8], source: impl FnOnce(InputFile) -> JsonlSource<Rec>) -> Outcome {
    let dir = temp_dir(name);
    let path = dir.join("in.jsonl");
    fs::write(&path, input).unwrap();
    let (out, err) = (dir.join("out.jsonl"), dir.join("err.jsonl"));
    let summary = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&out).unwrap())
        .dead_letter_state("error")
        .drop_state("skip")
        .dead_letter(JsonlSink::create(&err).unwrap())
        .chunk_size(2)
        .run(source(InputFile::open(&path).unwrap()))
        .unwrap();
    let written: Vec<Rec> = read_jsonl(&out);
    let dead: Vec<Value> = read_jsonl(&err);
    Outcome {
        ids: written.iter().map(|r| r.id).collect(),
        reasons: dead
            .iter()
            .map(|d| (d["reason"].as_str().unwrap().to_string(), d["line"].as_u64().unwrap()))
            .collect(),
        dead,
        summary,
    }
}

struct Outcome {
    ids: Vec<u64>,
    reasons: Vec<(String, u64)>,
    dead: Vec<Value>,
    summary: Summary,
}

fn reasons(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(r, l)| (r.to_string(), *l)).collect()
}

/// Every item of `source`, pulled one by one (the path custom drivers and the async front door
/// use), as (kind, line, offset after it).
fn pull(mut source: JsonlSource<Rec>) -> Vec<(String, u64, u64)> {
    let mut items = Vec::new();
    while let Some(item) = source.next_item().unwrap() {
        let (kind, line) = match item {
            Item::Record { data, line } => (format!("id {}", data.id), line),
            Item::Malformed(m) => (format!("malformed: {}", m.error), m.line),
            Item::TooLarge(t) => (format!("too large: {} > {}", t.bytes, t.limit), t.line),
            Item::Poison(p) => (format!("poison after {} deliveries", p.deliveries), p.line),
        };
        items.push((kind, line, source.position().unwrap().offset));
    }
    items
}

#[test]
fn a_record_must_be_a_json_object() {
    // serde fills a struct from an array by position: `[7, 70, "c"]` would be id 7, value 70.
    let input = concat!(
        "{\"id\": 1, \"value\": 5}\n",
        "[7, 70, \"c\"]\n",
        "  [8, 80]\n",
        "\"a string\"\n",
        "42\n",
        "null\n",
        "true\n",
        "{\"id\": 2, \"value\": 6}\n",
    );
    let got = run("objects", input.as_bytes(), JsonlSource::from_input);
    assert_eq!(got.ids, vec![1, 2]);
    assert_eq!(
        got.reasons,
        reasons(&[
            ("malformed", 2),
            ("malformed", 3),
            ("malformed", 4),
            ("malformed", 5),
            ("malformed", 6),
            ("malformed", 7)
        ])
    );
    let messages: Vec<&str> = got.dead.iter().map(|d| d["message"].as_str().unwrap()).collect();
    let what = ["an array", "an array", "a string", "a number", "null", "a boolean"];
    for (message, what) in messages.iter().zip(what) {
        assert_eq!(
            *message,
            format!("a record must be a JSON object (`{{...}}`), this line is {what}")
        );
    }
    assert_eq!(got.dead[0]["raw"], "[7, 70, \"c\"]");
    assert!(got.summary.is_balanced());

    // The same when items are pulled from the source rather than decoded by the workers.
    let dir = temp_dir("objects-pull");
    let path = dir.join("in.jsonl");
    fs::write(&path, input).unwrap();
    let items = pull(JsonlSource::open(&path).unwrap());
    let kinds: Vec<&str> = items.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds[0], "id 1");
    assert_eq!(
        kinds[1],
        "malformed: a record must be a JSON object (`{...}`), this line is an array"
    );
    assert_eq!(kinds[7], "id 2");
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped() {
    let input = "\u{feff}{\"id\": 1, \"value\": 5}\n{\"id\": 2, \"value\": -1}\n{\"id\": 3, \"value\": 6}\n";
    let got = run("bom", input.as_bytes(), JsonlSource::from_input);
    assert_eq!(got.ids, vec![1, 3]);
    assert_eq!(got.reasons, reasons(&[("error_state", 2)]));

    // Only at the start: a mark inside the file is not whitespace, the line is malformed.
    let input = "{\"id\": 1, \"value\": 5}\n\u{feff}{\"id\": 2, \"value\": 6}\n";
    let got = run("bom-inside", input.as_bytes(), JsonlSource::from_input);
    assert_eq!(got.ids, vec![1]);
    assert_eq!(got.reasons, reasons(&[("malformed", 2)]));
}

/// Lines ended by `\r` (old Mac), `\r\n` (Windows) and `\n`, mixed, with a blank line between
/// `\n` and `\r`: six lines.
const MIXED_LINE_ENDS: &str = concat!(
    "{\"id\": 1, \"value\": 5}\r",
    "{\"id\": 2, \"value\": -1}\r\n",
    "{\"id\": 3, \"value\": 6}\n",
    "\r",
    "{\"id\": 5, \"value\": \r",
    "{\"id\": 6, \"value\": 7}",
);

#[test]
fn a_lone_cr_and_crlf_each_end_one_line() {
    let got = run("cr", MIXED_LINE_ENDS.as_bytes(), JsonlSource::from_input);
    assert_eq!(got.ids, vec![1, 3]);
    assert_eq!(got.reasons, reasons(&[("error_state", 2), ("malformed", 5)]));
    assert_eq!(got.summary.read, 5);
    assert_eq!(got.summary.dropped, 1);
    assert_eq!(got.dead[1]["raw"], "{\"id\": 5, \"value\":");

    // Offsets count every byte of each line end (a resumed run starts exactly after it), also
    // when a `\r\n` is split between two reads of a small buffer.
    let expected = vec![
        ("id 1".to_string(), 1, 22),
        ("id 2".to_string(), 2, 46),
        ("id 3".to_string(), 3, 68),
        (
            "malformed: EOF while parsing a value at line 1 column 18".to_string(),
            5,
            89,
        ),
        ("id 6".to_string(), 6, 110),
    ];
    for capacity in [1, 2, 3, 23, 1 << 16] {
        let reader = BufReader::with_capacity(capacity, io::Cursor::new(MIXED_LINE_ENDS.as_bytes().to_vec()));
        let source = JsonlSource::<Rec>::from_input(InputFile::reader("mixed", Box::new(reader)));
        assert_eq!(pull(source), expected, "buffer of {capacity} bytes");
    }
    assert_eq!(MIXED_LINE_ENDS.len(), 110);
}

#[test]
fn a_line_over_the_limit_is_a_too_large_dead_letter_and_the_stream_goes_on() {
    let long = format!("{{\"id\": 2, \"value\": 5, \"tag\": \"{}\"}}", "x".repeat(10_000));
    let input = format!(
        "{{\"id\": 1, \"value\": 5}}\r\n{long}\r\n{{\"id\": 3, \"value\": -1}}\n{long}\r{{\"id\": 5, \"value\": 6}}\n{long}"
    );
    let got = run("too-large", input.as_bytes(), |i| {
        JsonlSource::from_input(i).max_record_bytes(1024)
    });
    assert_eq!(got.ids, vec![1, 5]);
    assert_eq!(
        got.reasons,
        reasons(&[("too_large", 2), ("error_state", 3), ("too_large", 4), ("too_large", 6)])
    );
    let letter = &got.dead[0];
    assert_eq!(
        letter["message"],
        format!(
            "the line is {} bytes, more than the maximum record size of 1024 bytes: skipped unread",
            long.len()
        )
    );
    assert!(letter.get("raw").is_none() && letter.get("record").is_none());
    assert_eq!(got.summary.read, 6);
    assert!(got.summary.is_balanced());

    // A line of exactly the limit is a record.
    let exact = format!("{{\"id\": 7, \"value\": 5, \"tag\": \"{}\"}}", "y".repeat(100));
    let got = run("exact", format!("{exact}\n").as_bytes(), |i| {
        JsonlSource::from_input(i).max_record_bytes(exact.len())
    });
    assert_eq!((got.ids, got.reasons), (vec![7], vec![]));
}

/// An endless run of bytes without a line end after a first line: what a 1 GB line looks like
/// to the reader, without the test holding it.
struct LongLine {
    head: io::Cursor<Vec<u8>>,
    left: u64,
    tail: io::Cursor<Vec<u8>>,
}

impl Read for LongLine {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if self.left > 0 {
            let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
            buf[..n].fill(b'x');
            self.left -= n as u64;
            return Ok(n);
        }
        self.tail.read(buf)
    }
}

#[test]
fn a_long_line_is_read_past_in_bounded_memory() {
    let line_bytes = 64 << 20;
    let reader = LongLine {
        head: io::Cursor::new(b"{\"id\": 1, \"value\": 5}\n".to_vec()),
        left: line_bytes,
        tail: io::Cursor::new(b"\n{\"id\": 3, \"value\": 6}\n".to_vec()),
    };
    let input = InputFile::reader("long", Box::new(BufReader::with_capacity(8192, reader)));
    let mut source = JsonlSource::<Rec>::from_input(input).max_record_bytes(1024);
    // The raw path the pipeline uses: nothing of the long line reaches the chunk's buffer, and
    // the buffer never grows past the limit while the line goes by.
    let mut buf = Vec::new();
    assert_eq!(source.next_raw(&mut buf).unwrap(), Some(Raw::Record(1)));
    let first = buf.len();
    assert_eq!(
        source.next_raw(&mut buf).unwrap(),
        Some(Raw::TooLarge(TooLarge {
            line: 2,
            bytes: line_bytes,
            limit: 1024
        }))
    );
    assert_eq!(buf.len(), first);
    assert!(buf.capacity() <= 4096, "the buffer grew to {} bytes", buf.capacity());
    assert_eq!(source.next_raw(&mut buf).unwrap(), Some(Raw::Record(3)));
    assert_eq!(&buf[first..], b"{\"id\": 3, \"value\": 6}");
    assert_eq!(source.next_raw(&mut buf).unwrap(), None);
    assert_eq!(source.position().unwrap().offset, 22 + line_bytes + 1 + 22);
}

#[test]
fn extreme_worker_counts_and_chunk_sizes_run_instead_of_aborting() {
    use fsm_runtime::stream::{IterSource, VecSink};
    // A worker count or chunk size straight from a user's configuration: the pipeline allocates
    // and starts only what the run can use (at most 4096 chunks in flight, one worker per chunk).
    for (workers, chunk_size, in_flight) in [
        (usize::MAX, usize::MAX, None),
        (200_000, 2_000_000_000, None),
        (3, 1, Some(usize::MAX)),
    ] {
        let out = VecSink::new();
        let mut pipeline = Pipeline::new(Classify::default())
            .route("output", out.clone())
            .dead_letter_state("error")
            .drop_state("skip")
            .workers(workers)
            .chunk_size(chunk_size);
        if let Some(n) = in_flight {
            pipeline = pipeline.in_flight_chunks(n);
        }
        let summary = pipeline
            .run(IterSource::new((1..=20u64).map(|id| Rec::new(id, 1))))
            .unwrap();
        assert_eq!(summary.read, 20, "{workers} workers, chunks of {chunk_size}");
        let ids: Vec<u64> = out.take().iter().map(|r| r.id).collect();
        assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    }
}
