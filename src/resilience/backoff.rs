//! Retry policy: how many calls a step may make in all, and the delay before
//! each retry (exponential or constant, capped, with jitter).

use std::time::Duration;

use tokio::time::Instant;

use super::PolicyError;
use super::deadline::Deadline;

/// Calls in all, the first included. Three is the seed's example and enough
/// to ride out a restarting instance without piling up on a dead one.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// First retry delay: long enough for a connection to be re-established.
pub const DEFAULT_INITIAL_INTERVAL: Duration = Duration::from_millis(100);
/// Cap on one delay, so a long retry chain still fits a workflow timeout.
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(10);
/// Each delay doubles the previous one.
pub const DEFAULT_MULTIPLIER: f64 = 2.0;
/// ±20% randomisation so that many runs failing together do not retry in step.
pub const DEFAULT_JITTER: f64 = 0.2;

/// The shape of the delays between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffKind {
    /// `initial_interval * multiplier^(retry - 1)`, capped at `max_interval`.
    Exponential,
    /// `initial_interval` every time.
    Constant,
}

/// A validated retry policy, as written on a service or a step.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Calls in all, the first included; at least 1.
    pub attempts: u32,
    pub backoff: BackoffKind,
    pub initial_interval: Duration,
    pub max_interval: Duration,
    /// At least 1.0.
    pub multiplier: f64,
    /// Fraction of each delay randomised, in `0.0..=1.0`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: DEFAULT_ATTEMPTS,
            backoff: BackoffKind::Exponential,
            initial_interval: DEFAULT_INITIAL_INTERVAL,
            max_interval: DEFAULT_MAX_INTERVAL,
            multiplier: DEFAULT_MULTIPLIER,
            jitter: DEFAULT_JITTER,
        }
    }
}

impl RetryPolicy {
    /// Every reason this policy is unusable, so a workflow file can report
    /// them all at once.
    pub fn validate(&self) -> Vec<PolicyError> {
        let mut errors = Vec::new();
        if self.attempts == 0 {
            errors.push(PolicyError::NoAttempts);
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            errors.push(PolicyError::Multiplier(self.multiplier));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            errors.push(PolicyError::Jitter(self.jitter));
        }
        if self.initial_interval > self.max_interval {
            errors.push(PolicyError::IntervalAboveCap {
                initial: self.initial_interval,
                max: self.max_interval,
            });
        }
        errors
    }
}

/// The delays of one retry chain, yielded one retry at a time.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    /// Retries handed out so far.
    retries: u32,
    rng: XorShift,
}

impl Backoff {
    /// A chain for a policy that passed validation. A policy that did not is
    /// still handled without panicking (at least one call, jitter clamped).
    pub fn new(policy: RetryPolicy) -> Self {
        Self::with_seed(policy, random_seed())
    }

    /// Like [`Backoff::new`], but refuses a policy that fails validation.
    pub fn try_new(policy: RetryPolicy) -> Result<Self, PolicyError> {
        match policy.validate().into_iter().next() {
            Some(error) => Err(error),
            None => Ok(Self::new(policy)),
        }
    }

    /// A chain whose jitter is reproducible: the same seed gives the same
    /// delays.
    pub fn with_seed(policy: RetryPolicy, seed: u64) -> Self {
        Self {
            policy,
            retries: 0,
            rng: XorShift::new(seed),
        }
    }

    /// The delay before the next call, or `None` once `attempts` calls in all
    /// have been made. Call it after each failed call.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.retries + 1 >= self.policy.attempts.max(1) {
            return None;
        }
        self.retries += 1;
        let base = self.base_delay(self.retries);
        Some(self.jittered(base))
    }

    /// The delay before the next call, taking the server's `Retry-After`
    /// into account; or why there is none: no call is left, or the retry
    /// would not start before `deadline` (a retry never outlives its step or
    /// run).
    pub fn next_retry(
        &mut self,
        now: Instant,
        retry_after: Option<Duration>,
        deadline: Deadline,
    ) -> Result<Duration, NoRetry> {
        let delay = honour_retry_after(self.next_delay().ok_or(NoRetry::Exhausted)?, retry_after);
        match fits_before(now, delay, deadline) {
            true => Ok(delay),
            false => Err(NoRetry::PastDeadline),
        }
    }

    /// Retries handed out so far; the call in progress is `retries() + 1`.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    fn base_delay(&self, retry: u32) -> Duration {
        let p = &self.policy;
        let delay = match p.backoff {
            BackoffKind::Constant => p.initial_interval,
            BackoffKind::Exponential => {
                // Computed in f64 and clamped before converting back, so a
                // long chain saturates at the cap instead of overflowing.
                let factor = p.multiplier.max(1.0).powi(retry.saturating_sub(1) as i32);
                let secs = p.initial_interval.as_secs_f64() * factor;
                if secs.is_finite() && secs < p.max_interval.as_secs_f64() {
                    Duration::from_secs_f64(secs)
                } else {
                    p.max_interval
                }
            }
        };
        delay.min(p.max_interval)
    }

    fn jittered(&mut self, base: Duration) -> Duration {
        let jitter = self.policy.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return base;
        }
        // A factor in [1 - jitter, 1 + jitter]; the cap stays a hard ceiling.
        let factor = 1.0 + jitter * (2.0 * self.rng.next_unit() - 1.0);
        Duration::from_secs_f64(base.as_secs_f64() * factor).min(self.policy.max_interval)
    }
}

/// The delay to wait when the server asked for `retry_after`: the larger of
/// the two, since retrying earlier than asked is likely to be refused again.
pub fn honour_retry_after(delay: Duration, retry_after: Option<Duration>) -> Duration {
    retry_after.map_or(delay, |asked| delay.max(asked))
}

/// Whether a call started `delay` after `now` would still start before the
/// deadline (an attempt starting at the deadline would have no time at all).
pub fn fits_before(now: Instant, delay: Duration, deadline: Deadline) -> bool {
    match now.checked_add(delay) {
        Some(start) => deadline.allows(start),
        None => deadline.instant().is_none(),
    }
}

/// Why no further call is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRetry {
    /// The policy's `attempts` are all made.
    Exhausted,
    /// The next call would not start before the deadline.
    PastDeadline,
}

/// A tiny xorshift64* generator: jitter needs spread, not cryptography, and
/// a seed makes tests reproducible.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Uniform in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (out >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A seed that differs between chains and processes, from std's randomly
/// keyed hasher, so no random-number crate is needed.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: u32, backoff: BackoffKind, jitter: f64) -> RetryPolicy {
        RetryPolicy {
            attempts,
            backoff,
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_millis(1000),
            multiplier: 2.0,
            jitter,
        }
    }

    fn all_delays(mut backoff: Backoff) -> Vec<Duration> {
        std::iter::from_fn(|| backoff.next_delay()).collect()
    }

    #[test]
    fn exponential_delays_double_then_hit_the_cap() {
        let delays = all_delays(Backoff::new(policy(7, BackoffKind::Exponential, 0.0)));
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn constant_delays_repeat_the_initial_interval() {
        let delays = all_delays(Backoff::new(policy(4, BackoffKind::Constant, 0.0)));
        assert_eq!(delays, vec![Duration::from_millis(100); 3]);
    }

    #[test]
    fn attempts_count_the_first_call() {
        assert!(all_delays(Backoff::new(policy(1, BackoffKind::Exponential, 0.0))).is_empty());
        assert_eq!(
            all_delays(Backoff::new(policy(3, BackoffKind::Exponential, 0.0))).len(),
            2
        );
    }

    #[test]
    fn exhausted_chain_stays_exhausted() {
        let mut backoff = Backoff::new(policy(2, BackoffKind::Constant, 0.0));
        assert!(backoff.next_delay().is_some());
        assert_eq!(backoff.next_delay(), None);
        assert_eq!(backoff.next_delay(), None);
        assert_eq!(backoff.retries(), 1);
    }

    #[test]
    fn huge_chains_saturate_at_the_cap() {
        let mut p = policy(u32::MAX, BackoffKind::Exponential, 0.0);
        p.multiplier = 10.0;
        let mut backoff = Backoff::new(p);
        let last = (0..2000).filter_map(|_| backoff.next_delay()).last();
        assert_eq!(last, Some(Duration::from_millis(1000)));
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_under_the_cap() {
        let mut backoff = Backoff::with_seed(policy(1000, BackoffKind::Constant, 0.5), 42);
        let delays: Vec<Duration> = std::iter::from_fn(|| backoff.next_delay()).collect();
        assert!(
            delays
                .iter()
                .all(|d| { *d >= Duration::from_millis(50) && *d <= Duration::from_millis(150) })
        );
        // Spread out, not stuck on one value.
        let lowest = delays.iter().min().unwrap();
        let highest = delays.iter().max().unwrap();
        assert!(*highest - *lowest > Duration::from_millis(80));

        let mut capped = Backoff::with_seed(policy(50, BackoffKind::Exponential, 1.0), 7);
        assert!(std::iter::from_fn(|| capped.next_delay()).all(|d| d <= Duration::from_secs(1)));
    }

    #[test]
    fn jitter_is_reproducible_from_a_seed() {
        let a = all_delays(Backoff::with_seed(
            policy(6, BackoffKind::Exponential, 0.2),
            9,
        ));
        let b = all_delays(Backoff::with_seed(
            policy(6, BackoffKind::Exponential, 0.2),
            9,
        ));
        assert_eq!(a, b);
    }

    #[test]
    fn retry_after_wins_when_longer() {
        let d = Duration::from_millis(100);
        assert_eq!(honour_retry_after(d, None), d);
        assert_eq!(
            honour_retry_after(d, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(honour_retry_after(d, Some(Duration::from_millis(10))), d);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_never_outlives_the_deadline() {
        let now = Instant::now();
        let deadline = Deadline::at(now + Duration::from_millis(500));
        assert!(fits_before(now, Duration::from_millis(499), deadline));
        assert!(!fits_before(now, Duration::from_millis(500), deadline));
        assert!(fits_before(now, Duration::MAX, Deadline::NONE));

        let mut backoff = Backoff::new(policy(5, BackoffKind::Constant, 0.0));
        assert_eq!(
            backoff.next_retry(now, None, deadline),
            Ok(Duration::from_millis(100))
        );
        // The server asks for longer than the run has left: give up now.
        assert_eq!(
            backoff.next_retry(now, Some(Duration::from_secs(1)), deadline),
            Err(NoRetry::PastDeadline)
        );
        assert_eq!(
            backoff.next_retry(now, Some(Duration::from_millis(300)), deadline),
            Ok(Duration::from_millis(300))
        );
        // Five calls in all: the first and four retries.
        assert_eq!(
            backoff.next_retry(now, None, Deadline::NONE),
            Ok(Duration::from_millis(100))
        );
        assert_eq!(
            backoff.next_retry(now, None, Deadline::NONE),
            Err(NoRetry::Exhausted)
        );
    }

    #[test]
    fn validation_reports_every_problem() {
        let p = RetryPolicy {
            attempts: 0,
            backoff: BackoffKind::Exponential,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(1),
            multiplier: 0.5,
            jitter: 1.5,
        };
        assert_eq!(p.validate().len(), 4);
        assert!(Backoff::try_new(p).is_err());
        assert!(Backoff::try_new(RetryPolicy::default()).is_ok());
    }
}
