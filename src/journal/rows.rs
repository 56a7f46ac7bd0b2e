//! What a journal holds: runs, the definitions they started with, and their
//! events, as the backends write and read them.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use crate::run::{Recorded, RunStatus};

use super::{Cursor, Epoch, JournalError, timestamp};

/// A workflow definition as a run started with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// SHA-256 of `text`, hex.
    pub hash: String,
    pub name: String,
    /// The file it was read from, for messages and relative `proto:` paths.
    pub path: String,
    pub text: Arc<str>,
}

/// A run's first write.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub run_id: Arc<str>,
    /// Shared by every run of one bound workflow: hashed once, never copied.
    pub definition: Arc<Definition>,
    /// The run's input, so a run accepted but not yet started can start.
    pub input: Value,
    pub created_at: SystemTime,
}

/// One write, queued in order.
#[derive(Debug, Clone)]
pub enum Write {
    /// A run begins: its row and its definition (kept once per text).
    Begin(NewRun),
    /// One event; `seq` counts a run's events from 0.
    Event {
        run_id: Arc<str>,
        seq: u64,
        at: SystemTime,
        /// The event's name, e.g. `attempt_started`, for people reading the table.
        kind: &'static str,
        /// The whole [`Recorded`] as JSON.
        body: String,
        /// Set with the run's last event: its final status.
        finished: Option<RunStatus>,
        /// The claim the writer holds the run under; a write under an
        /// older claim than the run's latest is refused.
        epoch: Epoch,
    },
}

impl Write {
    /// The run it writes to.
    pub fn run_id(&self) -> &Arc<str> {
        match self {
            Write::Begin(run) => &run.run_id,
            Write::Event { run_id, .. } => run_id,
        }
    }

    /// The event write for `recorded`, the `seq`th of `run_id`, by the
    /// process that began the run (claim 0; see [`Write::with_epoch`]).
    pub fn event(run_id: &Arc<str>, seq: u64, recorded: &Recorded) -> Result<Write, JournalError> {
        let body =
            serde_json::to_string(recorded).map_err(|e| JournalError::Write(e.to_string()))?;
        let finished = match &recorded.event {
            crate::run::RunEvent::RunFinished { status, .. } => Some(*status),
            _ => None,
        };
        Ok(Write::Event {
            run_id: run_id.clone(),
            seq,
            at: recorded.at,
            kind: recorded.event.kind(),
            body,
            finished,
            epoch: 0,
        })
    }

    /// The same write, made under the claim `epoch` of its run.
    pub fn with_epoch(mut self, claim: Epoch) -> Self {
        if let Write::Event { epoch, .. } = &mut self {
            *epoch = claim;
        }
        self
    }

    /// Set an event's place in its run's log.
    pub(crate) fn place(&mut self, at_seq: u64) {
        if let Write::Event { seq, .. } = self {
            *seq = at_seq;
        }
    }
}

/// A run read back with all its events.
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub run_id: String,
    pub definition: Definition,
    /// `running` until the run finished.
    pub status: RunStatus,
    pub created_at: SystemTime,
    pub input: Value,
    pub events: Vec<Recorded>,
    /// The run's latest claim; after [`super::Journal::claim`], the one
    /// this process holds it under. 0 for a run never claimed (and always
    /// in a state directory).
    pub epoch: Epoch,
}

/// One line of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub workflow: String,
    pub status: RunStatus,
    /// RFC 3339.
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The replica holding the run (PostgreSQL), while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `created_at` as stored, to the backend's precision: the listing's key.
    #[serde(skip)]
    pub created: SystemTime,
}

impl RunRow {
    pub fn new(
        run_id: String,
        workflow: String,
        status: RunStatus,
        created_at: SystemTime,
        finished_at: Option<SystemTime>,
    ) -> Self {
        RunRow {
            run_id,
            workflow,
            status,
            created_at: timestamp(created_at),
            finished_at: finished_at.map(timestamp),
            owner: None,
            created: created_at,
        }
    }

    /// The place of this row in the listing: a page ending here goes on
    /// from it.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created,
            run_id: self.run_id.clone(),
        }
    }
}
