//! [`Retry`]: trying an operation again while it fails with a transient error, with exponential
//! back-off and jitter.

use super::ResourceError;
#[cfg(feature = "tracing")]
use super::Seconds;
use crate::resilience::Backoff;
use std::time::Duration;

/// How often, and how patiently, to try again an operation that failed with a
/// [transient](ResourceError::is_transient) error: the `retry_attempts` and
/// `retry_delay_seconds` of a resource's declaration, which the generated
/// `<Machine>Resources::open()` applies to opening it.
///
/// Retry `n` (1, 2, ...) waits `delay × 2^(n-1)`, at most [`Retry::MAX_BACKOFF`] (or `delay`
/// when that is longer), plus a jitter of up to a quarter of that, so that many processes
/// started together do not retry in step: the same back-off and jitter as a state's `retry`
/// ([`RetryPolicy`](crate::resilience::RetryPolicy)), written once. [`Retry::NONE`] tries once.
///
/// ```
/// use fsm_runtime::resources::{ResourceError, Retry};
/// use std::time::Duration;
///
/// let retry = Retry::new(3, Duration::from_millis(1));
/// let mut calls = 0;
/// let answer = retry.run(|| {
///     calls += 1;
///     if calls < 3 {
///         Err(ResourceError::Timeout { what: "the server".into(), after: Duration::from_millis(5) })
///     } else {
///         Ok(42)
///     }
/// });
/// assert_eq!(answer.unwrap(), 42);
/// assert_eq!(calls, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    retries: u32,
    waits: Backoff,
}

/// The last error of an operation that [`Retry::run`] gave up on, and how many times it ran.
#[derive(Debug)]
#[non_exhaustive]
pub struct Exhausted {
    /// The error of the last attempt.
    pub error: ResourceError,
    /// How many attempts were made.
    pub attempts: u32,
}

impl Retry {
    /// One attempt, no retry.
    pub const NONE: Retry = Retry::new(0, Duration::ZERO);

    /// The longest wait between two attempts, unless the first delay is longer still.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

    /// Up to `retries` more attempts after the first, the first of them after `delay`.
    pub const fn new(retries: u32, delay: Duration) -> Self {
        Retry {
            retries,
            waits: Backoff::new(delay, Self::MAX_BACKOFF, true, true),
        }
    }

    /// How many attempts may follow the first.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The wait before the first retry.
    pub fn delay(&self) -> Duration {
        self.waits.delay()
    }

    /// The wait before retry `n` (from 1), jitter left out: `delay × 2^(n-1)`, capped.
    pub fn backoff(&self, n: u32) -> Duration {
        self.waits.wait(n)
    }

    /// Runs `attempt` until it succeeds, fails with an error that is not
    /// [transient](ResourceError::is_transient), or has run `1 + retries` times; sleeps the
    /// calling thread between attempts. The error is the last attempt's.
    pub fn run<T>(&self, mut attempt: impl FnMut() -> Result<T, ResourceError>) -> Result<T, Exhausted> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match attempt() {
                Ok(value) => return Ok(value),
                Err(error) if attempts <= self.retries && error.is_transient() => {
                    let wait = self.waits.wait_with_jitter(attempts);
                    #[cfg(feature = "tracing")]
                    tracing::warn!(attempt = attempts, error = %error, wait = %Seconds(wait), "fsm: retrying");
                    std::thread::sleep(wait);
                }
                Err(error) => return Err(Exhausted { error, attempts }),
            }
        }
    }
}

impl Default for Retry {
    fn default() -> Self {
        Retry::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let retry = Retry::new(10, Duration::from_millis(500));
        let waits: Vec<u128> = (1..=9).map(|n| retry.backoff(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
        assert_eq!(retry.backoff(u32::MAX), Retry::MAX_BACKOFF);
        // A first delay above the cap is kept.
        let slow = Retry::new(2, Duration::from_secs(120));
        assert_eq!(slow.backoff(3), Duration::from_secs(120));
    }

    #[test]
    fn waits_take_a_jitter_of_at_most_a_quarter() {
        let retry = Retry::new(10, Duration::from_millis(400));
        let waits: Vec<Duration> = (1..=40).map(|n| retry.waits.wait_with_jitter(n.min(2))).collect();
        for (i, wait) in waits.iter().enumerate() {
            let base = retry.backoff(if i == 0 { 1 } else { 2 });
            assert!((base..=base + base / 4).contains(wait), "{i}: {wait:?}");
        }
        let distinct: std::collections::BTreeSet<&Duration> = waits.iter().collect();
        assert!(distinct.len() > 20, "{distinct:?}");
        assert_eq!(Retry::NONE.waits.wait_with_jitter(1), Duration::ZERO);
        assert_eq!(Retry::NONE, Retry::new(0, Duration::ZERO));
    }

    #[test]
    fn errors_that_are_not_transient_are_not_retried() {
        let mut calls = 0;
        let e = Retry::new(5, Duration::from_millis(1))
            .run(|| -> Result<(), _> {
                calls += 1;
                Err(ResourceError::Env { var: "X".into() })
            })
            .unwrap_err();
        assert_eq!((calls, e.attempts), (1, 1));
        let mut calls = 0;
        let e = Retry::new(2, Duration::from_millis(1))
            .run(|| -> Result<(), _> {
                calls += 1;
                Err(ResourceError::Timeout {
                    what: "x".into(),
                    after: Duration::ZERO,
                })
            })
            .unwrap_err();
        assert_eq!((calls, e.attempts), (3, 3));
    }
}
