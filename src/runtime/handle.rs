//! Handles on a run in progress: watch its report as it grows, cancel it,
//! or wait for its end. A run actor owns the run; these only talk to it.

use std::sync::Arc;
use std::time::SystemTime;

use ractor::ActorRef;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::workflow::Workflow;

use super::log::RunLog;
use super::report::RunReport;
use super::run::RunMsg;
use super::{Recorded, RuntimeError};

/// How a run left its actor.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per run, moved once through a channel; boxing would only add an allocation"
)]
pub enum RunEnd {
    Finished(RunReport),
    /// Every open step sleeps or waits, nothing is in flight, and all is
    /// journaled: the actor stopped. Resume the run from the journal at
    /// `until` (when given) or when a signal for it is posted.
    Parked {
        until: Option<SystemTime>,
    },
}

/// A run just started.
pub struct RunHandle {
    pub run_id: String,
    watch: RunWatch,
    canceller: RunCanceller,
    report: oneshot::Receiver<RunEnd>,
}

impl RunHandle {
    pub(super) fn new(
        run_id: String,
        watch: RunWatch,
        canceller: RunCanceller,
        report: oneshot::Receiver<RunEnd>,
    ) -> Self {
        Self {
            run_id,
            watch,
            canceller,
            report,
        }
    }

    pub fn watch(&self) -> RunWatch {
        self.watch.clone()
    }

    pub fn canceller(&self) -> RunCanceller {
        self.canceller.clone()
    }

    /// Wait for the run's end. A runtime that parks runs
    /// ([`super::Runtime::park_waiting_runs`]) may see [`RuntimeError::Parked`].
    pub async fn finished(self) -> Result<RunReport, RuntimeError> {
        match self.ended().await? {
            RunEnd::Finished(report) => Ok(report),
            RunEnd::Parked { .. } => Err(RuntimeError::Parked),
        }
    }

    /// Wait until the run finishes or its actor parks it.
    pub async fn ended(self) -> Result<RunEnd, RuntimeError> {
        self.report.await.map_err(|_| RuntimeError::Lost)
    }
}

/// Read access to a run's log while it goes on.
#[derive(Clone, Debug)]
pub struct RunWatch {
    workflow: Arc<Workflow>,
    log: RunLog,
}

impl RunWatch {
    pub(super) fn new(workflow: Arc<Workflow>, log: RunLog) -> Self {
        Self { workflow, log }
    }

    /// The report as it stands now (status `running` until the run ends).
    pub fn progress(&self) -> RunReport {
        self.log.report(&self.workflow)
    }

    pub fn events(&self) -> Vec<Recorded> {
        self.log.snapshot()
    }
}

/// A signal for a run's `wait` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub name: String,
    /// The same id sent twice is one signal: an `Idempotency-Key`, or new.
    pub id: String,
    pub payload: Value,
}

/// Stops a run: steps in flight are cancelled and what ran is compensated.
/// It also carries signals to the run.
#[derive(Clone, Debug)]
pub struct RunCanceller {
    actor: ActorRef<RunMsg>,
}

impl RunCanceller {
    pub(super) fn new(actor: ActorRef<RunMsg>) -> Self {
        Self { actor }
    }

    /// Ask the run to stop. Returns false when it has already ended.
    pub fn cancel(&self) -> bool {
        self.actor.cast(RunMsg::Cancel).is_ok()
    }

    /// Ask the run to look again at what to do.
    pub fn nudge(&self) {
        let _ = self.actor.cast(RunMsg::Advance);
    }

    /// Whether the run's actor is still there.
    pub fn is_alive(&self) -> bool {
        !matches!(
            self.actor.get_status(),
            ractor::ActorStatus::Stopping | ractor::ActorStatus::Stopped
        )
    }

    /// Send the run a signal, done once it is journaled.
    pub async fn signal(&self, signal: Signal) -> Result<(), RuntimeError> {
        let (reply, ack) = oneshot::channel();
        self.actor
            .cast(RunMsg::Signal { signal, reply })
            .map_err(|_| RuntimeError::Lost)?;
        let ack = ack.await.map_err(|_| RuntimeError::Lost)?;
        ack.await.map_err(RuntimeError::from)
    }
}
