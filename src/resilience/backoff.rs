//! Retry policy: how many calls a step may make in all, and the delay before
//! each retry (exponential or constant, capped, with jitter).

use std::time::Duration;

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

/// The delays of one retry chain, yielded one retry at a time.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    /// Retries handed out so far.
    retries: u32,
}
