//! The service actor: one per configured service, owning its transport (the
//! connection pool), its circuit breaker and the calls in flight. It never
//! awaits a call in its handler: each attempt is spawned, answers its caller
//! itself, and tells the actor its outcome for the breaker, so the mailbox
//! stays responsive and an answer crosses no extra task. A service that
//! declares limits has its attempts wait their turn first (`limit.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use foldhash::{HashMap, HashMapExt};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::resilience::breaker::{BreakerPhase, BreakerState, CircuitBreaker, Transition};
use crate::transport::{CallError, CallFuture, CallRequest, Dial, Transport};
use crate::workflow::Service;

use super::AttemptError;
use super::limit::{LimitCounters, Limiter};

pub struct ServiceActor;

// Nearly every message is an attempt: boxing its request would add an
// allocation to each.
#[allow(clippy::large_enum_variant)]
pub enum ServiceMsg {
    /// Make one attempt of a call. `cancel` abandons it (the reply is then
    /// never sent and the in-flight call is dropped).
    Attempt {
        request: CallRequest,
        cancel: CancellationToken,
        reply: RpcReplyPort<Result<serde_json::Value, AttemptError>>,
    },
    /// An attempt spawned by this actor has ended: how, for the breaker
    /// (`None`: its caller abandoned it).
    Done {
        id: u64,
        outcome: Option<Result<(), CallError>>,
    },
    /// An attempt waiting for its turn under the service's limits left
    /// without being let through (its time ran out, or its caller left).
    Left {
        id: u64,
    },
    Status(RpcReplyPort<ServiceStatus>),
}

/// What a person watching the service wants to know.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceStatus {
    pub name: String,
    pub breaker: BreakerPhase,
    /// Calls let through and not yet answered.
    pub in_flight: usize,
    /// Calls waiting for a free slot under `concurrency`.
    pub queued: usize,
    pub pool_size: usize,
    pub transport: String,
}

pub struct ServiceArgs {
    pub service: Arc<Service>,
    /// Kept by the supervisor, so counts survive a restart of the actor.
    pub counters: Arc<BreakerCounters>,
    /// How the actor gets its transport.
    pub dial: Dial,
    /// Waits for the service's limits; kept by the supervisor too.
    pub limit_counters: Arc<LimitCounters>,
}

/// Breaker transitions of one service, by the state entered.
#[derive(Debug, Default)]
pub struct BreakerCounters {
    opened: AtomicU64,
    half_opened: AtomicU64,
    closed: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TransitionCounts {
    pub opened: u64,
    pub half_opened: u64,
    pub closed: u64,
}

impl BreakerCounters {
    fn count(&self, to: BreakerState) {
        let counter = match to {
            BreakerState::Open { .. } => &self.opened,
            BreakerState::HalfOpen { .. } => &self.half_opened,
            BreakerState::Closed { .. } => &self.closed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> TransitionCounts {
        TransitionCounts {
            opened: self.opened.load(Ordering::Relaxed),
            half_opened: self.half_opened.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
        }
    }
}

pub struct ServiceState {
    pub(super) service: Arc<Service>,
    counters: Arc<BreakerCounters>,
    pub(super) transport: Transport,
    pub(super) breaker: CircuitBreaker,
    next_id: u64,
    pub(super) in_flight: HashMap<u64, AbortOnDrop>,
    /// `None` when the service declares no limit: its calls go at once.
    pub(super) limiter: Option<Limiter>,
}

/// A call in flight. Dropping the state (the actor died) aborts every call
/// it had spawned, and with it the reply its caller waits for.
pub(super) struct AbortOnDrop(pub(super) AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Actor for ServiceActor {
    type Msg = ServiceMsg;
    type State = ServiceState;
    type Arguments = ServiceArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ServiceArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let ServiceArgs {
            service,
            counters,
            dial,
            limit_counters,
        } = args;
        let transport = dial(&service)?;
        info!(service = %service.name, transport = %transport.describe(), "service actor started");
        Ok(ServiceState {
            breaker: CircuitBreaker::new(service.circuit_breaker.clone()),
            limiter: Limiter::of(&service, limit_counters),
            service,
            counters,
            transport,
            next_id: 0,
            in_flight: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ServiceMsg::Attempt {
                request,
                cancel,
                reply,
            } => state.start(myself, request, cancel, reply),
            ServiceMsg::Done { id, outcome } => state.finish(id, outcome),
            ServiceMsg::Left { id } => state.left(id),
            ServiceMsg::Status(reply) => {
                let queued = state.limiter.as_ref().map_or(0, Limiter::queued);
                let _ = reply.send(ServiceStatus {
                    name: state.service.name.clone(),
                    breaker: state.breaker.state().phase(),
                    in_flight: state.in_flight.len().saturating_sub(queued),
                    queued,
                    pool_size: state.transport.pool_size(),
                    transport: state.transport.describe(),
                });
            }
        }
        Ok(())
    }
}

impl ServiceState {
    fn start(
        &mut self,
        myself: ActorRef<ServiceMsg>,
        request: CallRequest,
        cancel: CancellationToken,
        reply: RpcReplyPort<Result<serde_json::Value, AttemptError>>,
    ) {
        if self.limiter.is_some() {
            return self.start_limited(myself, request, cancel, reply);
        }
        match self.breaker.acquire(Instant::now()) {
            Ok(Some(transition)) => self.log_transition(&transition, ""),
            Ok(None) => {}
            Err(rejected) => {
                let retry_in = rejected.retry_at.saturating_duration_since(Instant::now());
                let _ = reply.send(Err(AttemptError::CircuitOpen {
                    service: self.service.name.clone(),
                    retry_in,
                }));
                return;
            }
        }
        let id = self.next_id();
        let call = self.transport.call(request);
        let task = tokio::spawn(carry(myself, id, call, cancel, reply));
        self.in_flight.insert(id, AbortOnDrop(task.abort_handle()));
    }

    pub(super) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn finish(&mut self, id: u64, outcome: Option<Result<(), CallError>>) {
        if self.in_flight.remove(&id).is_none() {
            return;
        }
        let now = Instant::now();
        let transition = match &outcome {
            Some(Ok(())) => self.breaker.on_success(now),
            Some(Err(e)) => self.breaker.on_failure(e.class, now),
            // Abandoned by the caller: it says nothing about the service.
            None => self.breaker.on_abandoned(now),
        };
        if let Some(transition) = transition {
            let cause = match &outcome {
                Some(Err(e)) => e.message.as_str(),
                _ => "",
            };
            self.log_transition(&transition, cause);
        }
        if self.limiter.is_some() {
            self.release();
        }
    }

    /// Breaker changes are what a person tailing the log needs to see.
    pub(super) fn log_transition(&self, transition: &Transition, cause: &str) {
        let (service, from, to) = (
            &self.service.name,
            transition.from_label(),
            transition.to_label(),
        );
        let reason = transition.reason.to_string();
        self.counters.count(transition.to);
        if to == "open" {
            warn!(service = %service, from, reason, cause, "circuit breaker opened");
        } else {
            info!(service = %service, from, to, reason, "circuit breaker {to}");
        }
    }
}

/// One call let through, from the request's departure to its answer: the
/// body of an attempt's task.
pub(super) async fn carry(
    myself: ActorRef<ServiceMsg>,
    id: u64,
    call: CallFuture,
    cancel: CancellationToken,
    reply: RpcReplyPort<Result<serde_json::Value, AttemptError>>,
) {
    let result = tokio::select! {
        result = call => result,
        () = cancel.cancelled() => {
            let _ = myself.cast(ServiceMsg::Done { id, outcome: None });
            return;
        }
    };
    // The breaker first, so that a retry this answer prompts finds it up
    // to date.
    let outcome = match &result {
        Ok(_) => Ok(()),
        Err(e) => Err(e.clone()),
    };
    let _ = myself.cast(ServiceMsg::Done {
        id,
        outcome: Some(outcome),
    });
    let _ = reply.send(result.map_err(AttemptError::Call));
}
