//! The checkpoint sidecar file: where the source stood and how long each output was when both were
//! last made durable together, plus the counts so far. A small line-based text format, written to a
//! temporary file, fsynced and renamed, so it is always either the old or the new checkpoint.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::Position;

const HEADER: &str = "fsm-stream-checkpoint 1";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub position: Position,
    pub read: u64,
    pub dropped: u64,
    pub written: BTreeMap<String, u64>,
    pub dead: BTreeMap<String, u64>,
    /// Sink key (route) -> token returned by `Sink::checkpoint`.
    pub sinks: BTreeMap<String, u64>,
}

impl Checkpoint {
    pub fn load(path: &Path) -> io::Result<Option<Checkpoint>> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(invalid("not a checkpoint file (bad header)"));
        }
        let mut cp = Checkpoint::default();
        for line in lines {
            let mut parts = line.split('\t');
            let key = parts.next().unwrap_or_default();
            let fields: Vec<&str> = parts.collect();
            let num = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| invalid(&format!("bad number `{s}` in `{line}`")))
            };
            match (key, fields.as_slice()) {
                ("offset", [n]) => cp.position.offset = num(n)?,
                ("line", [n]) => cp.position.line = num(n)?,
                ("read", [n]) => cp.read = num(n)?,
                ("dropped", [n]) => cp.dropped = num(n)?,
                ("written", [k, n]) => {
                    cp.written.insert((*k).to_string(), num(n)?);
                }
                ("dead", [k, n]) => {
                    cp.dead.insert((*k).to_string(), num(n)?);
                }
                ("sink", [k, n]) => {
                    cp.sinks.insert((*k).to_string(), num(n)?);
                }
                ("", []) => {}
                _ => return Err(invalid(&format!("unknown line `{line}`"))),
            }
        }
        Ok(Some(cp))
    }

    pub fn store(&self, path: &Path) -> io::Result<()> {
        let mut text = String::new();
        text.push_str(HEADER);
        text.push('\n');
        let mut push = |k: &str, fields: &[&str]| {
            text.push_str(k);
            for f in fields {
                text.push('\t');
                text.push_str(f);
            }
            text.push('\n');
        };
        push("offset", &[&self.position.offset.to_string()]);
        push("line", &[&self.position.line.to_string()]);
        push("read", &[&self.read.to_string()]);
        push("dropped", &[&self.dropped.to_string()]);
        for (k, n) in &self.written {
            push("written", &[k, &n.to_string()]);
        }
        for (k, n) in &self.dead {
            push("dead", &[k, &n.to_string()]);
        }
        for (k, n) in &self.sinks {
            push("sink", &[k, &n.to_string()]);
        }
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = Path::new(&tmp_name);
        {
            let mut f = File::create(tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(tmp, path)
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}
