//! Finished runs kept in memory for a while: a count and an age bound,
//! the oldest evicted first, and, without a journal, the events of the most
//! recent few (their timeline, and what a retry starts again from).

use std::sync::Arc;

use tokio::time::Instant;

use crate::journal::{Definition, StoredRun};
use crate::runtime::{BoundWorkflow, RunEvent};

use super::entry::EntryState;
use super::{HISTORIES_KEPT, RunEntry, Runs};

impl Runs {
    /// Keep a finished run for a while. Without a journal, only the
    /// [`HISTORIES_KEPT`] most recent keep their events (their timeline in
    /// the console); older ones keep their report alone.
    pub(super) fn remember_finished(&self, entry: &Arc<RunEntry>) {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        finished.push_back((entry.clone(), Instant::now()));
        let older = finished.len().checked_sub(HISTORIES_KEPT + 1);
        let forget = older
            .filter(|_| self.runtime.journal().is_none())
            .map(|i| finished[i].0.clone());
        drop(finished);
        if let Some(old) = forget {
            old.log.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
    }

    /// A finished run as memory keeps it, without a journal: its status,
    /// input and events, while its events are kept (the most recent
    /// [`HISTORIES_KEPT`] finished runs).
    pub fn kept(&self, id: &str) -> Option<(StoredRun, BoundWorkflow)> {
        let entry = self.get(id)?;
        let status = match &*entry.state() {
            EntryState::Finished(finished) => finished.status,
            _ => return None,
        };
        let events = entry
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()?
            .events();
        let input = match events.first().map(|r| &r.event) {
            Some(RunEvent::RunStarted { input, .. }) => serde_json::Value::clone(input),
            _ => return None,
        };
        let stored = StoredRun {
            run_id: entry.id.clone(),
            definition: Definition::of(&entry.bound.workflow),
            status,
            created_at: entry.submitted_at,
            input,
            events,
            epoch: entry.epoch,
        };
        Some((stored, entry.bound.clone()))
    }

    /// Drop finished runs beyond the count bound or older than the age bound.
    pub fn evict(&self) {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut gone = Vec::new();
        while let Some((_, at)) = finished.front() {
            let too_many = finished.len() > self.limits.keep_finished;
            if !too_many && now.duration_since(*at) < self.limits.keep_for {
                break;
            }
            gone.extend(finished.pop_front().map(|(entry, _)| entry));
        }
        drop(finished);
        if !gone.is_empty() {
            let mut entries = self.entries();
            for entry in &gone {
                self.forget(&mut entries, entry);
            }
        }
    }
}
