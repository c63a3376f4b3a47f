//! What the SQLite and PostgreSQL sources and sinks share: quoting names, records to columns and
//! back (through JSON objects and serde), the position table's shape.

use std::io;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Committed, DeadLetter};

/// The table where database targets keep each job's committed position.
pub(crate) const POSITIONS_TABLE: &str = "fsm_stream_positions";

/// A name as an SQL identifier: each dot-separated part quoted (`schema.table` stays two parts).
pub(crate) fn quote_name(name: &str) -> String {
    name.split('.').map(quote_ident).collect::<Vec<_>>().join(".")
}

/// One identifier, quoted, with its quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The record as a JSON object, whose fields are the columns.
#[cfg(feature = "sqlite")]
pub(crate) fn record_object<T: Serialize>(record: &T) -> Result<Map<String, Value>, String> {
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "a record must serialize as an object (a struct or a map) to fill columns, not {}",
            kind(&other)
        )),
        Err(e) => Err(format!("cannot serialize the record: {e}")),
    }
}

#[cfg(feature = "sqlite")]
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The columns of a dead-letter table: source, position, reason, message, payload (the record as
/// JSON, or the undecodable input).
pub(crate) struct DeadLetterRow {
    pub source: String,
    pub position: i64,
    pub reason: &'static str,
    pub message: String,
    pub payload: Option<String>,
}

impl DeadLetterRow {
    pub(crate) fn of<T: Serialize>(letter: &DeadLetter<T>) -> Result<Self, String> {
        let payload = match (&letter.record, &letter.raw) {
            (Some(record), _) => {
                Some(serde_json::to_string(record).map_err(|e| format!("cannot serialize the record: {e}"))?)
            }
            (None, Some(raw)) => Some(raw.clone()),
            (None, None) => None,
        };
        let message = match letter.state {
            Some(state) => format!("{} (state `{state}`)", letter.message),
            None => letter.message.clone(),
        };
        Ok(DeadLetterRow {
            source: letter.source.to_string(),
            // Database sources number records by their key, which may be negative: the bits
            // round-trip.
            position: letter.line as i64,
            reason: letter.reason.as_str(),
            message,
            payload,
        })
    }
}

/// The counts of a committed state as stored in the position table's `counts` column.
pub(crate) fn counts_json(state: &Committed) -> String {
    let written: Map<String, Value> = state
        .written
        .iter()
        .map(|(k, n)| (k.clone(), Value::from(*n)))
        .collect();
    let dead: Map<String, Value> = state.dead.iter().map(|(k, n)| (k.clone(), Value::from(*n))).collect();
    let mut counts = Map::new();
    counts.insert("written".to_string(), Value::Object(written));
    counts.insert("dead".to_string(), Value::Object(dead));
    Value::Object(counts).to_string()
}

/// Reads a `counts` column back into `state`.
pub(crate) fn read_counts(state: &mut Committed, text: &str) -> io::Result<()> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad saved counts `{text}`: {why}"));
    let value: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    for (field, into) in [("written", &mut state.written), ("dead", &mut state.dead)] {
        let Some(map) = value.get(field).and_then(Value::as_object) else {
            return Err(bad(&format!("no `{field}` object")));
        };
        for (k, n) in map {
            let n = n.as_u64().ok_or_else(|| bad(&format!("`{k}` is not a count")))?;
            into.insert(k.clone(), n);
        }
    }
    Ok(())
}

/// An error of the database, with what was being done.
#[cfg(feature = "sqlite")]
pub(crate) fn db_error(what: impl std::fmt::Display, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}
