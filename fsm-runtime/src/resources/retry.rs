//! [`Retry`]: trying an operation again while it fails with a transient error, with exponential
//! back-off and jitter.

use super::ResourceError;
#[cfg(feature = "tracing")]
use super::Seconds;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Duration, Instant, SystemTime};

/// How often, and how patiently, to try again an operation that failed with a
/// [transient](ResourceError::is_transient) error: the `retry_attempts` and
/// `retry_delay_seconds` of a resource's declaration, which the generated
/// `<Machine>Resources::open()` applies to opening it.
///
/// Retry `n` (1, 2, ...) waits `delay × 2^(n-1)`, at most [`Retry::MAX_BACKOFF`] (or `delay`
/// when that is longer), plus a jitter of up to a quarter of that, so that many processes
/// started together do not retry in step. [`Retry::NONE`] tries once.
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
    delay: Duration,
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
    pub const NONE: Retry = Retry {
        retries: 0,
        delay: Duration::ZERO,
    };

    /// The longest wait between two attempts, unless the first delay is longer still.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

    /// Up to `retries` more attempts after the first, the first of them after `delay`.
    pub const fn new(retries: u32, delay: Duration) -> Self {
        Retry { retries, delay }
    }

    /// How many attempts may follow the first.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The wait before the first retry.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The wait before retry `n` (from 1), jitter left out: `delay × 2^(n-1)`, capped.
    pub fn backoff(&self, n: u32) -> Duration {
        let cap = Self::MAX_BACKOFF.max(self.delay);
        let factor = 1u32 << n.saturating_sub(1).min(20);
        self.delay.saturating_mul(factor).min(cap)
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
                    let wait = self.backoff(attempts);
                    let wait = wait + jitter(wait, attempts);
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

/// Up to a quarter of `wait`, from a hash of the clock, the attempt and the process's random hash
/// keys: different between processes and between attempts, without a random number crate.
fn jitter(wait: Duration, attempt: u32) -> Duration {
    let mut hasher = RandomState::new().build_hasher();
    attempt.hash(&mut hasher);
    Instant::now().hash(&mut hasher);
    SystemTime::now().hash(&mut hasher);
    std::thread::current().id().hash(&mut hasher);
    let unit = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    wait.mul_f64(0.25 * unit)
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
    fn jitter_stays_under_a_quarter() {
        let wait = Duration::from_millis(400);
        for attempt in 0..200 {
            assert!(jitter(wait, attempt) <= Duration::from_millis(100));
        }
        let distinct: std::collections::BTreeSet<Duration> = (0..20).map(|a| jitter(wait, a)).collect();
        assert!(distinct.len() > 10, "{distinct:?}");
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
