//! Circuit breaker state for one service: closed, open after consecutive
//! transient failures, half-open after the reset timeout to let probes through.

use std::time::Duration;

/// Consecutive transient failures that open the circuit.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// How long an open circuit rejects calls before it probes (the seed's 30 s).
pub const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(30);
/// Probes let through at once while half-open.
pub const DEFAULT_HALF_OPEN_MAX_CALLS: u32 = 1;

/// A validated `circuit_breaker` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// At least 1.
    pub failure_threshold: u32,
    pub reset_timeout: Duration,
    /// At least 1.
    pub half_open_max_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            reset_timeout: DEFAULT_RESET_TIMEOUT,
            half_open_max_calls: DEFAULT_HALF_OPEN_MAX_CALLS,
        }
    }
}
