//! A machine with async functions in a [`Pipeline`](super::Pipeline): [`Concurrent`] runs each
//! worker's records on a tokio runtime of the worker's own, up to
//! [`Pipeline::concurrency`](super::Pipeline::concurrency) at a time.
//!
//! Why a runtime per worker rather than the caller's: the pipeline's workers are threads of its
//! own (the reader, the workers and the writer block on channels and files by design), so the
//! caller's runtime, current-thread or not, is never blocked, whether the pipeline runs with
//! [`Pipeline::run`](super::Pipeline::run) or from async code with
//! [`Pipeline::run_async`](super::Pipeline::run_async). The worker's runtime lives as long as its
//! thread: connection pools (an HTTP client's) built inside a run stay usable by the next.

use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::core::{AsyncMachine, Machine, RunDone, RunResult};

/// An [`AsyncMachine`] (a generated machine with async functions) as a [`Machine`] for a
/// [`Pipeline`](super::Pipeline):
///
/// ```ignore
/// let summary = Pipeline::new(Concurrent(&machine))
///     .concurrency(100)       // records in flight per worker
///     .route(ApiEnd::Done, sink)
///     .run(source)?;
/// ```
///
/// `Machine::run` on it runs one record to its end on the calling thread's worker runtime (on
/// a thread of its own when the caller is already inside a tokio runtime, which cannot block).
#[derive(Clone, Copy, Debug, Default)]
pub struct Concurrent<A>(pub A);

thread_local! {
    /// The worker's runtime, built on its first chunk.
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Runs `f` to its end on this thread's runtime (built the first time), or on a thread of its
/// own when this thread is inside a runtime already (whose thread must not block). `Err` when no
/// runtime could be built.
fn block_on<T: Send>(f: impl Future<Output = T> + Send) -> Result<T, std::io::Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return std::thread::scope(|s| {
            s.spawn(|| block_on(f))
                .join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
        });
    }
    RUNTIME.with(|slot| {
        let mut slot = slot.borrow_mut();
        let runtime = match slot.as_mut() {
            Some(runtime) => runtime,
            None => slot.insert(tokio::runtime::Builder::new_current_thread().enable_all().build()?),
        };
        Ok(runtime.block_on(f))
    })
}

/// A run that ended: the record's index and the run's result, or the payload of its panic.
type Ended<A> = (
    usize,
    std::thread::Result<RunResult<<A as AsyncMachine>::End, <A as AsyncMachine>::Data>>,
);

/// The run of record `i`, its panic caught, answering with its index.
///
/// Once an [`AsyncLlm`](crate::resources::AsyncLlm) is open in the process, each run counts its
/// tokens ([`Context::tokens`](crate::Context::tokens)); before, runs pay nothing for it.
fn start<A: AsyncMachine>(machine: &A, (i, data): (usize, A::Data)) -> impl Future<Output = Ended<A>> + Send + '_ {
    #[cfg(feature = "llm-async")]
    let run = if crate::resources::counting_tokens() {
        futures_util::future::Either::Left(crate::resources::track(machine.run_async(data)).map(|(ran, _)| ran))
    } else {
        futures_util::future::Either::Right(machine.run_async(data))
    };
    #[cfg(not(feature = "llm-async"))]
    let run = machine.run_async(data);
    AssertUnwindSafe(run).catch_unwind().map(move |result| (i, result))
}

impl<A: AsyncMachine> Machine for Concurrent<A> {
    type Data = A::Data;
    type End = A::End;

    fn run(&self, data: Self::Data) -> RunResult<Self::End, Self::Data> {
        let mut outcome = None;
        self.run_all(vec![data], 1, true, &mut |_, result| outcome = Some(result));
        match outcome {
            Some(Ok(result)) => result,
            // The run panicked (or no runtime could be built): the pipeline's workers catch it.
            Some(Err(payload)) => std::panic::resume_unwind(payload),
            None => std::panic::resume_unwind(Box::new("the async run gave no outcome")),
        }
    }

    fn run_all(&self, records: Vec<Self::Data>, concurrency: usize, _ordered: bool, done: &mut RunDone<'_, Self>) {
        let machine = &self.0;
        let count = records.len();
        let mut pending = records.into_iter().enumerate();
        let n = concurrency.max(1);
        // Runs end here, handed over from the worker's thread: `done` is not `Send`, so the
        // future collects them and the handing over happens as they come, in one `block_on`.
        let (tx, rx) = std::sync::mpsc::channel();
        let ran = block_on(async move {
            // As each run ends, the next record starts: never more than `n` in flight. The
            // caller puts the outcomes back in input order by their index.
            let mut flight = FuturesUnordered::new();
            for next in pending.by_ref().take(n) {
                flight.push(start(machine, next));
            }
            while let Some(ended) = flight.next().await {
                let _ = tx.send(ended);
                if let Some(next) = pending.next() {
                    flight.push(start(machine, next));
                }
            }
        });
        for (i, result) in rx.try_iter() {
            done(i, result);
        }
        if let Err(e) = ran {
            for i in 0..count {
                done(
                    i,
                    Err(Box::new(format!("cannot start the worker's async runtime: {e}"))),
                );
            }
        }
    }
}
