//! The record of seed 001's StreamingProcessor, its three transforms, an input generator in the
//! seed's shape, and the same logic as a plain serde_json loop (the benchmarks' baseline).

use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A record of the stream. Input lines carry `id`, `value`, `category` and `status`; the
/// transforms replace `value` by the enriched fields, as seed 001's lambdas do. Absent fields are
/// not written, so the output has the seed's shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Record id.
    pub id: u64,
    /// The input value; validation needs it present and not negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// Category, e.g. `cat_3`.
    #[serde(default)]
    pub category: String,
    /// `pending` on input, then `enriched`, then `processed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Set by validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<bool>,
    /// Enrichment: the input value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_value: Option<i64>,
    /// Enrichment: twice the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubled_value: Option<i64>,
    /// Enrichment: the value squared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squared_value: Option<i64>,
    /// Categorisation: `high` (> 5000), `medium` (> 1000) or `low`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_tier: Option<Tier>,
    /// Categorisation: min(100, squared / 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_score: Option<f64>,
}

/// Where a record is in the processing. The seed's strings, typed: an unknown status in the input
/// is a decoding error (a dead letter), not a string carried along.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not processed yet.
    Pending,
    /// Enriched.
    Enriched,
    /// Categorised: done.
    Processed,
}

/// The value tier set by categorisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Value at most 1000.
    Low,
    /// Value above 1000, at most 5000.
    Medium,
    /// Value above 5000.
    High,
}

/// Seed 001's `validate`: the value must be present and not negative.
pub fn mark_validity(r: &mut Record) {
    r.valid = Some(r.value.is_some_and(|v| v >= 0));
}

/// The condition of the arc `validate -> enrich` (`state.data.get('valid', True)`).
pub fn is_valid(r: &Record) -> bool {
    r.valid.unwrap_or(true)
}

/// Seed 001's `enrich`: original, doubled and squared value; status `enriched`. Fails (instead of
/// overflowing) on values whose square does not fit in an `i64`.
pub fn enrich(r: &mut Record) -> Result<(), String> {
    enrich_change(r)?(r);
    Ok(())
}

/// [`enrich`] in two steps, as the machine's `atomic` function: everything that can fail reads the
/// record, then the change, which cannot fail, is returned to be applied.
pub fn enrich_change(r: &Record) -> Result<impl FnOnce(&mut Record) + use<>, String> {
    let value = r.value.ok_or("enrich: the record has no value")?;
    let squared = value
        .checked_mul(value)
        .ok_or_else(|| format!("enrich: {value} squared overflows"))?;
    Ok(move |r: &mut Record| {
        r.original_value = Some(value);
        r.doubled_value = Some(value.saturating_mul(2));
        r.squared_value = Some(squared);
        r.value = None;
        r.valid = None;
        r.status = Some(Status::Enriched);
    })
}

/// Seed 001's `categorize`: value tier, status `processed`, risk score.
pub fn categorize(r: &mut Record) {
    let value = r.original_value.unwrap_or_default();
    let tier = if value > 5000 {
        Tier::High
    } else if value > 1000 {
        Tier::Medium
    } else {
        Tier::Low
    };
    r.value_tier = Some(tier);
    r.status = Some(Status::Processed);
    r.risk_score = Some((r.squared_value.unwrap_or_default() as f64 / 100.0).min(100.0));
}

/// Input in seed 001's shape (`{"id", "value", "category", "status"}`, value = id × 10), with a
/// few bad records mixed in: a negative value every 50th record, a missing value every 97th, and a
/// line that is not JSON every 211th. Lines are made on demand: memory does not grow with `n`.
pub struct Generated {
    next: u64,
    n: u64,
    line: Vec<u8>,
    pos: usize,
}

impl Generated {
    /// `n` lines.
    pub fn new(n: u64) -> Self {
        Generated {
            next: 0,
            n,
            line: Vec::with_capacity(128),
            pos: 0,
        }
    }

    /// How many of `n` generated lines are valid records, invalid records, and not JSON.
    pub fn expected(n: u64) -> (u64, u64, u64) {
        let (mut ok, mut invalid, mut malformed) = (0, 0, 0);
        for i in 0..n {
            match kind(i) {
                Kind::Ok => ok += 1,
                Kind::Negative | Kind::Missing => invalid += 1,
                Kind::Garbage => malformed += 1,
            }
        }
        (ok, invalid, malformed)
    }

    fn fill(&mut self) {
        let i = self.next;
        self.next += 1;
        self.line.clear();
        self.pos = 0;
        let cat = i % 5;
        // Writing to a Vec cannot fail.
        let _ = match kind(i) {
            Kind::Garbage => writeln!(self.line, "{{\"id\": {i}, \"value\": oops"),
            Kind::Missing => writeln!(
                self.line,
                "{{\"id\": {i}, \"category\": \"cat_{cat}\", \"status\": \"pending\"}}"
            ),
            Kind::Negative => writeln!(
                self.line,
                "{{\"id\": {i}, \"value\": -{}, \"category\": \"cat_{cat}\", \"status\": \"pending\"}}",
                i * 10
            ),
            Kind::Ok => writeln!(
                self.line,
                "{{\"id\": {i}, \"value\": {}, \"category\": \"cat_{cat}\", \"status\": \"pending\"}}",
                i * 10
            ),
        };
    }
}

enum Kind {
    Ok,
    Negative,
    Missing,
    Garbage,
}

fn kind(i: u64) -> Kind {
    if i % 211 == 210 {
        Kind::Garbage
    } else if i % 97 == 96 {
        Kind::Missing
    } else if i % 50 == 49 {
        Kind::Negative
    } else {
        Kind::Ok
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.line.len() {
            if self.next == self.n {
                return Ok(0);
            }
            self.fill();
        }
        let n = buf.len().min(self.line.len() - self.pos);
        buf[..n].copy_from_slice(&self.line[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes `n` generated lines to `path`.
pub fn write_input(path: &Path, n: u64) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    io::copy(&mut Generated::new(n), &mut out)?;
    out.flush()
}

/// What [`plain_loop`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlainCounts {
    /// Lines read (blank lines excepted).
    pub read: u64,
    /// Records written to the output.
    pub written: u64,
    /// Records and lines written to the errors file.
    pub errors: u64,
}

/// The baseline: the same logic as the machine, in a hand-written serde_json loop on one thread,
/// with no machine, no chunks, no routing layer. Invalid records and undecodable lines go to
/// `errors` in the same format as the pipeline's dead letters (`source` names the input there).
pub fn plain_loop(
    source: &str,
    input: impl BufRead,
    output: impl Write,
    errors: impl Write,
) -> io::Result<PlainCounts> {
    let mut output = BufWriter::with_capacity(256 * 1024, output);
    let mut errors = BufWriter::with_capacity(256 * 1024, errors);
    let mut counts = PlainCounts::default();
    let mut input = input;
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        line_no += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        counts.read += 1;
        let mut record: Record = match serde_json::from_slice(text) {
            Ok(r) => r,
            Err(e) => {
                let letter = serde_json::json!({
                    "reason": "malformed", "message": e.to_string(), "source": source, "line": line_no,
                    "raw": String::from_utf8_lossy(text),
                });
                serde_json::to_writer(&mut errors, &letter)?;
                errors.write_all(b"\n")?;
                counts.errors += 1;
                continue;
            }
        };
        mark_validity(&mut record);
        let failed = if is_valid(&record) {
            enrich(&mut record).err()
        } else {
            Some("the run ended in end state `error`".to_string())
        };
        match failed {
            None => {
                categorize(&mut record);
                serde_json::to_writer(&mut output, &record)?;
                output.write_all(b"\n")?;
                counts.written += 1;
            }
            Some(message) => {
                let letter = serde_json::json!({
                    "reason": "error_state", "message": message, "source": source, "line": line_no,
                    "state": "error", "record": record,
                });
                serde_json::to_writer(&mut errors, &letter)?;
                errors.write_all(b"\n")?;
                counts.errors += 1;
            }
        }
    }
    output.flush()?;
    errors.flush()?;
    Ok(counts)
}
