//! How a run ends: its status from why it halted and what the saga could
//! undo, its output rendered, its end journaled before the report goes out;
//! or, when another replica owns it now, no end here at all.

use ractor::ActorRef;
use serde_json::{Map, Value};
use tracing::{error, info, warn};

use crate::journal::JournalError;

use super::super::events::{RunEvent, RunStatus};
use super::super::saga::SagaOutcome;
use super::{RunMsg, RunState};

impl RunState {
    /// Another replica owns the run now, or may: stop driving it, write
    /// nothing more of it, undo nothing.
    pub(super) fn abandon(&mut self, myself: &ActorRef<RunMsg>, error: &JournalError) {
        warn!(run = %self.run_id, error = %error, "run abandoned");
        self.log.abandon();
        for token in self.in_flight.values() {
            token.cancel();
        }
        // Dropping `done` tells the handle there is no report here.
        self.done = None;
        if let Some(saga) = &self.saga {
            saga.stop(None);
        }
        myself.stop(None);
    }

    pub(super) async fn finish(&mut self, myself: &ActorRef<RunMsg>, saga: Option<SagaOutcome>) {
        let Some(done) = self.done.take() else {
            return;
        };
        if saga.as_ref().is_some_and(|s| s.abandoned) {
            warn!(run = %self.run_id, "run abandoned during compensation");
            self.log.abandon();
            if let Some(saga) = &self.saga {
                saga.stop(None);
            }
            myself.stop(None);
            return;
        }
        let compensation_failed = saga.as_ref().is_some_and(|s| !s.failed.is_empty());
        let status = match &self.stop {
            None => RunStatus::Succeeded,
            Some(reason) => reason.status(compensation_failed),
        };
        let mut error = None;
        let mut output = None;
        if status == RunStatus::Succeeded {
            match self.render_output() {
                Ok(value) => output = Some(value),
                Err(e) => {
                    error = Some(format!("workflow output could not be rendered: {e}"));
                }
            }
        }
        let finished = self.log.append(RunEvent::RunFinished {
            status,
            output,
            error,
        });
        match finished.await {
            Err(e @ JournalError::LeaseLost { .. }) => {
                self.done = Some(done);
                self.abandon(myself, &e);
                return;
            }
            Err(e) => error!(run = %self.run_id, error = %e, "the run's end was not journaled"),
            Ok(()) => {}
        }
        info!(run = %self.run_id, workflow = %self.workflow.name, status = ?status, "run finished");
        let report = self.log.report(&self.workflow);
        let _ = done.send(report);
        if let Some(saga) = &self.saga {
            saga.stop(None);
        }
        myself.stop(None);
    }

    /// The `output` block, or every named output when there is none.
    fn render_output(&self) -> Result<Value, crate::template::TemplateError> {
        if let Some(template) = &self.workflow.output {
            return template.render(&self.scope);
        }
        let mut out = Map::new();
        for step in self.workflow.all_steps() {
            if let Some(name) = &step.output {
                let value = self.scope.get(name).cloned().unwrap_or(Value::Null);
                out.insert(name.clone(), value);
            }
        }
        Ok(Value::Object(out))
    }
}
