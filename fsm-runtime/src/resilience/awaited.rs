//! The guards of a state with async functions (feature `tokio`): the same retry policy, circuit
//! breaker and rate limiter as [`guarded`](super::guarded), awaited instead of slept, plus the
//! [`Bulkhead`] of `max_concurrency` and a timeout that cancels.
//!
//! Generated code cannot hand the functions to a helper as a closure (each run borrows the record
//! and the context again, which a closure returning a future cannot express), so it writes the loop
//! and asks [`Attempts`] what to do before and after each run:
//!
//! ```text
//! let mut attempts = Attempts::new(guards, Some(&BULKHEAD));
//! loop {
//!     let turn = match attempts.begin().await { Ok(t) => t, Err(open) => break Err(open) };
//!     let result = /* the state's functions, awaited */;
//!     if let Some(done) = attempts.end(turn, result).await { break done; }
//! }
//! ```

use std::future::Future;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use super::{After, CallResult, Guards, RateLimiter, TIMEOUT_FUNCTION};
use crate::FnError;

/// A state's `max_concurrency`: at most so many runs inside its functions at once, across every
/// run of the machine in the process (generated code keeps one per state in a `static`). A run
/// that finds it full waits for a place without holding a thread; the place is given back when
/// the functions return, fail or are cancelled, and between the attempts of a retry.
#[derive(Debug)]
pub struct Bulkhead {
    places: Semaphore,
    limit: u32,
}

impl Bulkhead {
    /// At most `limit` runs at once (at least one).
    pub const fn new(limit: u32) -> Self {
        let limit = if limit == 0 { 1 } else { limit };
        Bulkhead {
            places: Semaphore::const_new(limit as usize),
            limit,
        }
    }

    /// The most runs at once.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Runs inside now.
    pub fn inside(&self) -> u32 {
        self.limit
            .saturating_sub(u32::try_from(self.places.available_permits()).unwrap_or(u32::MAX))
    }

    /// Waits for a place; it is held until the [`Turn`] is dropped.
    pub async fn enter(&self) -> Turn<'_> {
        // The semaphore is never closed: `acquire` cannot fail.
        Turn(self.places.acquire().await.ok())
    }
}

/// A place in a [`Bulkhead`] (or none, for a state without one), given back when dropped.
#[derive(Debug)]
#[must_use = "the place is given back when the turn is dropped"]
pub struct Turn<'a>(#[allow(dead_code)] Option<SemaphorePermit<'a>>);

impl RateLimiter {
    /// Takes a token, first waiting (asynchronously) until there is one.
    pub async fn acquire_async(&self) {
        while let Some(wait) = self.try_take() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The runs of an async state's functions under its guards: before each run, [`Attempts::begin`]
/// waits for the rate limiter, fails at once while the breaker is open, and waits for a place in
/// the bulkhead; after it, [`Attempts::end`] records the result with the breaker and either gives
/// the state's result or waits the retry policy's back-off (asynchronously) for the next run.
#[derive(Debug)]
pub struct Attempts<'a> {
    guards: Guards<'a>,
    bulkhead: Option<&'a Bulkhead>,
    n: u32,
}

impl<'a> Attempts<'a> {
    /// The runs of a state with these guards and bulkhead.
    pub fn new(guards: Guards<'a>, bulkhead: Option<&'a Bulkhead>) -> Self {
        Attempts { guards, bulkhead, n: 0 }
    }

    /// Before a run: its turn, or the open breaker's error (the state fails at once).
    pub async fn begin(&mut self) -> Result<Turn<'a>, (&'static str, FnError)> {
        self.n = self.n.saturating_add(1);
        if let Some(limiter) = self.guards.limiter {
            limiter.acquire_async().await;
        }
        if let Some(open) = self.guards.refused() {
            return Err(open);
        }
        Ok(match self.bulkhead {
            Some(bulkhead) => bulkhead.enter().await,
            None => Turn(None),
        })
    }

    /// After a run that gave `result`: `Some` with the state's result, or `None` once the wait
    /// before the next run is over (the turn is given back first).
    pub async fn end(&mut self, turn: Turn<'a>, result: CallResult) -> Option<CallResult> {
        drop(turn);
        match self.guards.after(self.n, result) {
            After::Done(result) => Some(result),
            After::Retry(wait) => {
                tokio::time::sleep(wait).await;
                None
            }
        }
    }
}

/// A state's `timeout_seconds` on async functions: their result, or, when they take longer than
/// `limit_nanos`, their future dropped (the call in flight is cancelled: a request's connection is
/// closed) and the state failed with [`TIMEOUT_FUNCTION`]. Inside the state's data mode, so the
/// changes they made before are rolled back.
pub async fn timeout_async(limit_nanos: u64, fns: impl Future<Output = CallResult>) -> CallResult {
    let limit = Duration::from_nanos(limit_nanos);
    match tokio::time::timeout(limit, fns).await {
        Ok(result) => result,
        Err(_) => Err((
            TIMEOUT_FUNCTION,
            FnError::new(format!(
                "the state's functions did not finish within its timeout of {limit:?}: cancelled"
            )),
        )),
    }
}
