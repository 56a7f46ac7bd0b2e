//! One run driven from its slot to its end: started or resumed through the
//! runtime, cancelled before it starts, left for resume on a stop, or let go
//! to the replica that holds it now.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use tracing::{info, warn};

use crate::journal::{StoredRun, Write};
use crate::runtime::{Recorded, RunEnd, RunEvent, RunHandle, RunOptions, RunReport, RunStatus};

use super::entry::EntryState;
use super::{RunEntry, Runs, Slot, Start, Waited};

impl Runs {
    pub(super) async fn drive(
        self: Arc<Self>,
        entry: Arc<RunEntry>,
        mut start: Start,
        mut slot: Slot,
    ) {
        let report = loop {
            // A run that started in an earlier process may hold effects: it
            // is cancelled by starting it, so that it compensates.
            let never_started = start.never_started();
            let waited = tokio::select! {
                biased;
                () = entry.cancel.wait(), if never_started => Waited::Cancelled,
                () = self.leave.cancelled() => Waited::Left,
                permit = slot => permit.map_or(Waited::Cancelled, Waited::Slot),
            };
            let end = match waited {
                Waited::Slot(permit) => {
                    self.running.fetch_add(1, Ordering::Relaxed);
                    let end = Box::pin(self.run(&entry, start)).await;
                    self.running.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                    end
                }
                // Boxed, here and below: a future's size is that of its
                // largest await, and this task lives as long as its run.
                Waited::Cancelled => Some(RunEnd::Finished(
                    Box::pin(self.cancelled_before_start(&entry)).await,
                )),
                Waited::Left => {
                    Box::pin(self.leave_for_resume(&entry)).await;
                    return self.settled();
                }
            };
            match end {
                None => return self.lost(&entry),
                Some(RunEnd::Finished(report)) => break report,
                // Its slot is free meanwhile; it queues for one again.
                Some(RunEnd::Parked { until }) => {
                    match Box::pin(self.parked(&entry, until)).await {
                        Some(stored) => {
                            start = Start::Resume(Box::new(stored));
                            slot = self.queue_for_slot();
                        }
                        None => return self.settled(),
                    }
                }
            }
        };
        self.metrics.run_finished(&report);
        if self.runtime.journal().is_some() {
            // The journal has its events; memory keeps the report alone.
            entry.log.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
        *entry.state() = EntryState::Finished(entry.finish(report));
        entry.mark_done();
        self.remember_finished(&entry);
        self.evict();
        self.settled();
    }

    /// The run is driven elsewhere now: forget it here.
    fn lost(&self, entry: &Arc<RunEntry>) {
        info!(run = %entry.id, "run left to the replica that holds it now");
        *entry.state() = EntryState::Elsewhere;
        entry.mark_done();
        self.forget(&mut self.entries(), entry);
        self.settled();
    }

    /// Whether the run's memory here is its truth: not once another replica
    /// may hold it (this process's lease ran out, or a write was refused).
    pub fn held_here(&self, entry: &RunEntry) -> bool {
        let journal = self.runtime.journal();
        match &*entry.state() {
            EntryState::Elsewhere => false,
            EntryState::Finished(_) | EntryState::Left => true,
            EntryState::Queued | EntryState::Running { .. } | EntryState::Parked => {
                journal.is_none_or(|j| j.holds(&entry.id, entry.epoch))
            }
        }
    }

    /// One accepted run fewer to wait for.
    fn settled(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// A run that never started, cancelled: by request, or by a shutdown
    /// with no journal to keep it. A journal is told, or the next start
    /// would run it.
    async fn cancelled_before_start(&self, entry: &RunEntry) -> RunReport {
        let journal = self.runtime.journal();
        let why = if self.is_closed() && journal.is_none() {
            "the server shut down before the run started; without a journal nothing keeps it"
        } else {
            "run cancelled before it started"
        };
        let mut report = entry.unstarted(RunStatus::Cancelled);
        report.error = Some(why.into());
        let recorded = Recorded {
            at: SystemTime::now(),
            event: RunEvent::RunFinished {
                status: RunStatus::Cancelled,
                output: None,
                error: Some(why.into()),
            },
        };
        self.events
            .publish(&entry.id, entry.workflow(), 0, &recorded);
        if let Some(journal) = journal {
            let written = match Write::event(&Arc::from(entry.id.as_str()), 0, &recorded) {
                Ok(write) => journal.write(write.with_epoch(entry.epoch)).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                warn!(run = %entry.id, error = %e, "the cancel could not be journaled; the next start may run it");
            }
        }
        report
    }

    /// Drive the run here until it ends or parks; `None` when another
    /// replica took it.
    async fn run(&self, entry: &RunEntry, start: Start) -> Option<RunEnd> {
        // Starting is the largest future here and lasts a moment: boxed, so
        // that the wait for the run's end, as long as the run, stays small.
        let handle = match Box::pin(self.start_here(entry, start)).await {
            Ok(handle) => handle,
            Err(end) => return Some(end),
        };
        Box::pin(self.started_here(entry, &handle)).await;
        match handle.ended().await {
            Ok(end) => Some(end),
            // The run ended here without a report because another replica
            // holds it now (its actor gave it up).
            Err(_) if !self.held_here(entry) => None,
            Err(e) => {
                let mut report = entry.unstarted(RunStatus::Cancelled);
                report.error = Some(e.to_string());
                Some(RunEnd::Finished(report))
            }
        }
    }

    /// The run's actor spawned, fresh or from its journal; or, when it
    /// could not be, the run's end.
    async fn start_here(&self, entry: &RunEntry, start: Start) -> Result<RunHandle, RunEnd> {
        let spawned = match start {
            Start::Fresh {
                input,
                retry_of,
                traceparent,
            } => {
                let options = RunOptions {
                    run_id: Some(entry.id.clone()),
                    observer: Some(self.events.observe(&entry.id, entry.workflow())),
                    admitted: true,
                    retry_of,
                    traceparent,
                };
                self.runtime.spawn_run(&entry.bound, input, options).await
            }
            Start::RetryCompensations(stored) => {
                let observer = self.events.observe(&entry.id, entry.workflow());
                let retried =
                    self.runtime
                        .retry_compensations(&entry.bound, *stored, Some(observer));
                retried.await
            }
            Start::Resume(stored) => {
                let observer = self.events.observe(&entry.id, entry.workflow());
                let resumed = self.runtime.resume(&entry.bound, *stored, Some(observer));
                resumed.await
            }
        };
        spawned.map_err(|e| {
            warn!(run = %entry.id, error = %e, "run could not start");
            let mut report = entry.unstarted(RunStatus::Cancelled);
            report.error = Some(e.to_string());
            RunEnd::Finished(report)
        })
    }

    /// The run's actor is up: the entry shows it running, and takes the
    /// cancel and the signals that came while it was starting or queued.
    async fn started_here(&self, entry: &RunEntry, handle: &RunHandle) {
        let canceller = handle.canceller();
        *entry.log.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.watch());
        let kept = {
            let mut state = entry.state();
            *state = EntryState::Running {
                watch: handle.watch(),
                canceller: canceller.clone(),
            };
            std::mem::take(&mut *entry.kept_signals.lock().unwrap_or_else(|p| p.into_inner()))
        };
        // Signals sent while it was queued, without a journal to hold them.
        for signal in kept {
            if let Err(e) = canceller.signal(signal).await {
                warn!(run = %entry.id, error = %e, "a signal kept for the run was not taken");
            }
        }
        // A cancel that came while the run was starting.
        if entry.cancel.is_set() {
            canceller.cancel();
        }
    }

    /// The run waits with nothing in flight: drop all but its entry, then
    /// read it back from the journal once it is time, a signal comes or it
    /// is cancelled. `None` when the server stops meanwhile (the journal
    /// keeps it for the next start) or the journal cannot give it back.
    async fn parked(&self, entry: &RunEntry, until: Option<SystemTime>) -> Option<StoredRun> {
        let journal = self.runtime.journal()?.clone();
        let wake = self.runtime.on_signal_posted(&entry.id);
        entry.log.lock().unwrap_or_else(|p| p.into_inner()).take();
        *entry.state() = EntryState::Parked;
        let left = until.map(|t| t.duration_since(SystemTime::now()).unwrap_or_default());
        let timer = async {
            match left {
                Some(left) => tokio::time::sleep(left).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = self.leave.cancelled() => {
                self.leave_for_resume(entry).await;
                return None;
            }
            () = entry.cancel.wait() => {}
            () = wake.notified() => {}
            () = timer => {}
        }
        match journal.load(&entry.id).await {
            Ok(Some(mut stored)) => {
                stored.epoch = entry.epoch;
                Some(stored)
            }
            Ok(None) | Err(_) => {
                warn!(run = %entry.id, "a parked run could not be read back; the next start resumes it");
                *entry.state() = EntryState::Left;
                None
            }
        }
    }
}
