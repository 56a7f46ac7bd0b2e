//! How a run ends here: its end journaled before the report goes out; or,
//! when another replica owns it now, no end here at all.

use ractor::ActorRef;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::journal::JournalError;
use crate::run::{Finished, RunStatus};

use super::super::events::RunEvent;
use super::super::handle::RunEnd;
use super::super::report::RunReport;
use super::{Driver, RunMsg};

impl Driver {
    /// Another replica owns the run now, or may: stop driving it, write
    /// nothing more of it, undo nothing.
    pub(super) fn abandon(&mut self, myself: &ActorRef<RunMsg>, error: &JournalError) {
        warn!(run = %self.run_id, error = %error, "run abandoned");
        self.log.abandon();
        for token in self.calls.values() {
            token.cancel();
        }
        // Dropping `done` tells the handle there is no report here.
        self.done = None;
        self.stop(myself);
    }

    /// Journal the run's end, then send the report and stop.
    pub(super) async fn finish(&mut self, myself: &ActorRef<RunMsg>, finished: Finished) {
        let Some(done) = self.done.take() else {
            return;
        };
        let status = finished.status;
        let event = RunEvent::RunFinished {
            status,
            output: finished.output,
            error: finished.error,
        };
        match self.log.append(event).await {
            Err(e @ JournalError::LeaseLost { .. }) => {
                self.done = Some(done);
                self.abandon(myself, &e);
                return;
            }
            Err(e) => error!(run = %self.run_id, error = %e, "the run's end was not journaled"),
            Ok(()) => {}
        }
        // A run that ended well is counted by the metrics and kept in the
        // journal; a line each would cost a server at load a share of its
        // CPU. How the others ended is worth a line.
        if status == RunStatus::Succeeded {
            debug!(run = %self.run_id, workflow = %self.workflow.name, "run finished");
        } else {
            info!(run = %self.run_id, workflow = %self.workflow.name, status = ?status, "run finished");
        }
        // The machine's state is the fold of the run's events: no need to
        // fold them again for the report.
        let report = match self.catch_up() {
            Ok(()) => RunReport::from_state(&self.workflow, self.machine.state(), None),
            Err(_) => self.log.report(&self.workflow),
        };
        let _ = done.send(RunEnd::Finished(report));
        self.stop(myself);
    }

    /// Whether this runtime parks runs, the run has nothing in flight, every
    /// open step sleeps or waits, and no signal is on its way to it.
    pub(super) fn may_park(&self) -> bool {
        self.done.is_some()
            && self.park.as_ref().is_some_and(|p| !p.has(&self.run_id))
            && self.machine.idle_until(Instant::now()).is_some()
    }

    /// Nothing in flight and every open step sleeping or waiting: journal
    /// until when, then stop; whoever holds the handle resumes the run
    /// from the journal. The event's write is queued after every other of
    /// the run's, so once it is durable the journal holds the whole run.
    pub(super) async fn park_if_idle(&mut self, myself: &ActorRef<RunMsg>) {
        let Some(until) = self.machine.idle_until(Instant::now()) else {
            return;
        };
        let Some(done) = self.done.take() else {
            return;
        };
        match self.log.append(RunEvent::RunParked { until }).await {
            Ok(()) => {
                debug!(run = %self.run_id, "run parked until it is time or a signal comes");
                let _ = done.send(RunEnd::Parked { until });
                self.stop(myself);
            }
            Err(e @ JournalError::LeaseLost { .. }) => {
                self.done = Some(done);
                self.abandon(myself, &e);
            }
            // Not parked: the run goes on waiting here.
            Err(e) => {
                warn!(run = %self.run_id, error = %e, "the run could not be parked");
                self.done = Some(done);
            }
        }
    }

    fn stop(&mut self, myself: &ActorRef<RunMsg>) {
        if let Some(saga) = &self.saga {
            saga.stop(None);
        }
        for timer in self.timers.drain(..) {
            timer.abort();
        }
        myself.stop(None);
    }
}
