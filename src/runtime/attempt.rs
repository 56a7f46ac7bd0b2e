//! One operation (a step's call or a compensation) carried through all its
//! attempts: retries with backoff, deadlines, breaker rejections, and
//! cancellation, each attempt announced in the run's log before it leaves,
//! and none sent unless this process still certainly holds the run.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::journal::{Ack, JournalError};
use crate::resilience::backoff::{fits_before, honour_retry_after};
use crate::resilience::{Backoff, Deadline, RetryPolicy};
use crate::transport::{CallRequest, FailureClass};

use super::events::RunEvent;
use super::log::RunLog;
use super::{AttemptError, ServiceHandle};

/// The least an undo refused by an open circuit waits before asking again:
/// while half-open probes are out, the breaker names no later instant.
const REJECTED_UNDO_PAUSE: Duration = Duration::from_millis(50);

/// Whether the operation is a step or the undoing of one: they are logged
/// under different events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Step,
    Compensation,
}

/// Everything needed to carry one operation through its attempts.
pub struct Operation {
    pub kind: OperationKind,
    pub step_id: String,
    pub service: ServiceHandle,
    /// The rendered request; `timeout` is the per-attempt budget.
    pub request: CallRequest,
    pub policy: RetryPolicy,
    /// No attempt, and no wait for one, goes past this instant.
    pub deadline: Option<Instant>,
    /// Attempts made by an earlier process, the last of them interrupted:
    /// the next one repeats its idempotency key.
    pub resumed_after: u32,
}

/// How an operation ended.
#[derive(Debug, Clone)]
pub struct OperationOutcome {
    pub result: Result<Value, OperationError>,
    pub attempts: u32,
    /// An attempt may have been applied by the service without the answer
    /// reaching us (timeout after sending, lost connection, actor died).
    pub outcome_unknown: bool,
}

/// Why an operation gave up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OperationError {
    #[error("{0}")]
    Failed(String),
    #[error("{service}: circuit open, calls rejected for another {}", humantime::format_duration(super::round_ms(*retry_in)))]
    CircuitOpen { service: String, retry_in: Duration },
    #[error("deadline reached after {attempts} attempt(s){}", last.as_deref().map(|l| format!("; last error: {l}")).unwrap_or_default())]
    DeadlineExceeded { attempts: u32, last: Option<String> },
    #[error("cancelled")]
    Cancelled,
    /// The attempt could not be journaled, so it was not sent.
    #[error("{0}")]
    Journal(JournalError),
}

impl Operation {
    /// Run every attempt the policy allows; never returns later than the
    /// deadline (plus the time to notice it), nor after `cancel` fires.
    /// By reference, so that a task owning the operation holds it once.
    pub async fn run(&mut self, log: &RunLog, cancel: &CancellationToken) -> OperationOutcome {
        let mut backoff = Backoff::new(self.policy.clone());
        // An earlier process used up some of the policy's calls.
        for _ in 0..self.resumed_after {
            let _ = backoff.next_delay();
        }
        let per_attempt = self.request.timeout;
        let mut attempts = self.resumed_after;
        // The interrupted attempt may have been applied.
        let mut unknown = attempts > 0;
        let mut last_error: Option<String> = None;
        if attempts >= self.policy.attempts.max(1) {
            let error = format!(
                "the process stopped during attempt {attempts}, the last the retry policy allows"
            );
            return self.give_up(OperationError::Failed(error), attempts, unknown);
        }
        loop {
            if cancel.is_cancelled() {
                // Stopped between attempts: nothing is in flight.
                return self.give_up(OperationError::Cancelled, attempts, unknown);
            }
            let now = Instant::now();
            let budget = match self.deadline {
                Some(d) if d <= now => {
                    return self.give_up(
                        OperationError::DeadlineExceeded {
                            attempts,
                            last: last_error,
                        },
                        attempts,
                        unknown,
                    );
                }
                Some(d) => per_attempt.min(d - now),
                None => per_attempt,
            };
            if !log.holds() {
                return self.lease_lost(attempts, unknown);
            }
            attempts += 1;
            self.request.timeout = budget;
            // Durable before the request leaves: after a crash, the journal
            // tells which calls may have reached the service.
            if let Err(e) = self.announce(log, attempts).await {
                return self.give_up(OperationError::Journal(e), attempts - 1, unknown);
            }
            // Asked again right before the request leaves: the process may
            // have frozen while the announcement was on its way, and another
            // replica may have taken the run and made this very call.
            if !log.holds() {
                return self.lease_lost(attempts - 1, unknown);
            }
            let attempt_cancel = cancel.child_token();
            let result = tokio::select! {
                // The abandoned attempt fails as well (its reply is dropped),
                // but the cancellation is what happened: it must win.
                biased;
                () = cancel.cancelled() => {
                    attempt_cancel.cancel();
                    // The request was handed over: it may have been applied.
                    return self.give_up(OperationError::Cancelled, attempts, true);
                }
                r = self.service.attempt(self.request.clone(), attempt_cancel.clone()) => r,
            };
            let error = match result {
                Ok(value) => {
                    return OperationOutcome {
                        result: Ok(value),
                        attempts,
                        outcome_unknown: unknown,
                    };
                }
                Err(AttemptError::CircuitOpen { service, retry_in }) => {
                    // Not sent, so not an attempt. A step gives up at once
                    // rather than hold its run behind a service that is
                    // down. An undo waits for the breaker's probe, within
                    // its deadline: giving up would leave the effect it
                    // exists to undo.
                    attempts -= 1;
                    let wait = retry_in.max(REJECTED_UNDO_PAUSE);
                    let deadline = self.deadline.map_or(Deadline::NONE, Deadline::at);
                    if self.kind == OperationKind::Step
                        || !fits_before(Instant::now(), wait, deadline)
                    {
                        return self.give_up(
                            OperationError::CircuitOpen { service, retry_in },
                            attempts,
                            unknown,
                        );
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => continue,
                        () = cancel.cancelled() => {
                            return self.give_up(OperationError::Cancelled, attempts, unknown);
                        }
                    }
                }
                Err(e) => e,
            };
            let class = error.class();
            unknown |= class == FailureClass::Unknown;
            self.record_failure(log, attempts, class, &error.to_string());
            last_error = Some(error.to_string());
            if !class.is_retryable() {
                return self.give_up(OperationError::Failed(error.to_string()), attempts, unknown);
            }
            let Some(delay) = backoff.next_delay() else {
                return self.give_up(OperationError::Failed(error.to_string()), attempts, unknown);
            };
            let delay = honour_retry_after(delay, error.retry_after());
            let deadline = self.deadline.map_or(Deadline::NONE, Deadline::at);
            if !fits_before(Instant::now(), delay, deadline) {
                return self.give_up(
                    OperationError::DeadlineExceeded {
                        attempts,
                        last: last_error,
                    },
                    attempts,
                    unknown,
                );
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cancel.cancelled() => {
                    return self.give_up(OperationError::Cancelled, attempts, unknown);
                }
            }
        }
    }

    fn announce(&self, log: &RunLog, attempt: u32) -> Ack {
        debug!(
            step = %self.step_id,
            attempt,
            compensation = self.kind == OperationKind::Compensation,
            key = %self.request.idempotency_key,
            "attempt started"
        );
        let step = self.step_id.clone();
        let request = Some(self.request.target.to_string());
        log.append(match self.kind {
            OperationKind::Step => RunEvent::AttemptStarted {
                step,
                attempt,
                idempotency_key: self.request.idempotency_key.clone(),
                request,
            },
            OperationKind::Compensation => RunEvent::CompensationStarted {
                step,
                attempt,
                request,
            },
        })
    }

    fn record_failure(&self, log: &RunLog, attempt: u32, class: FailureClass, error: &str) {
        info!(
            run = %self.request.run_id,
            step = %self.step_id,
            service = %self.service.name(),
            attempt,
            compensation = self.kind == OperationKind::Compensation,
            class = ?class,
            error,
            "attempt failed"
        );
        let (step, error) = (self.step_id.clone(), error.to_string());
        let _queued = log.append(match self.kind {
            OperationKind::Step => RunEvent::AttemptFailed {
                step,
                attempt,
                class,
                error,
            },
            OperationKind::Compensation => RunEvent::CompensationAttemptFailed {
                step,
                attempt,
                class,
                error,
            },
        });
    }

    /// This process no longer certainly holds the run: nothing is sent.
    fn lease_lost(&self, attempts: u32, unknown: bool) -> OperationOutcome {
        info!(
            run = %self.request.run_id,
            step = %self.step_id,
            compensation = self.kind == OperationKind::Compensation,
            "not sent: the run's lease is no longer certainly held here"
        );
        let run_id = self.request.run_id.clone();
        let lost = JournalError::LeaseLost { run_id };
        self.give_up(OperationError::Journal(lost), attempts, unknown)
    }

    fn give_up(&self, error: OperationError, attempts: u32, unknown: bool) -> OperationOutcome {
        OperationOutcome {
            result: Err(error),
            attempts,
            outcome_unknown: unknown,
        }
    }
}
