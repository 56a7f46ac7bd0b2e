//! How a run reaches a service: through a handle on the slot where the
//! supervisor publishes the live actor (a restarted actor is a new actor),
//! with the errors an attempt can meet on the way besides the transport's
//! own.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::transport::{CallError, CallRequest, FailureClass};

use super::round_ms;
use super::service::ServiceMsg;
use super::supervisor::{self, ActorSlot};

/// Extra time the caller of a service actor waits beyond the attempt's own
/// timeout, so the transport's timeout (with its precise error) fires first.
const REPLY_GRACE: Duration = Duration::from_secs(1);

/// How long an attempt waits for a dead service actor's restart before it
/// fails as not sent; restarts take milliseconds, unless throttled.
const RESTART_PATIENCE: Duration = supervisor::THROTTLED_RESTART_DELAY;

/// Where an attempt's answer arrives from the call its service's actor
/// spawned.
type Reply = ractor::concurrency::OneshotReceiver<Result<Value, AttemptError>>;

/// An attempt handed to its service's actor, or kept until the actor is
/// back.
enum Handed {
    Sent(Result<Reply, AttemptError>),
    Kept(Box<(CallRequest, CancellationToken)>),
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
}

impl AttemptError {
    pub fn class(&self) -> FailureClass {
        match self {
            AttemptError::Call(e) => e.class,
            AttemptError::CircuitOpen { .. } => FailureClass::Retryable,
            AttemptError::ActorRestarted { sent: true, .. } => FailureClass::Unknown,
            AttemptError::ActorRestarted { sent: false, .. } => FailureClass::Retryable,
            AttemptError::Limited { .. } => FailureClass::Retryable,
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
    actor: watch::Receiver<Option<ActorRef<ServiceMsg>>>,
}

impl ServiceHandle {
    /// The handle of service `service`, whose actor is published in `slot`.
    pub(super) fn new(service: &str, slot: &ActorSlot) -> Self {
        Self {
            service: Arc::from(service),
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

    /// Make one attempt through the service's actor. The request is handed
    /// over at once when the actor is up, so that the future, which lasts
    /// as long as the call, holds only the reply's receiver.
    pub fn attempt(
        &self,
        request: CallRequest,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<Value, AttemptError>> + Send + '_ {
        let wait = request.timeout + REPLY_GRACE;
        let handed = match self.actor_now() {
            Some(actor) => Handed::Sent(self.hand_over(&actor, request, cancel, wait)),
            // Rare (a restart under way): kept aside, boxed.
            None => Handed::Kept(Box::new((request, cancel))),
        };
        async move {
            let reply = match handed {
                Handed::Sent(sent) => sent?,
                Handed::Kept(kept) => {
                    let (request, cancel) = *kept;
                    let patience = request.timeout.min(RESTART_PATIENCE);
                    let Some(actor) = Box::pin(self.actor(patience)).await else {
                        return Err(self.restarted(false));
                    };
                    self.hand_over(&actor, request, cancel, wait)?
                }
            };
            match tokio::time::timeout(wait, reply).await {
                Ok(Ok(result)) => result,
                // The actor died holding our request: it may have gone out.
                Ok(Err(_)) => Err(self.restarted(true)),
                Err(_) => Err(AttemptError::Call(CallError::new(
                    FailureClass::Unknown,
                    format!(
                        "{}: no answer within {}",
                        self.service,
                        humantime::format_duration(round_ms(wait))
                    ),
                ))),
            }
        }
    }

    /// The attempt in the actor's mailbox; its answer comes on the receiver
    /// (an actor that dies holding it drops the sender).
    fn hand_over(
        &self,
        actor: &ActorRef<ServiceMsg>,
        request: CallRequest,
        cancel: CancellationToken,
        wait: Duration,
    ) -> Result<Reply, AttemptError> {
        let (tx, rx) = ractor::concurrency::oneshot();
        let reply = (tx, wait).into();
        actor
            .cast(ServiceMsg::Attempt {
                request,
                cancel,
                reply,
            })
            .map_err(|_| self.restarted(false))?;
        Ok(rx)
    }

    fn restarted(&self, sent: bool) -> AttemptError {
        AttemptError::ActorRestarted {
            service: self.service.to_string(),
            sent,
        }
    }
}
