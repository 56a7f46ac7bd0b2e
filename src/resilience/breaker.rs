//! Circuit breaker state for one service: closed, open after consecutive
//! transient failures, half-open after the reset timeout to let probes through.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::{FailureClass, PolicyError};

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

impl BreakerConfig {
    /// Every reason this configuration is unusable.
    pub fn validate(&self) -> Vec<PolicyError> {
        let mut errors = Vec::new();
        if self.failure_threshold == 0 {
            errors.push(PolicyError::FailureThreshold);
        }
        if self.half_open_max_calls == 0 {
            errors.push(PolicyError::HalfOpenMaxCalls);
        }
        errors
    }
}

/// Where the circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; `failures` consecutive transient failures so far.
    Closed { failures: u32 },
    /// Calls are rejected until `until`; the first call after it is a probe.
    Open { until: Instant },
    /// Probing: `in_flight` probes out; one success closes, one transient
    /// failure reopens.
    HalfOpen { in_flight: u32 },
}

impl BreakerState {
    /// Which of the three states, without its details.
    pub fn phase(&self) -> BreakerPhase {
        match self {
            BreakerState::Closed { .. } => BreakerPhase::Closed,
            BreakerState::Open { .. } => BreakerPhase::Open,
            BreakerState::HalfOpen { .. } => BreakerPhase::HalfOpen,
        }
    }

    /// `closed`, `open` or `half_open`, for logs and status.
    pub fn label(&self) -> &'static str {
        self.phase().label()
    }
}

/// A breaker's state as others see it: `closed`, `open` or `half_open`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BreakerPhase {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerPhase {
    /// The name used in JSON, logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            BreakerPhase::Closed => "closed",
            BreakerPhase::Open => "open",
            BreakerPhase::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for BreakerPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why the circuit changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionReason {
    /// This many transient failures in a row.
    FailureThreshold { failures: u32 },
    /// The reset timeout elapsed; a probe is let through.
    ResetTimeoutElapsed,
    /// A probe succeeded.
    ProbeSucceeded,
    /// A probe failed transiently.
    ProbeFailed,
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionReason::FailureThreshold { failures } => {
                write!(f, "{failures} consecutive failures")
            }
            TransitionReason::ResetTimeoutElapsed => f.write_str("reset timeout elapsed"),
            TransitionReason::ProbeSucceeded => f.write_str("probe succeeded"),
            TransitionReason::ProbeFailed => f.write_str("probe failed"),
        }
    }
}

/// A change of state, returned so the owner can log it after the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub reason: TransitionReason,
}

impl Transition {
    pub fn from_label(&self) -> &'static str {
        self.from.label()
    }
    pub fn to_label(&self) -> &'static str {
        self.to.label()
    }
}

/// A call refused by an open circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit open")]
pub struct Rejected {
    /// When a call may next be let through. While half-open probes are out
    /// their outcome is unknown, so this is the rejection's own instant and
    /// the caller's backoff decides how long to wait.
    pub retry_at: Instant,
}

/// One service's circuit. Owned by that service's actor; time is passed in.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: BreakerState::Closed { failures: 0 },
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Ask to make a call now.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Rejected> {
        self.acquire(now).map(drop)
    }

    /// [`CircuitBreaker::try_acquire`], also reporting the move from open to
    /// half-open when this call is the first probe.
    pub fn acquire(&mut self, now: Instant) -> Result<Option<Transition>, Rejected> {
        match self.state {
            BreakerState::Closed { .. } => Ok(None),
            BreakerState::Open { until } if now < until => Err(Rejected { retry_at: until }),
            BreakerState::Open { .. } => Ok(Some(self.transition(
                BreakerState::HalfOpen { in_flight: 1 },
                TransitionReason::ResetTimeoutElapsed,
            ))),
            BreakerState::HalfOpen { in_flight } => {
                if in_flight < self.config.half_open_max_calls.max(1) {
                    self.state = BreakerState::HalfOpen {
                        in_flight: in_flight + 1,
                    };
                    Ok(None)
                } else {
                    Err(Rejected { retry_at: now })
                }
            }
        }
    }

    /// A call ended well: the consecutive count resets, a probe closes the
    /// circuit. A success arriving while open (a call sent before it opened)
    /// changes nothing: the reset timeout still runs.
    pub fn on_success(&mut self, _now: Instant) -> Option<Transition> {
        match self.state {
            BreakerState::Closed { .. } => {
                self.state = BreakerState::Closed { failures: 0 };
                None
            }
            BreakerState::Open { .. } => None,
            BreakerState::HalfOpen { .. } => Some(self.transition(
                BreakerState::Closed { failures: 0 },
                TransitionReason::ProbeSucceeded,
            )),
        }
    }

    /// A call failed. Permanent failures are the request's fault, not the
    /// service's: they neither count nor reset the count, and a probe that
    /// ends in one only frees its slot for the next probe.
    pub fn on_failure(&mut self, class: FailureClass, now: Instant) -> Option<Transition> {
        if !class.is_transient() {
            return self.on_abandoned(now);
        }
        match self.state {
            BreakerState::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold.max(1) {
                    Some(self.transition(
                        self.open_from(now),
                        TransitionReason::FailureThreshold { failures },
                    ))
                } else {
                    self.state = BreakerState::Closed { failures };
                    None
                }
            }
            BreakerState::Open { .. } => None,
            BreakerState::HalfOpen { .. } => {
                Some(self.transition(self.open_from(now), TransitionReason::ProbeFailed))
            }
        }
    }

    /// A call was given up by its caller before it ended: it says nothing
    /// about the service, but a probe's slot must be freed.
    pub fn on_abandoned(&mut self, _now: Instant) -> Option<Transition> {
        if let BreakerState::HalfOpen { in_flight } = self.state {
            self.state = BreakerState::HalfOpen {
                in_flight: in_flight.saturating_sub(1),
            };
        }
        None
    }

    fn open_from(&self, now: Instant) -> BreakerState {
        BreakerState::Open {
            until: now + self.config.reset_timeout,
        }
    }

    fn transition(&mut self, to: BreakerState, reason: TransitionReason) -> Transition {
        let from = std::mem::replace(&mut self.state, to);
        Transition { from, to, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FailureClass::{Permanent, Retryable, Unknown};

    fn breaker(threshold: u32, probes: u32) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_threshold: threshold,
            reset_timeout: Duration::from_secs(30),
            half_open_max_calls: probes,
        })
    }

    fn opened(now: Instant) -> CircuitBreaker {
        let mut b = breaker(2, 1);
        b.on_failure(Retryable, now);
        assert!(b.on_failure(Unknown, now).is_some());
        b
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_consecutive_transient_failures() {
        let now = Instant::now();
        let mut b = breaker(3, 1);
        assert_eq!(b.on_failure(Retryable, now), None);
        assert_eq!(b.on_failure(Unknown, now), None);
        assert_eq!(b.state(), BreakerState::Closed { failures: 2 });
        let t = b.on_failure(Retryable, now).expect("opens");
        assert_eq!(t.from, BreakerState::Closed { failures: 2 });
        assert_eq!(
            t.to,
            BreakerState::Open {
                until: now + Duration::from_secs(30)
            }
        );
        assert_eq!(t.reason, TransitionReason::FailureThreshold { failures: 3 });
        assert_eq!((t.from_label(), t.to_label()), ("closed", "open"));
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_count_and_permanent_failures_are_neutral() {
        let now = Instant::now();
        let mut b = breaker(2, 1);
        b.on_failure(Retryable, now);
        assert_eq!(b.on_success(now), None);
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        b.on_failure(Retryable, now);
        assert_eq!(b.on_failure(Permanent, now), None);
        assert_eq!(b.state(), BreakerState::Closed { failures: 1 });
        for _ in 0..10 {
            assert_eq!(b.on_failure(Permanent, now), None);
        }
        assert!(b.try_acquire(now).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn open_rejects_until_the_reset_timeout() {
        let now = Instant::now();
        let mut b = opened(now);
        let until = now + Duration::from_secs(30);
        assert_eq!(b.try_acquire(now), Err(Rejected { retry_at: until }));
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(
            b.try_acquire(Instant::now()),
            Err(Rejected { retry_at: until })
        );
        // Late results of calls sent before it opened change nothing.
        assert_eq!(b.on_failure(Retryable, Instant::now()), None);
        assert_eq!(b.on_success(Instant::now()), None);
        assert_eq!(b.state(), BreakerState::Open { until });
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_reset_timeout_probes_are_limited() {
        let start = Instant::now();
        let mut b = breaker(1, 2);
        b.on_failure(Retryable, start);
        tokio::time::advance(Duration::from_secs(30)).await;
        let now = Instant::now();
        let t = b.acquire(now).expect("probe").expect("transition");
        assert_eq!(t.reason, TransitionReason::ResetTimeoutElapsed);
        assert_eq!(t.to, BreakerState::HalfOpen { in_flight: 1 });
        assert_eq!(b.acquire(now), Ok(None));
        assert_eq!(b.state(), BreakerState::HalfOpen { in_flight: 2 });
        assert_eq!(b.try_acquire(now), Err(Rejected { retry_at: now }));
        // An abandoned probe frees its slot.
        assert_eq!(b.on_abandoned(now), None);
        assert!(b.try_acquire(now).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn probe_success_closes() {
        let mut b = opened(Instant::now());
        tokio::time::advance(Duration::from_secs(30)).await;
        let now = Instant::now();
        b.try_acquire(now).unwrap();
        let t = b.on_success(now).expect("closes");
        assert_eq!(t.from, BreakerState::HalfOpen { in_flight: 1 });
        assert_eq!(t.to, BreakerState::Closed { failures: 0 });
        assert_eq!(t.reason, TransitionReason::ProbeSucceeded);
        assert!(b.try_acquire(now).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn probe_failure_reopens_for_a_fresh_timeout() {
        let mut b = opened(Instant::now());
        tokio::time::advance(Duration::from_secs(31)).await;
        let now = Instant::now();
        b.try_acquire(now).unwrap();
        let t = b.on_failure(Unknown, now).expect("reopens");
        assert_eq!(t.reason, TransitionReason::ProbeFailed);
        let until = now + Duration::from_secs(30);
        assert_eq!(t.to, BreakerState::Open { until });
        assert_eq!(b.try_acquire(now), Err(Rejected { retry_at: until }));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_probe_failure_frees_the_slot_without_deciding() {
        let mut b = opened(Instant::now());
        tokio::time::advance(Duration::from_secs(30)).await;
        let now = Instant::now();
        b.try_acquire(now).unwrap();
        assert_eq!(b.try_acquire(now), Err(Rejected { retry_at: now }));
        assert_eq!(b.on_failure(Permanent, now), None);
        assert_eq!(b.state(), BreakerState::HalfOpen { in_flight: 0 });
        assert!(b.try_acquire(now).is_ok());
    }

    #[test]
    fn validation_rejects_zero_threshold_and_probes() {
        let config = BreakerConfig {
            failure_threshold: 0,
            reset_timeout: Duration::ZERO,
            half_open_max_calls: 0,
        };
        assert_eq!(config.validate().len(), 2);
        assert!(BreakerConfig::default().validate().is_empty());
    }
}
