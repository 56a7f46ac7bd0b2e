//! Resilience policy as pure logic: how long to wait before the next attempt,
//! whether a service's circuit lets a call through, when its rate lets the
//! next call start, and which deadline wins.
//! Nothing here does I/O or knows about actors; time is always passed in.

pub mod backoff;
pub mod breaker;
pub mod deadline;
pub mod failure;
pub mod rate;

use std::time::Duration;

pub use backoff::{Backoff, BackoffKind, NoRetry, RetryPolicy};
pub use breaker::{
    BreakerConfig, BreakerPhase, BreakerState, CircuitBreaker, Rejected, Transition,
    TransitionReason,
};
pub use deadline::{Deadline, attempt_timeout, min_timeout};
pub use failure::FailureClass;
pub use rate::{Rate, RateError, TokenBucket};

/// A retry policy or breaker configuration that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("`attempts` must be at least 1 (it counts the first call)")]
    NoAttempts,
    #[error("`multiplier` must be at least 1.0, got {0}")]
    Multiplier(f64),
    #[error("`jitter` must be between 0.0 and 1.0, got {0}")]
    Jitter(f64),
    #[error("`initial_interval` ({initial:?}) is above `max_interval` ({max:?})")]
    IntervalAboveCap { initial: Duration, max: Duration },
    #[error("`failure_threshold` must be at least 1")]
    FailureThreshold,
    #[error("`half_open_max_calls` must be at least 1")]
    HalfOpenMaxCalls,
}
