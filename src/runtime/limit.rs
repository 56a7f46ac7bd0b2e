//! A service's declared limits, kept by its actor: past `concurrency`,
//! attempts wait in a queue in the order they came, and each one let
//! through takes its start from the `rate` bucket. The attempt's own task
//! does the waiting: no task, timer or lock is added per call.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{ActorRef, RpcReplyPort};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::resilience::{Rate, TokenBucket};
use crate::transport::{CallFuture, CallRequest};
use crate::workflow::Service;

use super::AttemptError;
use super::service::{AbortOnDrop, ServiceMsg, ServiceState, carry};

type Reply = RpcReplyPort<Result<serde_json::Value, AttemptError>>;

/// What a waiting attempt is told when its turn comes: go at `at` with
/// this call, or an error instead of being sent.
type Turn = Result<LetThrough, AttemptError>;

pub(super) struct LetThrough {
    call: CallFuture,
    /// When the rate lets it start; now, without a rate.
    at: Instant,
}

/// The limits of one service actor and the attempts waiting under them.
pub(super) struct Limiter {
    concurrency: Option<NonZeroU32>,
    bucket: Option<(Rate, TokenBucket)>,
    /// Attempts let through and not yet done.
    active: u32,
    queue: VecDeque<Waiter>,
    counters: Arc<LimitCounters>,
}

struct Waiter {
    id: u64,
    since: Instant,
    /// The end of the attempt's time: no turn is given after it.
    until: Instant,
    request: CallRequest,
    turn: oneshot::Sender<Turn>,
}

/// Waits for a service's limits, since the runtime started (restarts of
/// the actor included).
#[derive(Debug, Default)]
pub struct LimitCounters {
    waits: AtomicU64,
    wait_micros: AtomicU64,
}

impl LimitCounters {
    fn count(&self, waited: Duration) {
        if waited.is_zero() {
            return;
        }
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.wait_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Calls that had to wait, and their waits in seconds.
    pub fn snapshot(&self) -> (u64, f64) {
        let micros = self.wait_micros.load(Ordering::Relaxed);
        (self.waits.load(Ordering::Relaxed), micros as f64 / 1e6)
    }
}

/// A service's limits as `GET /v1/services` shows them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LimitHealth {
    /// `concurrency` as declared; absent: no limit on calls in flight.
    pub concurrency: Option<u32>,
    /// `rate` as declared (`100/s`); absent: no limit on starts.
    pub rate: Option<String>,
    /// Calls waiting now for a free slot under `concurrency`.
    pub queued: usize,
    /// Calls that had to wait for a slot or for the rate, since the
    /// runtime started.
    pub waits: u64,
    /// Their waits added up, in seconds.
    pub wait_seconds: f64,
}

impl LimitHealth {
    /// `None` when the service declares no limit.
    pub fn of(service: &Service, queued: usize, counters: &LimitCounters) -> Option<LimitHealth> {
        if service.concurrency.is_none() && service.rate.is_none() {
            return None;
        }
        let (waits, wait_seconds) = counters.snapshot();
        Some(LimitHealth {
            concurrency: service.concurrency.map(NonZeroU32::get),
            rate: service.rate.map(|r| r.to_string()),
            queued,
            waits,
            wait_seconds,
        })
    }
}

impl Limiter {
    /// The service's limiter; `None` when it declares no limit.
    pub(super) fn of(service: &Service, counters: Arc<LimitCounters>) -> Option<Limiter> {
        if service.concurrency.is_none() && service.rate.is_none() {
            return None;
        }
        Some(Limiter {
            concurrency: service.concurrency,
            bucket: service.rate.map(|rate| (rate, TokenBucket::new(rate))),
            active: 0,
            queue: VecDeque::new(),
            counters,
        })
    }

    /// Attempts waiting for a free slot.
    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    fn has_room(&self) -> bool {
        self.concurrency.is_none_or(|n| self.active < n.get())
    }

    fn limited(&self, service: &str, limit: String, waited: Duration) -> AttemptError {
        self.counters.count(waited);
        AttemptError::Limited {
            service: service.to_owned(),
            limit,
            waited,
        }
    }
}

impl ServiceState {
    /// An attempt under the service's limits: let through now if there is
    /// room, else queued; either way its task waits for its turn.
    pub(super) fn start_limited(
        &mut self,
        myself: ActorRef<ServiceMsg>,
        request: CallRequest,
        cancel: CancellationToken,
        reply: Reply,
    ) {
        let (id, since) = (self.next_id(), Instant::now());
        let until = since + request.timeout;
        let (turn, waiting) = oneshot::channel();
        let waiter = Waiter {
            id,
            since,
            until,
            request,
            turn,
        };
        let Some(limiter) = self.limiter.as_mut() else {
            return;
        };
        let limit = limiter.concurrency.map(|n| format!("concurrency: {n}"));
        if limiter.has_room() {
            self.let_through(waiter, since);
        } else {
            limiter.queue.push_back(waiter);
        }
        let waiting = Waiting {
            myself,
            id,
            turn: waiting,
            since,
            until,
            cancel,
            service: self.service.name.clone(),
            limit: limit.unwrap_or_default(),
        };
        let task = tokio::spawn(waiting.wait(reply));
        self.in_flight.insert(id, AbortOnDrop(task.abort_handle()));
    }

    /// A call let through has ended: its slot goes to the next in line.
    pub(super) fn release(&mut self) {
        let Some(limiter) = self.limiter.as_mut() else {
            return;
        };
        limiter.active = limiter.active.saturating_sub(1);
        let now = Instant::now();
        loop {
            let Some(limiter) = self.limiter.as_mut().filter(|l| l.has_room()) else {
                return;
            };
            let Some(waiter) = limiter.queue.pop_front() else {
                return;
            };
            self.let_through(waiter, now);
        }
    }

    /// An attempt left without its turn: out of the queue, if still in it.
    pub(super) fn left(&mut self, id: u64) {
        self.in_flight.remove(&id);
        let Some(limiter) = self.limiter.as_mut() else {
            return;
        };
        if let Some(at) = limiter.queue.iter().position(|w| w.id == id) {
            let waiter = limiter.queue.remove(at).expect("found");
            limiter.counters.count(Instant::now() - waiter.since);
        }
    }

    /// Give a waiter its turn: through the breaker, then the rate; or tell
    /// it why not. Only a call told to go takes a slot.
    fn let_through(&mut self, waiter: Waiter, now: Instant) {
        let Waiter {
            since,
            until,
            mut request,
            turn,
            ..
        } = waiter;
        let Some(limiter) = self.limiter.as_ref() else {
            return;
        };
        if turn.is_closed() || now >= until {
            // Its time ran out: its task answers and leaves on its own.
            limiter.counters.count(until.min(now) - since);
            return;
        }
        match self.breaker.acquire(now) {
            Ok(Some(transition)) => self.log_transition(&transition, ""),
            Ok(None) => {}
            Err(rejected) => {
                limiter.counters.count(now - since);
                let retry_in = rejected.retry_at.saturating_duration_since(now);
                let service = self.service.name.clone();
                let _ = turn.send(Err(AttemptError::CircuitOpen { service, retry_in }));
                return;
            }
        }
        let Some(limiter) = self.limiter.as_mut() else {
            return;
        };
        let at = match &mut limiter.bucket {
            None => now,
            Some((rate, bucket)) => match bucket.reserve(now, until - now) {
                Ok(at) => at,
                Err(_) => {
                    let limit = format!("rate: {rate}");
                    let error = limiter.limited(&self.service.name, limit, now - since);
                    self.breaker.on_abandoned(now);
                    let _ = turn.send(Err(error));
                    return;
                }
            },
        };
        limiter.counters.count(at - since);
        request.timeout = until - at;
        let call = self.transport.call(request);
        match turn.send(Ok(LetThrough { call, at })) {
            Ok(()) => limiter.active += 1,
            // It gave up meanwhile: nothing was sent.
            Err(_) => {
                self.breaker.on_abandoned(now);
            }
        }
    }
}

/// The task of an attempt under limits, until its turn comes.
struct Waiting {
    myself: ActorRef<ServiceMsg>,
    id: u64,
    turn: oneshot::Receiver<Turn>,
    since: Instant,
    until: Instant,
    cancel: CancellationToken,
    service: String,
    /// The limit it queues under, as declared (`concurrency: 5`).
    limit: String,
}

impl Waiting {
    async fn wait(mut self, reply: Reply) {
        let (myself, id) = (self.myself.clone(), self.id);
        let turn = tokio::select! {
            turn = &mut self.turn => turn.ok(),
            () = tokio::time::sleep_until(self.until) => None,
            () = self.cancel.cancelled() => None,
        };
        let turn = match turn {
            Some(turn) => turn,
            // Closed before looking again, so that a turn given just as the
            // wait ended is seen rather than lost with its slot.
            None => {
                self.turn.close();
                match self.turn.try_recv() {
                    Ok(Ok(_late)) => {
                        let _ = myself.cast(ServiceMsg::Done { id, outcome: None });
                        let _ = reply.send(Err(self.timed_out()));
                        return;
                    }
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(self.timed_out()),
                }
            }
        };
        let LetThrough { call, at } = match turn {
            Ok(go) => go,
            Err(e) => {
                let _ = myself.cast(ServiceMsg::Left { id });
                let _ = reply.send(Err(e));
                return;
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = self.cancel.cancelled() => {
                let _ = myself.cast(ServiceMsg::Done { id, outcome: None });
                return;
            }
        }
        carry(myself, id, call, self.cancel, reply).await;
    }

    fn timed_out(&self) -> AttemptError {
        AttemptError::Limited {
            service: self.service.clone(),
            limit: self.limit.clone(),
            // Its whole time when that ran out, however late the task woke.
            waited: Instant::now().min(self.until) - self.since,
        }
    }
}
