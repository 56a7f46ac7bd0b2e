//! How the server's runs end when it stops: runs in flight get the grace
//! period, then are cancelled and compensated; runs not started stay in the
//! journal for the next start, or, with no journal, are cancelled.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, warn};

use super::entry::EntryState;
use super::{RunEntry, Runs};

/// What a stop did with the runs it found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Never started, left in the journal for the next start (released to
    /// another replica on PostgreSQL).
    pub left: usize,
    /// Never started, cancelled: no journal keeps them.
    pub cancelled_queued: usize,
    /// Still in flight past the grace period: cancelled and compensated.
    pub cancelled_running: usize,
}

impl Runs {
    /// Refuse new runs. With a journal, runs not started stop waiting and
    /// stay in the journal. Wait for the others to end, at most `grace`;
    /// then cancel the rest and wait for them to compensate, at most
    /// `compensation`.
    pub async fn drain(&self, grace: Duration, compensation: Duration) -> Drained {
        self.closed.store(true, Ordering::Relaxed);
        if self.runtime.journal().is_some() {
            // Started now, they would only be cancelled at the end of the
            // grace period; resumed later, they run in full.
            self.leave.cancel();
        }
        let mut drained = Drained::default();
        if !self.wait_idle(grace).await {
            let (queued, running): (Vec<Arc<RunEntry>>, Vec<Arc<RunEntry>>) = self
                .entries()
                .values()
                .filter(|e| matches!(*e.state(), EntryState::Queued | EntryState::Running { .. }))
                .cloned()
                .partition(|e| {
                    // With a journal, a run still queued now is one starting.
                    self.runtime.journal().is_none() && matches!(*e.state(), EntryState::Queued)
                });
            if !queued.is_empty() {
                warn!(
                    runs = queued.len(),
                    "grace period over; cancelling the queued runs: without a journal nothing keeps them"
                );
            }
            if !running.is_empty() {
                warn!(
                    runs = running.len(),
                    "grace period over; cancelling the runs still going; they compensate"
                );
            }
            for entry in queued.iter().chain(&running) {
                entry.cancel.set();
                if let EntryState::Running { canceller, .. } = &*entry.state() {
                    canceller.cancel();
                }
            }
            drained.cancelled_queued = queued.len();
            drained.cancelled_running = running.len();
            if !self.wait_idle(compensation).await {
                warn!(
                    runs = self.pending.load(Ordering::Relaxed),
                    "runs still compensating at exit"
                );
            }
        }
        drained.left = self.left.load(Ordering::Relaxed);
        drained
    }

    /// A run not started as the server stops stays in the journal; on
    /// PostgreSQL it is let go so that another replica takes it at once.
    pub(super) async fn leave_for_resume(&self, entry: &RunEntry) {
        *entry.state() = EntryState::Left;
        if let Some(journal) = self.runtime.journal()
            && let Err(e) = journal.release(&entry.id).await
        {
            warn!(run = %entry.id, error = %e, "run left unreleased: another replica takes it when its lease expires");
        }
        debug!(run = %entry.id, "run left in the journal for resume");
        self.left.fetch_add(1, Ordering::Relaxed);
        entry.mark_done();
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
