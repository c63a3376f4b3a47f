//! What keeps a state's functions going when they fail or hang, as its definition declares:
//! `retry` (run them again, with back-off and jitter), `timeout_seconds` (a run that took too long
//! fails, and its changes are rolled back) and `circuit_breaker` (after so many failures in a row,
//! fail at once for a while instead of calling a service that is down) and `rate_limit` (at most so
//! many runs per second, in bursts of at most so many, across every run in the process).
//!
//! Generated code calls [`guarded`] and [`deadline`]; the types are public so their behaviour is
//! documented and testable on its own. States with async functions get the same guards, awaited
//! ([`Attempts`], [`timeout_async`], and the [`Bulkhead`] of `max_concurrency`), with the `tokio`
//! feature: a timeout drops the functions' future, so the call is cancelled, and waits hold no
//! thread.

#[cfg(feature = "tokio")]
mod awaited;
#[cfg(feature = "tokio")]
pub use awaited::{Attempts, Bulkhead, Turn, timeout_async};

use crate::{ErrorKind, FnError};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// The function name a timeout is reported under.
pub const TIMEOUT_FUNCTION: &str = "<timeout>";
/// The function name an open circuit breaker is reported under.
pub const BREAKER_FUNCTION: &str = "<circuit breaker>";

type CallResult = Result<(), (&'static str, FnError)>;

/// A state's `retry`: how many runs in all, and the waits between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    waits: Backoff,
    /// The kinds of errors retried; empty: every error.
    on: &'static [ErrorKind],
}

impl RetryPolicy {
    /// `attempts` runs in all (at least one); the wait before the second is `delay_nanos`, then it
    /// doubles (`exponential`) up to `max_delay_nanos`, plus up to a quarter at random (`jitter`).
    pub const fn new(attempts: u32, delay_nanos: u64, max_delay_nanos: u64, exponential: bool, jitter: bool) -> Self {
        RetryPolicy {
            attempts: if attempts == 0 { 1 } else { attempts },
            waits: Backoff::new(
                Duration::from_nanos(delay_nanos),
                Duration::from_nanos(max_delay_nanos),
                exponential,
                jitter,
            ),
            on: &[],
        }
    }

    /// The same policy, retrying only errors of `kinds` (a state's `retry: { on: [..] }`); any
    /// other error fails the state at once. Empty: every error, as without it.
    pub const fn on(mut self, kinds: &'static [ErrorKind]) -> Self {
        self.on = kinds;
        self
    }

    /// Whether the policy runs the functions again after `error` (not counting attempts).
    pub fn retries(&self, error: &FnError) -> bool {
        self.on.is_empty() || ErrorKind::any_of(self.on, error)
    }

    /// Runs in all.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait after run `n` (from 1) failed, jitter left out.
    pub fn wait(&self, n: u32) -> Duration {
        self.waits.wait(n)
    }
}

/// The waits between the attempts of an operation that failed: the one back-off and jitter behind
/// a state's `retry` ([`RetryPolicy`]) and the opening of resources
/// ([`resources::Retry`](crate::resources::Retry)).
///
/// The wait after attempt `n` (from 1) is `delay`, doubled `n - 1` times when `exponential`, at
/// most `max_delay` (or `delay` when that is longer); with `jitter`, plus up to a quarter of it
/// at random, so that many workers or processes that failed together do not try again in step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    delay: Duration,
    max_delay: Duration,
    exponential: bool,
    jitter: bool,
}

impl Backoff {
    pub(crate) const fn new(delay: Duration, max_delay: Duration, exponential: bool, jitter: bool) -> Self {
        Backoff {
            delay,
            max_delay,
            exponential,
            jitter,
        }
    }

    /// The wait after the first failed attempt.
    pub(crate) fn delay(&self) -> Duration {
        self.delay
    }

    /// The wait after attempt `n` (from 1) failed, jitter left out.
    pub(crate) fn wait(&self, n: u32) -> Duration {
        let base = if self.exponential {
            // Saturating: a policy built by hand may hold any wait; it must never panic.
            self.delay.saturating_mul(1u32 << n.saturating_sub(1).min(20))
        } else {
            self.delay
        };
        base.min(self.max_delay.max(self.delay))
    }

    /// The wait after attempt `n` (from 1) failed, jitter included.
    pub(crate) fn wait_with_jitter(&self, n: u32) -> Duration {
        let wait = self.wait(n);
        if self.jitter {
            wait.saturating_add(jitter(wait, n))
        } else {
            wait
        }
    }
}

/// Up to a quarter of `wait`, from a hash of the clocks, the attempt and the thread under hash
/// keys that are random in each process (and new at each call): different between processes,
/// threads and attempts, without a random number crate. Integer arithmetic on nanoseconds: no
/// overflow and no float rounding, whatever the wait.
fn jitter(wait: Duration, attempt: u32) -> Duration {
    let mut hasher = RandomState::new().build_hasher();
    attempt.hash(&mut hasher);
    Instant::now().hash(&mut hasher);
    SystemTime::now().hash(&mut hasher);
    std::thread::current().id().hash(&mut hasher);
    const STEPS: u128 = 1 << 16;
    let spread = u128::from(hasher.finish()) % (STEPS + 1);
    // At most u64::MAX seconds in nanoseconds (under 2^94) times 2^16: within a u128.
    let nanos = wait.as_nanos() / 4 * spread / STEPS;
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is under 10^9: it fits.
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

/// A state's `circuit_breaker`: opens after `failures` failed runs in a row; while open the state
/// fails at once with [`BREAKER_FUNCTION`]; after `reset` a run may try again (closing it on
/// success, opening it again on failure). Lock-free; generated code keeps one per state in a
/// `static`, shared by every run of the machine in the process.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    reset: Duration,
    failures: AtomicU32,
    /// Nanoseconds since [`origin`] when it opened, plus one; 0 when closed.
    opened_at: AtomicU64,
}

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(origin().elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
}

impl CircuitBreaker {
    /// Opens after `failures` failures in a row (at least one), for `reset_nanos`.
    pub const fn new(failures: u32, reset_nanos: u64) -> Self {
        CircuitBreaker {
            threshold: if failures == 0 { 1 } else { failures },
            reset: Duration::from_nanos(reset_nanos),
            failures: AtomicU32::new(0),
            opened_at: AtomicU64::new(0),
        }
    }

    /// Whether it is open now (runs fail at once).
    pub fn is_open(&self) -> bool {
        !self.allows()
    }

    fn allows(&self) -> bool {
        let opened = self.opened_at.load(Ordering::Acquire);
        opened == 0 || Duration::from_nanos(now_nanos().saturating_sub(opened)) >= self.reset
    }

    /// Records the result of a call it guards (closing it on success), for guards other than a
    /// state's, such as an HTTP endpoint's.
    #[cfg(feature = "http-async")]
    pub(crate) fn record_outcome(&self, ok: bool) {
        self.record(ok);
    }

    fn record(&self, ok: bool) {
        if ok {
            self.failures.store(0, Ordering::Release);
            self.opened_at.store(0, Ordering::Release);
        } else if self.failures.fetch_add(1, Ordering::AcqRel) + 1 >= self.threshold {
            self.opened_at.store(now_nanos(), Ordering::Release);
        }
    }
}

/// A state's `rate_limit`: a token bucket holding up to `burst` tokens, refilled at `per_second`;
/// each run of the state's functions takes one, waiting (the thread sleeps) until there is one.
/// Generated code keeps one per state in a `static`, shared by every run in the process.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    /// Tokens left and when they were counted; `None` until the first run (a full bucket).
    bucket: Mutex<Option<(f64, Instant)>>,
}

impl RateLimiter {
    /// `per_second` runs a second on average (above 0), at most `burst` at once (at least one).
    pub const fn new(per_second: f64, burst: u32) -> Self {
        RateLimiter {
            per_second: if per_second > 0.0 { per_second } else { 1.0 },
            burst: if burst == 0 { 1.0 } else { burst as f64 },
            bucket: Mutex::new(None),
        }
    }

    /// Takes a token, first waiting until there is one.
    pub fn acquire(&self) {
        while let Some(wait) = self.try_take() {
            std::thread::sleep(wait);
        }
    }

    /// Takes a token if there is one (`None`), or says how long until the next one.
    pub(crate) fn try_take(&self) -> Option<Duration> {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let (tokens, then) = bucket.unwrap_or((self.burst, now));
        let tokens = (tokens + now.duration_since(then).as_secs_f64() * self.per_second).min(self.burst);
        if tokens >= 1.0 {
            *bucket = Some((tokens - 1.0, now));
            return None;
        }
        *bucket = Some((tokens, now));
        // A rate so small that the wait overflows a `Duration` waits as long as one can.
        Some(Duration::try_from_secs_f64((1.0 - tokens) / self.per_second).unwrap_or(Duration::MAX))
    }
}

/// What guards a state's functions: its `retry`, `circuit_breaker` and `rate_limit`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Guards<'a> {
    /// Run them again when they fail.
    pub retry: Option<&'a RetryPolicy>,
    /// Fail at once while too many runs failed in a row.
    pub breaker: Option<&'a CircuitBreaker>,
    /// Wait for a token before each run.
    pub limiter: Option<&'a RateLimiter>,
}

/// Runs a state's functions (`run`, which rolls its own changes back when it fails) under its
/// guards: each run waits for the rate limiter, fails at once while the breaker is open, and a
/// failed run is retried as the policy says. After the last failed run, the error says how many
/// there were.
pub fn guarded(guards: Guards<'_>, mut run: impl FnMut() -> CallResult) -> CallResult {
    let mut n = 0;
    loop {
        n += 1;
        if let Some(limiter) = guards.limiter {
            limiter.acquire();
        }
        if let Some(open) = guards.refused() {
            return Err(open);
        }
        match guards.after(n, run()) {
            After::Done(result) => return result,
            After::Retry(wait) => std::thread::sleep(wait),
        }
    }
}

/// What follows run `n` of a state's functions: its result is final, or they run again after a
/// wait. The one decision behind [`guarded`] and its async twin.
#[derive(Debug)]
pub(crate) enum After {
    /// The state's result.
    Done(CallResult),
    /// Run again after this wait.
    Retry(Duration),
}

impl Guards<'_> {
    /// The breaker's answer before a run: `Some` (the state fails at once) while it is open.
    pub(crate) fn refused(&self) -> Option<(&'static str, FnError)> {
        let breaker = self.breaker?;
        if breaker.allows() {
            return None;
        }
        Some((
            BREAKER_FUNCTION,
            FnError::of_kind(
                ErrorKind::CIRCUIT_OPEN,
                format!(
                    "circuit open: {} failures in a row; calls resume {:?} after the last one",
                    breaker.threshold, breaker.reset
                ),
            ),
        ))
    }

    /// Run `n` (from 1) gave `result`: the breaker records it, and the retry policy says whether
    /// the functions run again. After the last failed run, the error says how many there were.
    pub(crate) fn after(&self, n: u32, result: CallResult) -> After {
        if let Some(breaker) = self.breaker {
            breaker.record(result.is_ok());
        }
        let attempts = self.retry.map_or(1, RetryPolicy::attempts);
        match (result, self.retry) {
            (Ok(()), _) => After::Done(Ok(())),
            (Err(_failed), Some(retry))
                if n < attempts && retry.retries(&_failed.1) && !outcome_unknown(&_failed.1) =>
            {
                #[cfg(feature = "tracing")]
                tracing::debug!(function = _failed.0, error = %_failed.1, attempt = n, "state function failed; retrying");
                After::Retry(retry.waits.wait_with_jitter(n))
            }
            (Err((function, error)), _) if n > 1 => After::Done(Err((
                function,
                FnError::with_source(format!("failed {n} times"), error),
            ))),
            (Err(failed), _) => After::Done(Err(failed)),
        }
    }
}

/// Whether `error` comes from a write whose outcome is unknown ([`ResourceError::OutcomeUnknown`],
/// [`StoreError::Unknown`]): running the functions again could apply it twice, so `retry` does not.
///
/// [`ResourceError::OutcomeUnknown`]: crate::resources::ResourceError::OutcomeUnknown
/// [`StoreError::Unknown`]: crate::store::StoreError::Unknown
fn outcome_unknown(error: &FnError) -> bool {
    use crate::resources::ResourceError;
    use crate::store::StoreError;
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Unknown { .. }))
            || matches!(
                e.downcast_ref::<ResourceError>(),
                Some(ResourceError::OutcomeUnknown(_))
            )
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Fails with [`TIMEOUT_FUNCTION`] when the state's functions, begun at `began`, took longer than
/// `limit_nanos`. Checked when they return: a function is not interrupted, its result is refused.
pub fn deadline(began: Instant, limit_nanos: u64) -> CallResult {
    #[cfg(feature = "test-clock")]
    let took = clock::elapsed_since(began);
    #[cfg(not(feature = "test-clock"))]
    let took = began.elapsed();
    let limit = Duration::from_nanos(limit_nanos);
    if took > limit {
        return Err((
            TIMEOUT_FUNCTION,
            FnError::of_kind(
                ErrorKind::TIMEOUT,
                format!("the state's functions took {took:?}, over its timeout of {limit:?}"),
            ),
        ));
    }
    Ok(())
}

/// A clock tests can stop and move (feature `test-clock`): while a [`clock::Frozen`] guard lives,
/// the time [`deadline`] measures on its thread stands still except for what [`clock::sleep`]
/// adds, so a test pins a state's timeout without timing anything: a run that "sleeps" 120 ms
/// under a 50 ms timeout fails, a run that does nothing passes however loaded the machine is.
#[cfg(feature = "test-clock")]
pub mod clock {
    use std::cell::RefCell;
    use std::marker::PhantomData;
    use std::time::{Duration, Instant};

    thread_local! {
        /// While frozen: each [`sleep`], with when it happened.
        static SLEPT: RefCell<Option<Vec<(Instant, Duration)>>> = const { RefCell::new(None) };
    }

    /// Keeps this thread's clock frozen until dropped.
    #[must_use = "the clock runs again when the guard is dropped"]
    #[derive(Debug)]
    pub struct Frozen {
        /// The clock is the thread's: the guard stays on it.
        _thread: PhantomData<*const ()>,
    }

    impl Drop for Frozen {
        fn drop(&mut self) {
            SLEPT.with(|slept| *slept.borrow_mut() = None);
        }
    }

    /// Stops this thread's clock: from now until the guard is dropped, the time between two
    /// readings is the sum of the [`sleep`]s between them.
    pub fn freeze() -> Frozen {
        SLEPT.with(|slept| *slept.borrow_mut() = Some(Vec::new()));
        Frozen { _thread: PhantomData }
    }

    /// Moves this thread's frozen clock `by` forward at once; sleeps for real when it runs.
    pub fn sleep(by: Duration) {
        let frozen = SLEPT.with(|slept| match slept.borrow_mut().as_mut() {
            Some(slept) => {
                slept.push((Instant::now(), by));
                true
            }
            None => false,
        });
        if !frozen {
            std::thread::sleep(by);
        }
    }

    /// The time since `began`: the sleeps since then while frozen, the real time otherwise.
    pub(super) fn elapsed_since(began: Instant) -> Duration {
        SLEPT.with(|slept| match slept.borrow().as_ref() {
            Some(slept) => slept
                .iter()
                .filter(|(at, _)| *at >= began)
                .fold(Duration::ZERO, |sum, (_, by)| sum.saturating_add(*by)),
            None => began.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let r = RetryPolicy::new(5, 100, 350, true, false);
        assert_eq!(
            (1..=4).map(|n| r.wait(n).as_nanos()).collect::<Vec<_>>(),
            [100, 200, 350, 350]
        );
        let fixed = RetryPolicy::new(5, 100, 350, false, true);
        assert!((1..=4).all(|n| (100..=125).contains(&fixed.waits.wait_with_jitter(n).as_nanos())));
        // A first delay above the cap is kept; `exponential: false` never doubles.
        let slow = RetryPolicy::new(3, 500, 100, true, false);
        assert_eq!(slow.wait(3), Duration::from_nanos(500));
        assert_eq!(
            RetryPolicy::new(3, 100, 1_000, false, false).wait(3),
            Duration::from_nanos(100)
        );
        assert_eq!(
            RetryPolicy::new(0, 1, 1, false, false).attempts(),
            1,
            "at least one run"
        );
    }

    #[test]
    fn jitter_stays_under_a_quarter() {
        let wait = Duration::from_millis(400);
        for attempt in 0..200 {
            assert!(jitter(wait, attempt) <= Duration::from_millis(100));
        }
        let without = Backoff::new(wait, wait, false, false);
        assert!(
            (1..=50).all(|n| without.wait_with_jitter(n) == wait),
            "no jitter asked for, none added"
        );
        let with = Backoff::new(wait, wait, false, true);
        assert!((1..=50).all(|n| (wait..=wait + wait / 4).contains(&with.wait_with_jitter(n))));
        assert_eq!(jitter(Duration::ZERO, 1), Duration::ZERO);
    }

    #[test]
    fn jitters_differ_between_attempts_and_threads() {
        let wait = Duration::from_millis(400);
        let distinct: std::collections::BTreeSet<Duration> = (0..20).map(|a| jitter(wait, a)).collect();
        assert!(distinct.len() > 10, "{distinct:?}");
        // The same attempt in other threads (as in other processes: the hash keys are random).
        let threads: std::collections::BTreeSet<Duration> = (0..8)
            .map(|_| std::thread::spawn(move || jitter(wait, 1)))
            .filter_map(|t| t.join().ok())
            .collect();
        assert!(threads.len() > 4, "{threads:?}");
    }

    #[test]
    fn a_write_whose_outcome_is_unknown_is_not_retried() {
        use crate::resources::ResourceError;
        use crate::store::StoreError;
        let retry = RetryPolicy::new(3, 1, 1, false, false);
        let guards = Guards {
            retry: Some(&retry),
            ..Guards::default()
        };
        let lost = || ResourceError::OutcomeUnknown(Box::new(ResourceError::Env { var: "X".into() }));
        let failures: [fn(ResourceError) -> FnError; 3] = [
            FnError::from,
            |e| {
                FnError::with_source(
                    "saving",
                    StoreError::Unknown {
                        key: "k".into(),
                        source: Box::new(e),
                    },
                )
            },
            |e| FnError::with_source("outer", FnError::from(e)),
        ];
        for (i, fail) in failures.into_iter().enumerate() {
            let mut calls = 0;
            let result = guarded(guards, || {
                calls += 1;
                Err(("write", fail(lost())))
            });
            assert_eq!(calls, 1, "failure {i}");
            assert_eq!(result.unwrap_err().0, "write");
        }
        // Any other failure is retried as before.
        let mut calls = 0;
        let _ = guarded(guards, || {
            calls += 1;
            Err(("write", FnError::from(ResourceError::Env { var: "X".into() })))
        });
        assert_eq!(calls, 3);
    }

    #[test]
    fn retry_on_kinds_retries_those_kinds_only() {
        const UNAVAILABLE: ErrorKind = ErrorKind::named("unavailable");
        let retry = RetryPolicy::new(3, 1, 1, false, false).on(&[UNAVAILABLE, ErrorKind::TIMEOUT]);
        let guards = Guards {
            retry: Some(&retry),
            ..Guards::default()
        };
        let calls = |error: fn() -> FnError| {
            let mut calls = 0;
            let result = guarded(guards, || {
                calls += 1;
                Err(("f", error()))
            });
            (calls, result.unwrap_err().1)
        };
        let (n, last) = calls(|| FnError::of_kind(UNAVAILABLE, "no seat"));
        assert_eq!(n, 3);
        assert_eq!(last.kind(), Some(UNAVAILABLE), "the kind survives `failed 3 times`");
        assert_eq!(last.to_string(), "failed 3 times: no seat");
        assert_eq!(calls(|| FnError::of_kind(ErrorKind::named("declined"), "no")).0, 1);
        assert_eq!(calls(|| FnError::new("no kind")).0, 1);
        // Without `on`, every error.
        let all = RetryPolicy::new(2, 1, 1, false, false);
        assert!(all.retries(&FnError::new("x")) && all.retries(&FnError::of_kind(UNAVAILABLE, "x")));
    }

    #[test]
    fn guards_report_their_kinds() {
        let b = CircuitBreaker::new(1, u64::MAX);
        let _ = guarded(on(&b), || Err(("f", FnError::new("down"))));
        let open = guarded(on(&b), || Ok(())).unwrap_err().1;
        assert_eq!(open.kind(), Some(ErrorKind::CIRCUIT_OPEN));
        let late = deadline(Instant::now() - Duration::from_secs(1), 1).unwrap_err().1;
        assert_eq!(late.kind(), Some(ErrorKind::TIMEOUT));
    }

    fn on(breaker: &CircuitBreaker) -> Guards<'_> {
        Guards {
            breaker: Some(breaker),
            ..Guards::default()
        }
    }

    #[test]
    fn a_rate_limiter_spaces_runs_after_its_burst() {
        let limiter = RateLimiter::new(100.0, 2);
        let began = Instant::now();
        for _ in 0..5 {
            limiter.acquire();
        }
        // Two at once, then three more at 100 a second: at least 30 ms (a lower bound only).
        assert!(began.elapsed() >= Duration::from_millis(29), "{:?}", began.elapsed());
    }

    #[test]
    fn extreme_policies_do_not_panic() {
        let r = RetryPolicy::new(3, u64::MAX, u64::MAX, true, true);
        assert!(r.waits.wait_with_jitter(2) >= r.wait(2));
        let most = Backoff::new(Duration::MAX, Duration::MAX, true, true);
        assert_eq!(most.wait(u32::MAX), Duration::MAX);
        assert_eq!(most.wait_with_jitter(u32::MAX), Duration::MAX, "saturates");
        assert!(jitter(Duration::MAX, 7) <= Duration::MAX / 4);
        let limiter = RateLimiter::new(1e-300, 1);
        assert_eq!(limiter.try_take(), None, "the burst");
        assert_eq!(limiter.try_take(), Some(Duration::MAX));
    }

    #[cfg(feature = "test-clock")]
    #[test]
    fn a_deadline_on_a_frozen_clock_counts_its_sleeps_only() {
        let before = Instant::now();
        let frozen = clock::freeze();
        clock::sleep(Duration::from_secs(3600));
        let began = Instant::now();
        // Real time passes, the frozen clock does not move: 0 taken.
        std::thread::sleep(Duration::from_millis(2));
        assert!(deadline(began, 0).is_ok());
        clock::sleep(Duration::from_millis(30));
        clock::sleep(Duration::from_millis(20));
        assert!(deadline(began, 50_000_000).is_ok(), "exactly the limit is within it");
        let (function, error) = deadline(began, 49_999_999).unwrap_err();
        assert_eq!(function, TIMEOUT_FUNCTION);
        assert_eq!(
            error.to_string(),
            "the state's functions took 50ms, over its timeout of 49.999999ms"
        );
        // The hour slept before `began` counted from `before`; the real clock again once thawed.
        assert!(deadline(before, 3_600_050_000_000).is_ok() && deadline(before, 3_600_049_999_999).is_err());
        drop(frozen);
        assert!(deadline(before, 1_000_000).is_err(), "2 ms slept for real");
    }

    #[test]
    fn a_breaker_opens_and_resets() {
        let b = CircuitBreaker::new(2, 20_000_000);
        let fail = || -> CallResult { Err(("f", FnError::new("down"))) };
        assert!(guarded(on(&b), fail).is_err());
        assert!(!b.is_open());
        assert!(guarded(on(&b), fail).is_err());
        assert!(b.is_open());
        let mut called = false;
        let open = guarded(on(&b), || {
            called = true;
            Ok(())
        });
        assert_eq!(open.unwrap_err().0, BREAKER_FUNCTION);
        assert!(!called);
        std::thread::sleep(Duration::from_millis(25));
        assert!(guarded(on(&b), || Ok(())).is_ok());
        assert!(!b.is_open());
    }
}
