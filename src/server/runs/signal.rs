//! Signals for runs: given to a run driven here, which journals them; or,
//! with a journal, posted for a run this server does not drive.

use axum::http::StatusCode;

use super::Runs;
use super::entry::EntryState;
use crate::journal::PostedSignal;
use crate::runtime::RuntimeError;
use crate::runtime::handle::Signal;

/// Why a signal could not be given to a run.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("no run with this id (finished runs are kept for a while, then evicted)")]
    NotFound,
    #[error("the run has already finished")]
    Finished,
    #[error(
        "the run is queued on a server without a journal, which keeps at most \
         {MAX_KEPT_SIGNALS} signals for it meanwhile: send it again once the run runs"
    )]
    NotRunningHere,
    #[error("the signal could not be journaled: {0}")]
    Journal(String),
}

/// Most signals kept in memory for one run queued on a server without a
/// journal: past it, 409 `not_running_here`.
pub const MAX_KEPT_SIGNALS: usize = 100;

impl SignalError {
    pub fn status(&self) -> StatusCode {
        match self {
            SignalError::NotFound => StatusCode::NOT_FOUND,
            SignalError::Finished | SignalError::NotRunningHere => StatusCode::CONFLICT,
            SignalError::Journal(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            SignalError::NotFound => "not_found",
            SignalError::Finished => "finished",
            SignalError::NotRunningHere => "not_running_here",
            SignalError::Journal(_) => "journal_unavailable",
        }
    }
}

impl Runs {
    /// Give a run a signal; done once it is journaled. A run driven here
    /// journals it with its events; with a journal, one that is not (queued,
    /// or held by another replica) finds it in the journal's inbox; without
    /// one, a queued run is handed it as it starts.
    pub async fn signal(&self, id: &str, signal: Signal) -> Result<(), SignalError> {
        let no_journal = self.runtime.journal().is_none();
        let canceller = match self.get(id) {
            None => None,
            Some(entry) => match &*entry.state() {
                EntryState::Queued if no_journal => {
                    let mut kept = entry.kept_signals.lock().unwrap_or_else(|p| p.into_inner());
                    if kept.len() >= MAX_KEPT_SIGNALS {
                        return Err(SignalError::NotRunningHere);
                    }
                    kept.push(signal);
                    return Ok(());
                }
                EntryState::Finished(_) => return Err(SignalError::Finished),
                EntryState::Running { canceller, .. } => Some(canceller.clone()),
                EntryState::Queued
                | EntryState::Left
                | EntryState::Parked
                | EntryState::Elsewhere => None,
            },
        };
        let Some(canceller) = canceller else {
            return self.post(id, signal).await;
        };
        match canceller.signal(signal).await {
            Ok(()) => Ok(()),
            // The run ended between the look and the send.
            Err(RuntimeError::Lost) => Err(SignalError::Finished),
            Err(e) => Err(SignalError::Journal(e.to_string())),
        }
    }

    /// Post a signal for a run this server does not drive, if the journal
    /// holds it unfinished.
    async fn post(&self, id: &str, signal: Signal) -> Result<(), SignalError> {
        let Some(journal) = self.runtime.journal() else {
            return match self.get(id) {
                Some(_) => Err(SignalError::NotRunningHere),
                None => Err(SignalError::NotFound),
            };
        };
        let journal_error = |e: crate::journal::JournalError| SignalError::Journal(e.to_string());
        match journal.load(id).await.map_err(journal_error)? {
            None => return Err(SignalError::NotFound),
            Some(run) if run.status.is_final() => return Err(SignalError::Finished),
            Some(_) => {}
        }
        let posted = PostedSignal {
            run_id: id.to_owned(),
            name: signal.name,
            id: signal.id,
            payload: signal.payload,
        };
        journal.post_signal(posted).await.map_err(journal_error)?;
        // A run parked here wakes for it.
        self.runtime.signal_posted(id);
        Ok(())
    }
}
