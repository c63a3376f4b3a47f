//! [`SavedRun`]: where a durable run is, as a store keeps it beside the record (the same row,
//! the same write), and its text form.
//!
//! The text form is versioned: its first line is `fsm-run 1`. A store hands the text back as it
//! was written; [`SavedRun::decode`] refuses anything it does not read whole (another version, a
//! line it does not know, a missing field), with the reason, so a corrupted position is an error
//! of the run that would resume from it, never a guess.

use std::borrow::Cow;
use std::fmt;

/// The version of the text form this runtime writes and reads.
pub const SAVED_RUN_FORMAT: u32 = 1;

/// A state of a machine, by name: its network and its own name, as written in the definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatePath {
    /// The network's name.
    pub network: Cow<'static, str>,
    /// The state's name.
    pub state: Cow<'static, str>,
}

impl StatePath {
    /// A state of a generated machine.
    pub const fn of(network: &'static str, state: &'static str) -> Self {
        StatePath {
            network: Cow::Borrowed(network),
            state: Cow::Borrowed(state),
        }
    }
}

impl fmt::Display for StatePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.network, self.state)
    }
}

/// Where in its life a saved run is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavedPhase {
    /// In state `at`, its functions done: the run goes on with its arcs.
    Running,
    /// Undoing what it completed (`pending`): `cause` is why (the failure's message), `None` at
    /// an end state marked `compensate: true`.
    Compensating {
        /// The failure that made the run compensate.
        cause: Option<String>,
    },
    /// Finished in the end state `at`.
    Finished,
    /// Stopped at `at` by `error` (its message), its compensations done.
    Failed {
        /// The error that stopped it.
        error: String,
    },
}

/// The position of a durable run, saved with its record: enough to continue it in another
/// process (see `resume_stored`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedRun {
    /// Where in its life the run is.
    pub phase: SavedPhase,
    /// The state it is in (done with its functions), or the one it finished or failed in.
    pub at: StatePath,
    /// The push-arc frames, outermost first: the state to continue at when each pushed network
    /// ends (`None`: a push arc without a return state).
    pub frames: Vec<Option<StatePath>>,
    /// The states completed that have a compensation, in the order they completed (the last
    /// is undone first).
    pub pending: Vec<StatePath>,
    /// Transitions taken so far (the step limit goes on counting from there).
    pub transitions: u32,
}

impl SavedRun {
    /// Whether the run is over (finished or failed): a store lists it no more among the
    /// unfinished ones.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, SavedPhase::Finished | SavedPhase::Failed { .. })
    }

    /// The text form (see the module's documentation): one field a line, tab-separated, with
    /// `\`, tab, newline and carriage return escaped.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64 + 24 * (self.frames.len() + self.pending.len()));
        out.push_str("fsm-run ");
        out.push_str(&SAVED_RUN_FORMAT.to_string());
        out.push('\n');
        match &self.phase {
            SavedPhase::Running => out.push_str("phase\trunning\n"),
            SavedPhase::Compensating { cause: None } => out.push_str("phase\tcompensating\n"),
            SavedPhase::Compensating { cause: Some(cause) } => {
                out.push_str("phase\tcompensating\t");
                escape_into(&mut out, cause);
                out.push('\n');
            }
            SavedPhase::Finished => out.push_str("phase\tfinished\n"),
            SavedPhase::Failed { error } => {
                out.push_str("phase\tfailed\t");
                escape_into(&mut out, error);
                out.push('\n');
            }
        }
        push_state(&mut out, "at", &self.at);
        out.push_str("transitions\t");
        out.push_str(&self.transitions.to_string());
        out.push('\n');
        for frame in &self.frames {
            match frame {
                Some(state) => push_state(&mut out, "frame", state),
                None => out.push_str("frame\n"),
            }
        }
        for state in &self.pending {
            push_state(&mut out, "pending", state);
        }
        out
    }

    /// Reads the text form back; why not, when it is not one this runtime wrote.
    pub fn decode(text: &str) -> Result<SavedRun, String> {
        let mut lines = text.lines();
        let head = lines.next().unwrap_or("");
        let version = head
            .strip_prefix("fsm-run ")
            .ok_or_else(|| format!("not a saved run position (it begins {:?})", clip(head)))?;
        match version.trim().parse::<u32>() {
            Ok(SAVED_RUN_FORMAT) => {}
            Ok(v) => {
                return Err(format!(
                    "saved in format {v}, which this runtime does not read (it reads format {SAVED_RUN_FORMAT})"
                ));
            }
            Err(_) => return Err(format!("its format version {:?} is not a number", clip(version))),
        }
        let (mut phase, mut at, mut transitions) = (None, None, None);
        let (mut frames, mut pending) = (Vec::new(), Vec::new());
        for (n, line) in lines.enumerate() {
            let line_no = n + 2;
            let fields: Vec<&str> = line.split('\t').collect();
            let bad = |what: &str| format!("line {line_no} ({:?}): {what}", clip(line));
            match fields.as_slice() {
                ["phase", "running"] => phase = Some(SavedPhase::Running),
                ["phase", "compensating"] => phase = Some(SavedPhase::Compensating { cause: None }),
                ["phase", "compensating", cause] => {
                    phase = Some(SavedPhase::Compensating {
                        cause: Some(unescape(cause).map_err(|e| bad(&e))?),
                    })
                }
                ["phase", "finished"] => phase = Some(SavedPhase::Finished),
                ["phase", "failed", error] => {
                    phase = Some(SavedPhase::Failed {
                        error: unescape(error).map_err(|e| bad(&e))?,
                    })
                }
                ["at", network, state] => at = Some(state_path(network, state).map_err(|e| bad(&e))?),
                ["transitions", count] => {
                    transitions = Some(count.parse::<u32>().map_err(|_| bad("not a count of transitions"))?)
                }
                ["frame"] => frames.push(None),
                ["frame", network, state] => frames.push(Some(state_path(network, state).map_err(|e| bad(&e))?)),
                ["pending", network, state] => pending.push(state_path(network, state).map_err(|e| bad(&e))?),
                [""] => {}
                _ => return Err(bad("not a line of a saved position")),
            }
        }
        Ok(SavedRun {
            phase: phase.ok_or("it has no `phase` line")?,
            at: at.ok_or("it has no `at` line")?,
            frames,
            pending,
            transitions: transitions.ok_or("it has no `transitions` line")?,
        })
    }
}

fn push_state(out: &mut String, tag: &str, state: &StatePath) {
    out.push_str(tag);
    out.push('\t');
    escape_into(out, &state.network);
    out.push('\t');
    escape_into(out, &state.state);
    out.push('\n');
}

fn state_path(network: &str, state: &str) -> Result<StatePath, String> {
    Ok(StatePath {
        network: Cow::Owned(unescape(network)?),
        state: Cow::Owned(unescape(state)?),
    })
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            _ => return Err("a `\\` that escapes nothing".to_owned()),
        }
    }
    Ok(out)
}

/// At most 40 characters of `text`, for a message.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saga() -> SavedRun {
        SavedRun {
            phase: SavedPhase::Compensating {
                cause: Some("`charge` failed:\tcard\\declined\nagain".to_owned()),
            },
            at: StatePath::of("main", "payment"),
            frames: vec![None, Some(StatePath::of("main", "after push"))],
            pending: vec![StatePath::of("main", "flight"), StatePath::of("sub", "hotel")],
            transitions: 7,
        }
    }

    #[test]
    fn the_text_form_reads_back_whole() {
        for run in [
            saga(),
            SavedRun {
                phase: SavedPhase::Running,
                at: StatePath::of("main", "flight"),
                frames: vec![],
                pending: vec![],
                transitions: 0,
            },
            SavedRun {
                phase: SavedPhase::Failed { error: String::new() },
                ..saga()
            },
            SavedRun {
                phase: SavedPhase::Finished,
                ..saga()
            },
            SavedRun {
                phase: SavedPhase::Compensating { cause: None },
                ..saga()
            },
        ] {
            let text = run.encode();
            assert!(text.starts_with("fsm-run 1\n"), "{text}");
            assert_eq!(SavedRun::decode(&text).unwrap(), run, "{text}");
        }
    }

    #[test]
    fn what_is_not_a_saved_run_is_refused_with_the_reason() {
        let cases = [
            ("", "not a saved run position"),
            ("{\"state\": 1}", "not a saved run position"),
            (
                "fsm-run 2\nphase\trunning\n",
                "format 2, which this runtime does not read",
            ),
            ("fsm-run x\n", "is not a number"),
            ("fsm-run 1\nat\tmain\ts\ntransitions\t0\n", "no `phase` line"),
            ("fsm-run 1\nphase\trunning\ntransitions\t0\n", "no `at` line"),
            ("fsm-run 1\nphase\trunning\nat\tmain\ts\n", "no `transitions` line"),
            ("fsm-run 1\nphase\tflying\n", "line 2"),
            (
                "fsm-run 1\nphase\trunning\nat\tmain\ts\ntransitions\t-1\n",
                "not a count",
            ),
            ("fsm-run 1\nphase\tfailed\tbad\\x\n", "escapes nothing"),
        ];
        for (text, expected) in cases {
            let err = SavedRun::decode(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        // Truncated anywhere, the real thing is refused or reads back as what it still says,
        // never a panic.
        let text = saga().encode();
        for cut in 0..text.len() {
            let _ = SavedRun::decode(&text[..cut]);
        }
    }
}
