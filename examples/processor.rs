//! The StreamingProcessor machine the main job runs.
//!
//! Stand-in until the code generator lands: a hand-written `Machine` with exactly the transitions
//! of examples/machines/streaming_processor.yaml. It will be replaced by the generated machine.

use fsm_runtime::{EndState, Failure, FnError, Machine, Outcome, RunError, StateError, StateName};

use crate::record::{Record, categorize, enrich, is_valid, mark_validity};

/// End states of the StreamingProcessor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Processed records.
    Output,
    /// Invalid records.
    Error,
}

impl StateName for End {
    fn name(&self) -> &'static str {
        match self {
            End::Output => "output",
            End::Error => "error",
        }
    }
}

impl EndState for End {
    const ALL: &'static [Self] = &[End::Output, End::Error];
}

/// The machine (stand-in).
pub struct StreamingProcessor;

// `Failure` carries the record (so a failed run loses nothing): large by design.
#[allow(clippy::result_large_err)]
impl Machine for StreamingProcessor {
    type Data = Record;
    type End = End;

    fn run(&self, mut data: Record) -> Result<Outcome<End, Record>, Failure<Record>> {
        let done = |end, data| {
            Ok(Outcome {
                end,
                data,
                error: None,
                transitions: 0,
                history: Vec::new(),
            })
        };
        mark_validity(&mut data);
        if !is_valid(&data) {
            return done(End::Error, data);
        }
        let before = data.clone();
        if let Err(e) = enrich(&mut data) {
            return Err(Failure {
                error: RunError::Function(StateError {
                    network: "main",
                    state: "enrich",
                    function: "enrich",
                    error: FnError::new(e),
                }),
                data: before,
            });
        }
        categorize(&mut data);
        done(End::Output, data)
    }
}

/// The machine of the main job.
pub fn streaming_machine() -> StreamingProcessor {
    StreamingProcessor
}
