//! One run as the server holds it: its state (queued, running, finished,
//! left in the journal as the server stopped, or held by another replica
//! now), and the views of it the API answers with.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use bytes::Bytes;
use serde::Serialize;

use super::latch::Latch;
use crate::journal::{Cursor, Epoch};
use crate::runtime::handle::Signal;
use crate::runtime::{BoundWorkflow, Recorded, RunCanceller, RunReport, RunStatus, RunWatch};

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

/// A run's view as an answer: built from its live log, or the bytes a
/// finished run keeps.
pub enum ViewBody {
    Live(Box<RunView>),
    Finished(Bytes),
}

impl IntoResponse for ViewBody {
    fn into_response(self) -> Response {
        match self {
            ViewBody::Live(view) => Json(view).into_response(),
            ViewBody::Finished(bytes) => {
                ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
            }
        }
    }
}

/// What a finished run keeps in memory: its status and error for the
/// listing, and its view serialized once (a tenth of the report's tree of
/// strings and maps).
pub(super) struct Finished {
    pub(super) status: RunStatus,
    pub(super) error: Option<Box<str>>,
    view: Bytes,
}

pub(super) enum EntryState {
    Queued,
    /// Never started here, and left in the journal as the server stopped:
    /// the next start (or another replica) resumes it.
    Left,
    Running {
        watch: RunWatch,
        canceller: RunCanceller,
    },
    Finished(Finished),
    /// Every open step sleeps or waits: no actor, no events in memory; the
    /// journal holds the run until it is time, a signal comes or a cancel.
    Parked,
    /// Another replica holds the run now; only the journal knows how it
    /// stands.
    Elsewhere,
}

/// One run the server knows of.
pub struct RunEntry {
    pub id: String,
    /// The claim this process holds the run under.
    pub(super) epoch: Epoch,
    pub(super) bound: BoundWorkflow,
    pub(super) submitted_at: SystemTime,
    pub(super) state: Mutex<EntryState>,
    pub(super) cancel: Latch,
    /// Set once the run is no longer going here.
    pub(super) done: Latch,
    /// The run's log once it started here: its events for `GET
    /// /v1/events?run=`. Kept after the run finished only when no journal
    /// holds them, so finished runs do not cost their events twice.
    pub(super) log: Mutex<Option<RunWatch>>,
    /// Signals for a run still queued on a server without a journal, handed
    /// to it as it starts. Touched only under the `state` lock, so none is
    /// left behind as the run starts.
    pub(super) kept_signals: Mutex<Vec<Signal>>,
}

impl RunEntry {
    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, EntryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the run is queued or running here; `None` when only the
    /// journal can tell (another replica holds it, or it was left there).
    pub fn is_going(&self) -> Option<bool> {
        match &*self.state() {
            EntryState::Queued | EntryState::Running { .. } | EntryState::Parked => Some(true),
            EntryState::Finished(_) => Some(false),
            EntryState::Left | EntryState::Elsewhere => None,
        }
    }

    /// Whether the run is put aside in the journal, its steps waiting.
    pub fn is_parked(&self) -> bool {
        matches!(*self.state(), EntryState::Parked)
    }

    pub fn workflow(&self) -> &str {
        &self.bound.workflow.name
    }

    /// The run as it stands now.
    pub fn view(&self) -> ViewBody {
        let report = match &*self.state() {
            EntryState::Queued | EntryState::Left => self.unstarted(RunStatus::Queued),
            EntryState::Running { watch, .. } => watch.progress(),
            EntryState::Finished(finished) => return ViewBody::Finished(finished.view.clone()),
            // Its last state here: the caller asks the journal first.
            EntryState::Elsewhere | EntryState::Parked => self.unstarted(RunStatus::Running),
        };
        ViewBody::Live(Box::new(RunView {
            report,
            submitted_at: rfc3339(self.submitted_at),
        }))
    }

    /// What the run keeps once it has ended: see [`Finished`].
    pub(super) fn finish(&self, report: RunReport) -> Finished {
        let (status, error) = (report.status, report.error.as_deref().map(Box::from));
        let view = RunView {
            report,
            submitted_at: rfc3339(self.submitted_at),
        };
        Finished {
            status,
            error,
            // A report is plain data: serializing it cannot fail.
            view: serde_json::to_vec(&view)
                .map(|mut json| {
                    json.shrink_to_fit();
                    Bytes::from(json)
                })
                .unwrap_or_default(),
        }
    }

    pub fn summary(&self) -> RunSummary {
        let (status, error) = match &*self.state() {
            EntryState::Queued | EntryState::Left => (RunStatus::Queued, None),
            EntryState::Running { .. } | EntryState::Parked | EntryState::Elsewhere => {
                (RunStatus::Running, None)
            }
            EntryState::Finished(finished) => (
                finished.status,
                finished.error.as_deref().map(str::to_string),
            ),
        };
        RunSummary {
            run_id: self.id.clone(),
            workflow: self.workflow().to_string(),
            status,
            submitted_at: rfc3339(self.submitted_at),
            error,
        }
    }

    /// The run's events so far (none before it started); `None` once it
    /// finished and its events are left to the journal.
    pub fn events(&self) -> Option<Vec<Recorded>> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        match (&*log, &*self.state()) {
            (Some(log), _) => Some(log.events()),
            (None, EntryState::Queued | EntryState::Left) => Some(Vec::new()),
            (None, _) => None,
        }
    }

    pub(super) fn unstarted(&self, status: RunStatus) -> RunReport {
        let mut report = RunReport::from_events(&self.bound.workflow, &[], None);
        report.run_id = self.id.clone();
        report.status = status;
        report
    }

    /// The run's place in the listing.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.submitted_at,
            run_id: self.id.clone(),
        }
    }

    /// Wait until the run has finished, at most `limit`. False also when
    /// the server stopped and left it for the next start.
    pub async fn finished(&self, limit: Duration) -> bool {
        let ended = tokio::time::timeout(limit, self.done.wait()).await.is_ok();
        ended && matches!(*self.state(), EntryState::Finished(_))
    }

    /// The run is no longer going here: wake whoever waits for its end.
    pub(super) fn mark_done(&self) {
        self.done.set();
    }
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
