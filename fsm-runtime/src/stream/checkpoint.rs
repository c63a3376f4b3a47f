//! The checkpoint sidecar file: where the source stood and how long each output was when both were
//! last made durable together, plus the counts so far, and what the run was: its input (path,
//! size when the run began, hashes of the first and last blocks then) and its routes and output
//! files, so a checkpoint is never applied to another input or another setup. A small line-based
//! text format, written to a temporary file, fsynced and renamed, so it is always either the old or
//! the new checkpoint.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::Position;
use super::file::{context, resolve_links};

const HEADER: &str = "fsm-stream-checkpoint 2";
const OLD_HEADER: &str = "fsm-stream-checkpoint 1";

/// Bytes hashed at each end of the input.
const BLOCK: u64 = 64 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub setup: Setup,
    pub position: Position,
    pub read: u64,
    pub dropped: u64,
    pub written: BTreeMap<String, u64>,
    pub dead: BTreeMap<String, u64>,
    /// Sink key (route) -> token returned by `Sink::checkpoint`.
    pub sinks: BTreeMap<String, u64>,
}

/// What a checkpoint belongs to: the run's input and settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Setup {
    /// The input's canonical path, or the source's name when it is not a file.
    pub input: String,
    /// The input file as it was when the first run began.
    pub input_file: Option<FileId>,
    /// End state -> where it goes (a sink key, `dead-letter`, `drop`, `unrouted`).
    pub routes: BTreeMap<String, String>,
    /// Sink key -> canonical path of the file it writes.
    pub files: BTreeMap<String, String>,
}

/// An input file's identity: its size when the first run began and hashes (FNV-1a) of its first
/// and last blocks at that size. A resumed run accepts the same file, or the same file with data
/// appended (a growing log): the bytes the checkpoint's offset counts are still the same bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileId {
    pub size: u64,
    pub head: u64,
    pub tail: u64,
}

impl FileId {
    /// `None` for a path that is not a regular file (a FIFO must not be read twice).
    pub fn of(path: &Path) -> io::Result<Option<FileId>> {
        if !fs::metadata(path)?.is_file() {
            return Ok(None);
        }
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        Self::hash_at(&mut file, size).map(Some)
    }

    fn hash_at(file: &mut File, size: u64) -> io::Result<FileId> {
        let head = hash_range(file, 0, size.min(BLOCK))?;
        let start = size.saturating_sub(BLOCK);
        let tail = hash_range(file, start, size - start)?;
        Ok(FileId { size, head, tail })
    }

    /// Whether `path` holds the bytes this identity was taken from (maybe followed by more).
    fn check(&self, path: &Path) -> io::Result<Result<(), String>> {
        if !fs::metadata(path)?.is_file() {
            return Ok(Err("it is no longer a regular file".to_string()));
        }
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        if size < self.size {
            return Ok(Err(format!(
                "it has {size} bytes, fewer than the {} it had when the checkpoint was taken",
                self.size
            )));
        }
        let now = Self::hash_at(&mut file, self.size)?;
        if now.head != self.head || now.tail != self.tail {
            return Ok(Err(format!(
                "its content differs from the file the checkpoint was taken with (first and last {BLOCK} of its first {} bytes)",
                self.size
            )));
        }
        Ok(Ok(()))
    }
}

fn hash_range(file: &mut File, start: u64, len: u64) -> io::Result<u64> {
    file.seek(SeekFrom::Start(start))?;
    let mut buf = vec![0u8; len as usize];
    file.read_exact(&mut buf)?;
    // FNV-1a, 64 bits: stable across builds and platforms, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in buf {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Ok(h)
}

impl Setup {
    /// Why a checkpoint taken with `self` cannot resume a run set up as `now` (whose input, if a
    /// file, is `input_path`); `Ok(Ok(()))` when it can.
    pub fn check(&self, now: &Setup, input_path: Option<&Path>) -> io::Result<Result<(), String>> {
        if self.input != now.input {
            return Ok(Err(format!(
                "it was taken reading `{}`, this run reads `{}`",
                self.input, now.input
            )));
        }
        if let (Some(id), Some(path)) = (&self.input_file, input_path) {
            if let Err(why) = id.check(path)? {
                return Ok(Err(format!("the input `{}` changed: {why}", now.input)));
            }
        } else if self.input_file.is_some() != now.input_file.is_some() {
            return Ok(Err(format!("the input `{}` changed kind (file or stream)", now.input)));
        }
        if self.routes != now.routes {
            return Ok(Err(format!(
                "it was taken with routes {:?}, this run has {:?}",
                self.routes, now.routes
            )));
        }
        for (key, path) in &now.files {
            match self.files.get(key) {
                Some(theirs) if theirs == path => {}
                Some(theirs) => {
                    return Ok(Err(format!(
                        "the sink of `{key}` wrote `{theirs}`, this run writes `{path}`"
                    )));
                }
                None => return Ok(Err(format!("the sink of `{key}` wrote no file then"))),
            }
        }
        if let Some(key) = self.files.keys().find(|k| !now.files.contains_key(*k)) {
            return Ok(Err(format!("the sink of `{key}` wrote a file then, not now")));
        }
        Ok(Ok(()))
    }
}

impl Checkpoint {
    pub fn load(path: &Path) -> io::Result<Option<Checkpoint>> {
        match fs::metadata(path) {
            Ok(m) if !m.is_file() => return Err(not_regular()),
            _ => {}
        }
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut lines = text.lines();
        match lines.next() {
            Some(HEADER) => {}
            Some(OLD_HEADER) => {
                return Err(invalid(
                    "written by an older version, which did not record its input: delete it to start over",
                ));
            }
            _ => return Err(invalid("not a checkpoint file (bad header)")),
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
            let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| invalid(&format!("bad hash `{s}` in `{line}`")));
            match (key, fields.as_slice()) {
                ("input", [p]) => cp.setup.input = unescape(p),
                ("input-file", [size, head, tail]) => {
                    cp.setup.input_file = Some(FileId {
                        size: num(size)?,
                        head: hex(head)?,
                        tail: hex(tail)?,
                    });
                }
                ("route", [state, target]) => {
                    cp.setup.routes.insert(unescape(state), unescape(target));
                }
                ("file", [k, p]) => {
                    cp.setup.files.insert(unescape(k), unescape(p));
                }
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
        let setup = &self.setup;
        push("input", &[&escape(&setup.input)]);
        if let Some(id) = &setup.input_file {
            push(
                "input-file",
                &[
                    &id.size.to_string(),
                    &format!("{:016x}", id.head),
                    &format!("{:016x}", id.tail),
                ],
            );
        }
        for (state, target) in &setup.routes {
            push("route", &[&escape(state), &escape(target)]);
        }
        for (k, p) in &setup.files {
            push("file", &[&escape(k), &escape(p)]);
        }
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
        // A link is followed (its target is replaced); a device or FIFO is refused: a checkpoint
        // must be renamed into place.
        let path = resolve_links(path)?;
        if fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
            return Err(not_regular());
        }
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = Path::new(&tmp_name);
        {
            let mut f = File::create(tmp).map_err(|e| context(e, format_args!("cannot create `{}`", tmp.display())))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| context(e, format_args!("writing `{}`", tmp.display())))?;
        }
        fs::rename(tmp, &path).map_err(|e| context(e, format_args!("cannot rename `{}`", tmp.display())))
    }
}

fn not_regular() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not a regular file: a checkpoint must be a file of its own",
    )
}

/// Tabs, newlines and backslashes in names and paths, escaped to keep one field per tab.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_tabs_and_newlines_round_trip() {
        for s in ["plain", "a\tb", "a\nb\\c\r", "\\t", "end\\"] {
            assert_eq!(unescape(&escape(s)), s);
        }
    }
}
