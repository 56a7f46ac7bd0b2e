//! How a run reaches a service: through a handle on the slot where the
//! supervisor publishes the live actor (a restarted actor is a new actor).
//! The actor gives each attempt its turn and the call to make; the attempt's
//! own task makes it and tells the actor how it ended.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::ActorRef;
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::transport::{CallError, CallFuture, CallRequest, FailureClass};
use crate::workflow::Service;

use super::round_ms;
use super::service::ServiceMsg;
use super::supervisor::{self, ActorSlot};

/// How long an attempt waits for a dead service actor's restart before it
/// fails as not sent; restarts take milliseconds, unless throttled.
const RESTART_PATIENCE: Duration = supervisor::THROTTLED_RESTART_DELAY;

/// Attempts are numbered across every actor of every service, so that a
/// restarted actor never mistakes an earlier actor's attempt for its own.
static NEXT_ATTEMPT: AtomicU64 = AtomicU64::new(0);

/// What a service's actor answers an attempt: go at `at` with this call,
/// or why not.
pub type Turn = Result<LetThrough, AttemptError>;

/// An attempt let through: the call to make (not started until polled) and
/// when the service's rate lets it start.
pub struct LetThrough {
    pub(super) call: CallFuture,
    pub(super) at: Instant,
}

/// One attempt's failure as the runtime sees it: the transport's error, or
/// something about the service actor itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttemptError {
    #[error(transparent)]
    Call(CallError),
    #[error("{service}: circuit open, next probe in {}", humantime::format_duration(round_ms(*retry_in)))]
    CircuitOpen { service: String, retry_in: Duration },
    #[error("{service}: service actor restarted{}", if *sent { " during the call" } else { "" })]
    ActorRestarted { service: String, sent: bool },
    /// The service's `concurrency` or `rate` let the call start in none of
    /// the attempt's time: not sent, so safe to retry.
    #[error("{service}: `{limit}` gave no turn within the attempt's time (waited {}); not sent", humantime::format_duration(round_ms(*waited)))]
    Limited {
        service: String,
        /// As declared: `concurrency: 5`, `rate: 100/s`.
        limit: String,
        waited: Duration,
    },
    /// The service's actor, alive, gave no turn in all the attempt's time:
    /// not sent.
    #[error("{service}: no turn from its actor within {}; not sent", humantime::format_duration(round_ms(*waited)))]
    Unanswered { service: String, waited: Duration },
}

impl AttemptError {
    pub fn class(&self) -> FailureClass {
        match self {
            AttemptError::Call(e) => e.class,
            AttemptError::CircuitOpen { .. } => FailureClass::Retryable,
            AttemptError::ActorRestarted { sent: true, .. } => FailureClass::Unknown,
            AttemptError::ActorRestarted { sent: false, .. } => FailureClass::Retryable,
            AttemptError::Limited { .. } | AttemptError::Unanswered { .. } => {
                FailureClass::Retryable
            }
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AttemptError::Call(e) => e.retry_after,
            _ => None,
        }
    }
}

/// How a run reaches a service: the slot its supervisor keeps the live
/// actor in, read per attempt, because a restarted actor is a new actor.
#[derive(Debug, Clone)]
pub struct ServiceHandle {
    service: Arc<str>,
    /// The service's `concurrency`, named when an attempt's turn never came.
    concurrency: Option<NonZeroU32>,
    actor: watch::Receiver<Option<ActorRef<ServiceMsg>>>,
}

/// An attempt handed to its service's actor, or kept until the actor is
/// back.
enum Handed {
    Sent(
        ActorRef<ServiceMsg>,
        Result<(u64, oneshot::Receiver<Turn>), AttemptError>,
    ),
    Kept(Box<CallRequest>),
}

impl ServiceHandle {
    /// The handle of service `service`, whose actor is published in `slot`.
    pub(super) fn new(service: &Service, slot: &ActorSlot) -> Self {
        Self {
            service: Arc::from(service.name.as_str()),
            concurrency: service.concurrency,
            actor: slot.subscribe(),
        }
    }

    pub fn name(&self) -> &str {
        &self.service
    }

    /// The service's actor. A dead actor leaves its slot empty until the
    /// supervisor has respawned it; an attempt made in that window (a
    /// compensation right after the kill that failed its step) waits for
    /// the restart instead of failing without having been sent.
    pub fn actor_now(&self) -> Option<ActorRef<ServiceMsg>> {
        self.actor.borrow().clone()
    }

    async fn actor(&self, patience: Duration) -> Option<ActorRef<ServiceMsg>> {
        if let Some(actor) = self.actor_now() {
            return Some(actor);
        }
        let mut slot = self.actor.clone();
        let restarted = tokio::time::timeout(patience, slot.wait_for(Option::is_some)).await;
        restarted.ok()?.ok()?.clone()
    }

    /// Make one attempt: its turn from the service's actor (which owns the
    /// breaker, the limits and the pool), then the call, made here. The
    /// request is handed over at once when the actor is up, so that the
    /// future holds only the turn's receiver. `cancel` also fires when the
    /// actor dies: the call is then abandoned, maybe sent.
    pub fn attempt(
        &self,
        request: CallRequest,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<Value, AttemptError>> + Send + '_ {
        let since = Instant::now();
        let until = since + request.timeout;
        let handed = match self.actor_now() {
            Some(actor) => {
                let sent = self.hand_over(&actor, request, until, &cancel);
                Handed::Sent(actor, sent)
            }
            // Rare (a restart under way): kept aside, boxed.
            None => Handed::Kept(Box::new(request)),
        };
        async move {
            let (actor, (id, turn)) = match handed {
                Handed::Sent(actor, sent) => (actor, sent?),
                Handed::Kept(request) => {
                    let patience = request.timeout.min(RESTART_PATIENCE);
                    let Some(actor) = Box::pin(self.actor(patience)).await else {
                        return Err(self.restarted(false));
                    };
                    let sent = self.hand_over(&actor, *request, until, &cancel)?;
                    (actor, sent)
                }
            };
            let mut attempt = InFlight {
                actor,
                id,
                stage: Stage::Waiting,
            };
            let go = attempt.turn(self, turn, since, until).await?;
            attempt.call(self, go, &cancel).await
        }
    }

    /// The attempt in the actor's mailbox; its turn comes on the receiver
    /// (an actor that dies holding it drops the sender).
    fn hand_over(
        &self,
        actor: &ActorRef<ServiceMsg>,
        request: CallRequest,
        until: Instant,
        cancel: &CancellationToken,
    ) -> Result<(u64, oneshot::Receiver<Turn>), AttemptError> {
        let id = NEXT_ATTEMPT.fetch_add(1, Ordering::Relaxed);
        let (turn, waiting) = oneshot::channel();
        let attempt = ServiceMsg::Attempt {
            id,
            request,
            until,
            turn,
            gone: cancel.clone(),
        };
        actor.cast(attempt).map_err(|_| self.restarted(false))?;
        Ok((id, waiting))
    }

    /// No turn came in all the attempt's time: queued under `concurrency`,
    /// or an actor too busy to answer.
    fn not_let_through(&self, waited: Duration) -> AttemptError {
        let service = self.service.to_string();
        match self.concurrency {
            Some(n) => AttemptError::Limited {
                service,
                limit: format!("concurrency: {n}"),
                waited,
            },
            None => AttemptError::Unanswered { service, waited },
        }
    }

    fn restarted(&self, sent: bool) -> AttemptError {
        AttemptError::ActorRestarted {
            service: self.service.to_string(),
            sent,
        }
    }
}

/// An attempt the actor knows of, from its hand-over to its end. Dropped
/// before that end (its caller gave up), it tells the actor, so that the
/// breaker and the limits count it as abandoned.
struct InFlight {
    actor: ActorRef<ServiceMsg>,
    id: u64,
    stage: Stage,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for its turn, maybe queued under the service's limits.
    Waiting,
    /// Let through: it holds a breaker permit and a slot.
    Calling,
    /// The actor has been told, or needs not be.
    Ended,
}

impl InFlight {
    /// Wait for the actor's turn, asked for at `since`, no later than
    /// `until`.
    async fn turn(
        &mut self,
        service: &ServiceHandle,
        waiting: oneshot::Receiver<Turn>,
        since: Instant,
        until: Instant,
    ) -> Result<LetThrough, AttemptError> {
        let answer = tokio::select! {
            biased;
            answer = waiting => answer,
            // Left waiting: the actor hears of it when this is dropped, and
            // gives back the slot of a turn given meanwhile.
            () = tokio::time::sleep_until(until) => {
                // Its whole time, however late the task woke.
                return Err(service.not_let_through(until - since));
            }
        };
        match answer {
            Ok(Ok(go)) => {
                self.stage = Stage::Calling;
                Ok(go)
            }
            // Refused: the actor has forgotten it already.
            Ok(Err(refused)) => {
                self.stage = Stage::Ended;
                Err(refused)
            }
            // The actor died holding the attempt, before it was let through.
            Err(_) => {
                self.stage = Stage::Ended;
                Err(service.restarted(false))
            }
        }
    }

    /// Make the call let through, at the instant the rate allows; `gone`
    /// fires when the actor dies (or the caller gives up, which stops
    /// polling this first).
    async fn call(
        &mut self,
        service: &ServiceHandle,
        go: LetThrough,
        gone: &CancellationToken,
    ) -> Result<Value, AttemptError> {
        let LetThrough { call, at } = go;
        if at > Instant::now() {
            tokio::select! {
                biased;
                () = gone.cancelled() => {
                    self.stage = Stage::Ended;
                    return Err(service.restarted(false));
                }
                () = tokio::time::sleep_until(at) => {}
            }
        }
        let result = tokio::select! {
            biased;
            result = call => result,
            () = gone.cancelled() => {
                self.stage = Stage::Ended;
                return Err(service.restarted(true));
            }
        };
        // The breaker first, so that a retry this answer prompts finds it up
        // to date.
        let outcome = match &result {
            Ok(_) => Ok(()),
            Err(e) => Err(e.clone()),
        };
        self.stage = Stage::Ended;
        let id = self.id;
        let _ = self.actor.cast(ServiceMsg::Done {
            id,
            outcome: Some(outcome),
        });
        result.map_err(AttemptError::Call)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let id = self.id;
        let _ = match self.stage {
            Stage::Waiting => self.actor.cast(ServiceMsg::Left { id }),
            Stage::Calling => self.actor.cast(ServiceMsg::Done { id, outcome: None }),
            Stage::Ended => return,
        };
    }
}
