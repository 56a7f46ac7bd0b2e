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
use crate::resilience::backoff::fits_before;
use crate::resilience::{Backoff, Deadline, NoRetry, RetryPolicy};
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

/// What an operation's attempts have come to so far.
struct Tally {
    attempts: u32,
    /// An attempt may have been applied without its answer arriving.
    unknown: bool,
    last_error: Option<String>,
}

impl Operation {
    /// Run every attempt the policy allows; never returns later than the
    /// deadline (plus the time to notice it), nor after `cancel` fires.
    /// By reference, so that a task owning the operation holds it once.
    pub async fn run(&mut self, log: &RunLog, cancel: &CancellationToken) -> OperationOutcome {
        let deadline = self.deadline.map_or(Deadline::NONE, Deadline::at);
        let (mut backoff, mut tally) = match self.resumed() {
            Ok(start) => start,
            Err(ended) => return ended,
        };
        let per_attempt = self.request.timeout;
        loop {
            if cancel.is_cancelled() {
                // Stopped between attempts: nothing is in flight.
                return self.give_up(OperationError::Cancelled, &tally);
            }
            let now = Instant::now();
            if deadline.is_expired(now) {
                return self.past_deadline(&tally);
            }
            let budget = deadline
                .remaining(now)
                .map_or(per_attempt, |r| per_attempt.min(r));
            let error = match self.attempt(log, cancel, budget, &mut tally).await {
                Ok(Ok(value)) => {
                    return OperationOutcome {
                        result: Ok(value),
                        attempts: tally.attempts,
                        outcome_unknown: tally.unknown,
                    };
                }
                Ok(Err(AttemptError::CircuitOpen { service, retry_in })) => {
                    // Not sent, so not an attempt.
                    tally.attempts -= 1;
                    match self
                        .wait_for_probe(cancel, deadline, &service, retry_in)
                        .await
                    {
                        Ok(()) => continue,
                        Err(error) => return self.give_up(error, &tally),
                    }
                }
                Ok(Err(error)) => error,
                Err(ended) => return ended,
            };
            let delay = match self.failed(log, &mut backoff, &mut tally, &error, deadline) {
                Ok(delay) => delay,
                Err(ended) => return ended,
            };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cancel.cancelled() => return self.give_up(OperationError::Cancelled, &tally),
            }
        }
    }

    /// The backoff and tally to start from: an earlier process may have used
    /// up some of the policy's calls, and its interrupted attempt may have
    /// been applied.
    fn resumed(&self) -> Result<(Backoff, Tally), OperationOutcome> {
        let mut backoff = Backoff::new(self.policy.clone());
        for _ in 0..self.resumed_after {
            let _ = backoff.next_delay();
        }
        let tally = Tally {
            attempts: self.resumed_after,
            unknown: self.resumed_after > 0,
            last_error: None,
        };
        if tally.attempts >= self.policy.attempts.max(1) {
            let error = format!(
                "the process stopped during attempt {}, the last the retry policy allows",
                tally.attempts
            );
            return Err(self.give_up(OperationError::Failed(error), &tally));
        }
        Ok((backoff, tally))
    }

    /// After a failed attempt, recorded here: the wait before the next, or
    /// how the operation ends.
    fn failed(
        &self,
        log: &RunLog,
        backoff: &mut Backoff,
        tally: &mut Tally,
        error: &AttemptError,
        deadline: Deadline,
    ) -> Result<Duration, OperationOutcome> {
        let class = error.class();
        tally.unknown |= class == FailureClass::Unknown;
        self.record_failure(log, tally.attempts, class, &error.to_string());
        tally.last_error = Some(error.to_string());
        let failed = || OperationError::Failed(error.to_string());
        if !class.is_retryable() {
            return Err(self.give_up(failed(), tally));
        }
        match backoff.next_retry(Instant::now(), error.retry_after(), deadline) {
            Ok(delay) => Ok(delay),
            Err(NoRetry::Exhausted) => Err(self.give_up(failed(), tally)),
            Err(NoRetry::PastDeadline) => Err(self.past_deadline(tally)),
        }
    }

    /// One attempt: announced (durably) before it leaves, sent only while
    /// this process certainly holds the run, abandoned if `cancel` fires.
    /// `Err` when the operation ends without an answer to classify.
    async fn attempt(
        &mut self,
        log: &RunLog,
        cancel: &CancellationToken,
        budget: Duration,
        tally: &mut Tally,
    ) -> Result<Result<Value, AttemptError>, OperationOutcome> {
        if !log.holds() {
            return Err(self.lease_lost(tally));
        }
        self.request.timeout = budget;
        // Durable before the request leaves: after a crash, the journal
        // tells which calls may have reached the service.
        if let Err(e) = self.announce(log, tally.attempts + 1).await {
            return Err(self.give_up(OperationError::Journal(e), tally));
        }
        tally.attempts += 1;
        let compensation = self.kind == OperationKind::Compensation;
        self.request.trace = log
            .trace()
            .map(|t| t.call(&self.step_id, tally.attempts, compensation));
        // Asked again right before the request leaves: the process may have
        // frozen while the announcement was on its way, and another replica
        // may have taken the run and made this very call.
        if !log.holds() {
            tally.attempts -= 1;
            return Err(self.lease_lost(tally));
        }
        // The attempt goes to the service's actor as soon as it is asked
        // for: a cancel that came while it was announced stops it here, as
        // it would have before the first poll.
        if cancel.is_cancelled() {
            tally.unknown = true;
            return Err(self.give_up(OperationError::Cancelled, tally));
        }
        let attempt_cancel = cancel.child_token();
        tokio::select! {
            // The abandoned attempt fails as well (its reply is dropped), but
            // the cancellation is what happened: it must win.
            biased;
            () = cancel.cancelled() => {
                attempt_cancel.cancel();
                // The request was handed over: it may have been applied.
                tally.unknown = true;
                Err(self.give_up(OperationError::Cancelled, tally))
            }
            r = self.service.attempt(self.request.clone(), attempt_cancel.clone()) => Ok(r),
        }
    }

    /// A call refused by an open circuit. A step gives up at once rather
    /// than hold its run behind a service that is down. An undo waits for
    /// the breaker's probe, within its deadline: giving up would leave the
    /// effect it exists to undo.
    async fn wait_for_probe(
        &self,
        cancel: &CancellationToken,
        deadline: Deadline,
        service: &str,
        retry_in: Duration,
    ) -> Result<(), OperationError> {
        let wait = retry_in.max(REJECTED_UNDO_PAUSE);
        if self.kind == OperationKind::Step || !fits_before(Instant::now(), wait, deadline) {
            let service = service.to_owned();
            return Err(OperationError::CircuitOpen { service, retry_in });
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            () = cancel.cancelled() => Err(OperationError::Cancelled),
        }
    }

    fn past_deadline(&self, tally: &Tally) -> OperationOutcome {
        let attempts = tally.attempts;
        let last = tally.last_error.clone();
        self.give_up(OperationError::DeadlineExceeded { attempts, last }, tally)
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
                idempotency_key: self.request.idempotency_key.to_string(),
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
        drop(log.append(match self.kind {
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
        }));
    }

    /// This process no longer certainly holds the run: nothing is sent.
    fn lease_lost(&self, tally: &Tally) -> OperationOutcome {
        info!(
            run = %self.request.run_id,
            step = %self.step_id,
            compensation = self.kind == OperationKind::Compensation,
            "not sent: the run's lease is no longer certainly held here"
        );
        let run_id = self.request.run_id.to_string();
        let lost = JournalError::LeaseLost { run_id };
        self.give_up(OperationError::Journal(lost), tally)
    }

    fn give_up(&self, error: OperationError, tally: &Tally) -> OperationOutcome {
        OperationOutcome {
            result: Err(error),
            attempts: tally.attempts,
            outcome_unknown: tally.unknown,
        }
    }
}
