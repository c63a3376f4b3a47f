//! A hand-written machine standing in for a generated one, and small helpers.
#![allow(dead_code, clippy::result_large_err)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use fsm_runtime::{EndState, Failure, FnError, Machine, Outcome, RunError, StateError, StateName};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rec {
    pub id: u64,
    pub value: i64,
    #[serde(default)]
    pub tag: String,
}

impl Rec {
    pub fn new(id: u64, value: i64) -> Self {
        Rec {
            id,
            value,
            tag: String::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Output,
    Error,
    Skip,
}

impl StateName for End {
    fn name(&self) -> &'static str {
        match self {
            End::Output => "output",
            End::Error => "error",
            End::Skip => "skip",
        }
    }
}

impl EndState for End {
    const ALL: &'static [Self] = &[End::Output, End::Error, End::Skip];
}

/// value < 0: `error` end state (through an on_error arc); 13: the run fails; 666: a function
/// panics; 7: `skip`; anything else: `output` with the value doubled. `spin` adds CPU work per
/// record, proportional to `id % 7`, so that chunks take uneven time.
#[derive(Default)]
pub struct Classify {
    pub spin: u64,
}

impl Machine for Classify {
    type Data = Rec;
    type End = End;

    fn run(&self, mut data: Rec) -> Result<Outcome<End, Rec>, Failure<Rec>> {
        if self.spin > 0 {
            let mut x = data.id;
            for i in 0..self.spin * (data.id % 7) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
            std::hint::black_box(x);
        }
        let outcome = |end, data, error| {
            Ok(Outcome {
                end,
                data,
                error,
                transitions: 2,
                history: Vec::new(),
            })
        };
        match data.value {
            v if v < 0 => outcome(
                End::Error,
                data,
                Some(Box::new(StateError {
                    network: "main",
                    state: "validate",
                    function: "validate",
                    error: FnError::new("negative value"),
                })),
            ),
            13 => Err(Failure {
                error: RunError::Function(StateError {
                    network: "main",
                    state: "enrich",
                    function: "enrich",
                    error: FnError::new("unlucky"),
                }),
                data,
            }),
            666 => panic!("the beast"),
            7 => outcome(End::Skip, data, None),
            v => {
                data.value = v * 2;
                data.tag = "done".to_string();
                outcome(End::Output, data, None)
            }
        }
    }
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "fsm-stream-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &std::path::Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
