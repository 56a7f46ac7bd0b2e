//! The runs of `maestro serve`: admission (a bound on running and queued
//! runs), one task per run driving it through the runtime, cancellation,
//! and finished runs kept in memory up to a count and an age. A run another
//! replica took over is dropped from memory: the journal answers for it.

mod drain;
mod drive;
mod entry;
mod finished;
mod latch;
mod signal;

pub use signal::SignalError;

pub use drain::Drained;
pub use entry::{RunEntry, RunSummary, RunView, ViewBody};

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::sync::{AcquireError, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::journal::{Cursor, Epoch, StoredRun};
use crate::runtime::{BoundWorkflow, Runtime};
use crate::telemetry::TraceParent;

use entry::EntryState;
use latch::Latch;

use super::events::Hub;
use super::metrics::{Metrics, RunGauges};

/// Finished runs, without a journal, that keep their events in memory for
/// `GET /v1/events?run=` (the console's timeline); older ones keep only
/// their report (about 6 KB less each).
pub const HISTORIES_KEPT: usize = 200;

/// Bounds on what the server holds at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Runs executing at once.
    pub max_running: usize,
    /// Runs accepted beyond those, waiting for a slot.
    pub max_queued: usize,
    /// Finished runs kept for `GET /v1/runs/{id}`, oldest evicted first.
    pub keep_finished: usize,
    /// Finished runs older than this are evicted.
    pub keep_for: Duration,
}

/// Why a run was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the server is shutting down and accepts no new runs")]
    ShuttingDown,
    #[error("too many runs: {0} running or queued; retry later")]
    Full(usize),
    #[error("the run could not be journaled: {0}")]
    Journal(String),
}

/// Why a run could not be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    #[error("no run with this id (finished runs are kept for a while, then evicted)")]
    NotFound,
    #[error("the run has already finished")]
    Finished,
    #[error(
        "the server is shutting down and left this run, not started, in the journal: \
         cancel it once a server has resumed it"
    )]
    Left,
}

/// How a run begins: afresh with its input, or where its journal left it.
enum Start {
    /// A new run's input, the run it starts again, and the trace of the
    /// request that asked for it.
    Fresh {
        input: Value,
        retry_of: Option<String>,
        traceparent: Option<TraceParent>,
    },
    Resume(Box<StoredRun>),
    /// A run that ended `compensation_failed`, its failed undos again.
    RetryCompensations(Box<StoredRun>),
}

impl Start {
    /// Nothing of the run is journaled beyond its acceptance.
    fn never_started(&self) -> bool {
        match self {
            Start::Fresh { .. } => true,
            Start::Resume(stored) => stored.events.is_empty(),
            Start::RetryCompensations(_) => false,
        }
    }
}

/// What a run waiting for a slot got first.
enum Waited {
    Slot(OwnedSemaphorePermit),
    Cancelled,
    Left,
}

/// A place in the queue for a run slot.
type Slot = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// Now, to the millisecond: the precision a state directory keeps, so that
/// a run has one place in the listing whether read from memory or from the
/// journal.
fn now_millis() -> SystemTime {
    let now = SystemTime::now();
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    now - Duration::from_nanos(u64::from(since.subsec_nanos() % 1_000_000))
}

/// Every run of the server, and the task driving each.
pub struct Runs {
    runtime: Arc<Runtime>,
    metrics: Arc<Metrics>,
    /// Where each run's events are published as they are recorded.
    events: Arc<Hub>,
    limits: Limits,
    entries: Mutex<HashMap<String, Arc<RunEntry>>>,
    /// Finished runs, oldest first, with when they finished.
    finished: Mutex<VecDeque<(Arc<RunEntry>, Instant)>>,
    slots: Arc<Semaphore>,
    /// Accepted and not yet finished.
    pending: AtomicUsize,
    running: AtomicUsize,
    closed: AtomicBool,
    /// Set as a journaled server stops: runs not started stop waiting and
    /// stay in the journal.
    leave: CancellationToken,
    /// How many runs were left so.
    left: AtomicUsize,
    idle: Notify,
}

impl Runs {
    pub fn new(
        runtime: Arc<Runtime>,
        metrics: Arc<Metrics>,
        events: Arc<Hub>,
        limits: Limits,
    ) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            metrics,
            events,
            slots: Arc::new(Semaphore::new(limits.max_running.max(1))),
            limits,
            entries: Mutex::default(),
            finished: Mutex::default(),
            pending: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            leave: CancellationToken::new(),
            left: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn gauges(&self) -> RunGauges {
        let running = self.running.load(Ordering::Relaxed);
        let pending = self.pending.load(Ordering::Relaxed);
        RunGauges {
            running,
            queued: pending.saturating_sub(running),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Accept a run and start driving it (at once, or when a slot frees).
    pub async fn submit(
        self: &Arc<Self>,
        bound: BoundWorkflow,
        input: Value,
        retry_of: Option<String>,
        traceparent: Option<TraceParent>,
    ) -> Result<Arc<RunEntry>, Refused> {
        if self.is_closed() {
            return Err(Refused::ShuttingDown);
        }
        let capacity = self.limits.max_running + self.limits.max_queued;
        if self.pending.fetch_add(1, Ordering::AcqRel) >= capacity {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Full(capacity));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let at = now_millis();
        // Queued before the run starts: its first call's announcement,
        // queued after, commits with it (or after it), so no call goes out
        // before the run is journaled, and the two share a sync.
        let admitted = self.runtime.admit(&bound, &id, &input, at);
        let entry = self.track(id, 0, bound, at);
        let fresh = Start::Fresh {
            input,
            retry_of,
            traceparent,
        };
        self.start(&entry, fresh);
        // Accepted means durable: a crash while it waits for a slot loses nothing.
        if let Err(e) = admitted.await {
            warn!(run = %entry.id, error = %e, "run refused: the journal failed");
            self.withdraw(&entry);
            return Err(Refused::Journal(e.to_string()));
        }
        debug!(run = %entry.id, workflow = %entry.workflow(), "run accepted");
        Ok(entry)
    }

    /// A run whose acceptance the journal refused: cancelled (the journal
    /// refuses its writes too, so it calls nothing) and forgotten here.
    fn withdraw(&self, entry: &Arc<RunEntry>) {
        entry.cancel.set();
        if let EntryState::Running { canceller, .. } = &*entry.state() {
            canceller.cancel();
        }
        self.forget(&mut self.entries(), entry);
    }

    /// Drop `entry` from memory, unless a newer entry of the same run (taken
    /// up again here) stands in its place.
    fn forget(&self, entries: &mut HashMap<String, Arc<RunEntry>>, entry: &Arc<RunEntry>) {
        if entries
            .get(&entry.id)
            .is_some_and(|e| Arc::ptr_eq(e, entry))
        {
            entries.remove(&entry.id);
        }
    }

    /// Take over a run read back from the journal. Always accepted: it was
    /// accepted once already; it waits for a slot like any other.
    pub fn resume(self: &Arc<Self>, bound: BoundWorkflow, stored: StoredRun) -> Arc<RunEntry> {
        let entry = self.take_up(bound, &stored);
        info!(run = %entry.id, workflow = %entry.workflow(), "run taken over from the journal");
        self.start(&entry, Start::Resume(Box::new(stored)));
        entry
    }

    /// Take up a run that ended `compensation_failed` (reopened in the
    /// journal, if there is one) to try its failed compensations again.
    pub fn retry_compensations(
        self: &Arc<Self>,
        bound: BoundWorkflow,
        stored: StoredRun,
    ) -> Arc<RunEntry> {
        let entry = self.take_up(bound, &stored);
        info!(run = %entry.id, workflow = %entry.workflow(), "failed compensations retried");
        self.start(&entry, Start::RetryCompensations(Box::new(stored)));
        entry
    }

    /// Track a run that was accepted once already, under its claim.
    fn take_up(&self, bound: BoundWorkflow, stored: &StoredRun) -> Arc<RunEntry> {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let (id, epoch) = (stored.run_id.clone(), stored.epoch);
        self.track(id, epoch, bound, stored.created_at)
    }

    /// Queue the run for a slot, in the order of the calls, and drive it.
    fn start(self: &Arc<Self>, entry: &Arc<RunEntry>, start: Start) {
        let slot = self.queue_for_slot();
        let (runs, driven) = (self.clone(), entry.clone());
        tokio::spawn(async move { runs.drive(driven, start, slot).await });
    }

    /// tokio's semaphore hands out slots first come, first served, but a
    /// waiter joins its queue when first polled: polled here, runs queue in
    /// the order they are accepted or taken over (in-flight runs first),
    /// not in the order their tasks happen to be scheduled.
    fn queue_for_slot(&self) -> Slot {
        let mut slot: Slot = Box::pin(self.slots.clone().acquire_owned());
        match slot.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(permit) => Box::pin(std::future::ready(permit)),
            Poll::Pending => slot,
        }
    }

    fn track(
        &self,
        id: String,
        epoch: Epoch,
        bound: BoundWorkflow,
        submitted_at: SystemTime,
    ) -> Arc<RunEntry> {
        let entry = Arc::new(RunEntry {
            id,
            epoch,
            bound,
            submitted_at,
            state: Mutex::new(EntryState::Queued),
            cancel: Latch::default(),
            done: Latch::default(),
            log: Mutex::new(None),
            kept_signals: Mutex::default(),
        });
        self.entries().insert(entry.id.clone(), entry.clone());
        entry
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RunEntry>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: &str) -> Option<Arc<RunEntry>> {
        self.entries().get(id).cloned()
    }

    /// Every run held in memory that comes after `after` in the listing,
    /// of `workflow` when given, with its place: unsorted, any status.
    pub fn snapshot(
        &self,
        after: Option<&Cursor>,
        workflow: Option<&str>,
    ) -> Vec<(Cursor, RunSummary)> {
        let entries: Vec<Arc<RunEntry>> = self.entries().values().cloned().collect();
        entries
            .iter()
            .filter(|e| workflow.is_none_or(|w| e.workflow() == w))
            .map(|e| (e.cursor(), e))
            .filter(|(at, _)| after.is_none_or(|after| at < after))
            .map(|(at, e)| (at, e.summary()))
            .collect()
    }

    /// Stop a run: a queued one never starts; a running one is cancelled and
    /// compensates.
    pub fn cancel(&self, id: &str) -> Result<Arc<RunEntry>, CancelError> {
        let entry = self.get(id).ok_or(CancelError::NotFound)?;
        entry.cancel.set();
        match &*entry.state() {
            EntryState::Finished(_) | EntryState::Elsewhere => return Err(CancelError::Finished),
            EntryState::Left => return Err(CancelError::Left),
            EntryState::Running { canceller, .. } => {
                canceller.cancel();
            }
            // Woken by the cancel: resumed, it compensates.
            EntryState::Queued | EntryState::Parked => {}
        }
        info!(run = %id, "run cancelled on request");
        Ok(entry.clone())
    }
}
