//! The runs of `maestro serve`: admission (a bound on running and queued
//! runs), one task per run driving it through the runtime, cancellation,
//! and finished runs kept in memory up to a count and an age. A run another
//! replica took over is dropped from memory: the journal answers for it.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{AcquireError, Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::journal::{Epoch, StoredRun};
use crate::runtime::{
    BoundWorkflow, RunCanceller, RunOptions, RunReport, RunStatus, RunWatch, Runtime,
};

use super::metrics::{Metrics, RunGauges};

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
}

/// One line of `GET /v1/runs`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    pub run_id: String,
    pub workflow: String,
    pub status: RunStatus,
    /// RFC 3339.
    pub submitted_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A run as `GET /v1/runs/{id}` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub report: RunReport,
    /// RFC 3339.
    pub submitted_at: String,
}

enum EntryState {
    Queued,
    Running {
        watch: RunWatch,
        canceller: RunCanceller,
    },
    Finished(Arc<RunReport>),
    /// Another replica holds the run now; only the journal knows how it
    /// stands.
    Elsewhere,
}

/// One run the server knows of.
pub struct RunEntry {
    pub id: String,
    /// The claim this process holds the run under.
    epoch: Epoch,
    bound: BoundWorkflow,
    submitted_at: SystemTime,
    state: Mutex<EntryState>,
    cancel: CancellationToken,
    done: watch::Sender<bool>,
}

impl RunEntry {
    fn state(&self) -> std::sync::MutexGuard<'_, EntryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn workflow(&self) -> &str {
        &self.bound.workflow.name
    }

    /// The run as it stands now.
    pub fn view(&self) -> RunView {
        let report = match &*self.state() {
            EntryState::Queued => self.unstarted(RunStatus::Queued),
            EntryState::Running { watch, .. } => watch.progress(),
            EntryState::Finished(report) => (**report).clone(),
            // Its last state here: the caller asks the journal first.
            EntryState::Elsewhere => self.unstarted(RunStatus::Running),
        };
        RunView {
            report,
            submitted_at: rfc3339(self.submitted_at),
        }
    }

    pub fn summary(&self) -> RunSummary {
        let (status, error) = match &*self.state() {
            EntryState::Queued => (RunStatus::Queued, None),
            EntryState::Running { .. } | EntryState::Elsewhere => (RunStatus::Running, None),
            EntryState::Finished(report) => (report.status, report.error.clone()),
        };
        RunSummary {
            run_id: self.id.clone(),
            workflow: self.workflow().to_string(),
            status,
            submitted_at: rfc3339(self.submitted_at),
            error,
        }
    }

    fn unstarted(&self, status: RunStatus) -> RunReport {
        let mut report = RunReport::from_events(&self.bound.workflow, &[], None);
        report.run_id = self.id.clone();
        report.status = status;
        report
    }

    /// Wait until the run has finished, at most `limit`.
    pub async fn finished(&self, limit: Duration) -> bool {
        let mut rx = self.done.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|done| *done))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// A run's wait for a slot, in line since it was accepted.
type SlotWait = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// How a run begins: afresh with its input, or where its journal left it.
enum Start {
    Fresh(Value),
    Resume(Box<StoredRun>),
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// Every run of the server, and the task driving each.
pub struct Runs {
    runtime: Arc<Runtime>,
    metrics: Arc<Metrics>,
    limits: Limits,
    entries: Mutex<HashMap<String, Arc<RunEntry>>>,
    /// Finished run ids, oldest first, with when they finished.
    finished: Mutex<VecDeque<(String, Instant)>>,
    slots: Arc<Semaphore>,
    /// Accepted and not yet finished.
    pending: AtomicUsize,
    running: AtomicUsize,
    closed: AtomicBool,
    idle: Notify,
}

impl Runs {
    pub fn new(runtime: Arc<Runtime>, metrics: Arc<Metrics>, limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            metrics,
            slots: Arc::new(Semaphore::new(limits.max_running.max(1))),
            limits,
            entries: Mutex::default(),
            finished: Mutex::default(),
            pending: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
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
        // Accepted means durable: a crash while it waits for a slot loses nothing.
        if let Err(e) = self.runtime.admit(&bound, &id, &input).await {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            warn!(error = %e, "run refused: the journal failed");
            return Err(Refused::Journal(e.to_string()));
        }
        let entry = self.track(id, 0, bound, SystemTime::now());
        debug!(run = %entry.id, workflow = %entry.workflow(), "run accepted");
        let (runs, driven, slot) = (self.clone(), entry.clone(), self.queue_for_slot());
        tokio::spawn(async move { runs.drive(driven, slot, Start::Fresh(input)).await });
        Ok(entry)
    }

    /// Take over a run read back from the journal. Always accepted: it was
    /// accepted once already; it waits for a slot like any other.
    pub fn resume(self: &Arc<Self>, bound: BoundWorkflow, stored: StoredRun) -> Arc<RunEntry> {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let entry = self.track(
            stored.run_id.clone(),
            stored.epoch,
            bound,
            stored.created_at,
        );
        info!(run = %entry.id, workflow = %entry.workflow(), "run taken over from the journal");
        let (runs, driven, slot) = (self.clone(), entry.clone(), self.queue_for_slot());
        let start = Start::Resume(Box::new(stored));
        tokio::spawn(async move { runs.drive(driven, slot, start).await });
        entry
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
            cancel: CancellationToken::new(),
            done: watch::Sender::new(false),
        });
        self.entries().insert(entry.id.clone(), entry.clone());
        entry
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RunEntry>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place in the line for a run slot, taken now rather than when the
    /// run's task first runs: the semaphore serves waiters in the order they
    /// first asked, so runs start in the order they were accepted.
    fn queue_for_slot(&self) -> SlotWait {
        let mut wait: SlotWait = Box::pin(self.slots.clone().acquire_owned());
        let mut cx = Context::from_waker(Waker::noop());
        match wait.as_mut().poll(&mut cx) {
            Poll::Ready(permit) => Box::pin(std::future::ready(permit)),
            // Its place is kept while the future lives; the run's task
            // polls it again with a waker of its own.
            Poll::Pending => wait,
        }
    }

    async fn drive(self: Arc<Self>, entry: Arc<RunEntry>, slot: SlotWait, start: Start) {
        let report = tokio::select! {
            permit = slot => match permit {
                Ok(permit) => {
                    self.running.fetch_add(1, Ordering::Relaxed);
                    let report = self.run(&entry, start).await;
                    self.running.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                    report
                }
                Err(_) => Some(entry.unstarted(RunStatus::Cancelled)),
            },
            () = entry.cancel.cancelled() => {
                let mut report = entry.unstarted(RunStatus::Cancelled);
                report.error = Some("run cancelled before it started".into());
                Some(report)
            }
        };
        let Some(report) = report else {
            self.lost(&entry);
            return;
        };
        self.metrics.run_finished(&report);
        *entry.state() = EntryState::Finished(Arc::new(report));
        entry.done.send_replace(true);
        self.finished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((entry.id.clone(), Instant::now()));
        self.evict();
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// The run is driven elsewhere now: forget it here.
    fn lost(&self, entry: &Arc<RunEntry>) {
        info!(run = %entry.id, "run left to the replica that holds it now");
        *entry.state() = EntryState::Elsewhere;
        entry.done.send_replace(true);
        {
            let mut entries = self.entries();
            // Not a newer entry of the same run, claimed here anew.
            if entries
                .get(&entry.id)
                .is_some_and(|e| Arc::ptr_eq(e, entry))
            {
                entries.remove(&entry.id);
            }
        }
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Whether the run's memory here is its truth: not once another replica
    /// may hold it (this process's lease ran out, or a write was refused).
    pub fn held_here(&self, entry: &RunEntry) -> bool {
        let journal = self.runtime.journal();
        match &*entry.state() {
            EntryState::Elsewhere => false,
            EntryState::Finished(_) => true,
            EntryState::Queued | EntryState::Running { .. } => {
                journal.is_none_or(|j| j.holds(&entry.id, entry.epoch))
            }
        }
    }

    /// Drive the run to its end here; `None` when another replica took it.
    async fn run(&self, entry: &RunEntry, start: Start) -> Option<RunReport> {
        let spawned = match start {
            Start::Fresh(input) => {
                let options = RunOptions {
                    run_id: Some(entry.id.clone()),
                    observer: None,
                    admitted: true,
                };
                self.runtime.spawn_run(&entry.bound, input, options).await
            }
            Start::Resume(stored) => self.runtime.resume(&entry.bound, *stored, None).await,
        };
        let handle = match spawned {
            Ok(handle) => handle,
            Err(e) => {
                warn!(run = %entry.id, error = %e, "run could not start");
                let mut report = entry.unstarted(RunStatus::Cancelled);
                report.error = Some(e.to_string());
                return Some(report);
            }
        };
        let canceller = handle.canceller();
        *entry.state() = EntryState::Running {
            watch: handle.watch(),
            canceller: canceller.clone(),
        };
        // A cancel that came while the run was starting.
        if entry.cancel.is_cancelled() {
            canceller.cancel();
        }
        match handle.finished().await {
            Ok(report) => Some(report),
            // The run ended here without a report because another replica
            // holds it now (its actor gave it up).
            Err(_) if !self.held_here(entry) => None,
            Err(e) => {
                let mut report = entry.unstarted(RunStatus::Cancelled);
                report.error = Some(e.to_string());
                Some(report)
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<RunEntry>> {
        self.entries().get(id).cloned()
    }

    /// Recent runs, newest first.
    pub fn list(
        &self,
        workflow: Option<&str>,
        status: Option<RunStatus>,
        limit: usize,
    ) -> Vec<RunSummary> {
        let entries: Vec<Arc<RunEntry>> = self.entries().values().cloned().collect();
        let mut out: Vec<RunSummary> = entries
            .iter()
            .filter(|e| workflow.is_none_or(|w| e.workflow() == w))
            .map(|e| e.summary())
            .filter(|s| status.is_none_or(|st| s.status == st))
            .collect();
        // Ids are UUIDv7: their order is the order of submission.
        out.sort_by(|a, b| b.run_id.cmp(&a.run_id));
        out.truncate(limit);
        out
    }

    /// Stop a run: a queued one never starts; a running one is cancelled and
    /// compensates.
    pub fn cancel(&self, id: &str) -> Result<Arc<RunEntry>, CancelError> {
        let entry = self.get(id).ok_or(CancelError::NotFound)?;
        entry.cancel.cancel();
        match &*entry.state() {
            EntryState::Finished(_) | EntryState::Elsewhere => return Err(CancelError::Finished),
            EntryState::Running { canceller, .. } => {
                canceller.cancel();
            }
            EntryState::Queued => {}
        }
        info!(run = %id, "run cancelled on request");
        Ok(entry.clone())
    }

    /// Drop finished runs beyond the count bound or older than the age bound.
    pub fn evict(&self) {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut gone = Vec::new();
        while let Some((id, at)) = finished.front() {
            let too_many = finished.len() > self.limits.keep_finished;
            if !too_many && now.duration_since(*at) < self.limits.keep_for {
                break;
            }
            gone.push(id.clone());
            finished.pop_front();
        }
        drop(finished);
        if !gone.is_empty() {
            let mut entries = self.entries();
            for id in gone {
                entries.remove(&id);
            }
        }
    }

    /// Refuse new runs; wait for those accepted to end, at most `grace`;
    /// then cancel the rest and wait for them to compensate, at most
    /// `compensation`. Returns how many were cancelled.
    pub async fn drain(&self, grace: Duration, compensation: Duration) -> usize {
        self.closed.store(true, Ordering::Relaxed);
        if self.wait_idle(grace).await {
            return 0;
        }
        let live: Vec<Arc<RunEntry>> = self
            .entries()
            .values()
            .filter(|e| !matches!(*e.state(), EntryState::Finished(_) | EntryState::Elsewhere))
            .cloned()
            .collect();
        warn!(
            runs = live.len(),
            "grace period over; cancelling the runs still going"
        );
        for entry in &live {
            let _ = self.cancel(&entry.id);
        }
        if !self.wait_idle(compensation).await {
            warn!(
                runs = self.pending.load(Ordering::Relaxed),
                "runs still compensating at exit"
            );
        }
        live.len()
    }

    async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let idle = self.idle.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.pending.load(Ordering::Acquire) == 0;
            }
        }
    }
}
