//! How the machine takes a recorded event into account: the run's state
//! folded, and the data each frame's templates read kept up to date.

use std::sync::Arc;

use serde_json::json;

use super::{Machine, RUN_DATA};
use crate::run::events::{Recorded, RunEvent};
use crate::run::state::{FrameId, StepRef, UnknownStep};
use crate::template::Scope;
use crate::workflow::OnFailure;

impl Machine {
    /// Take one recorded event into account.
    pub fn apply(&mut self, recorded: &Recorded) -> Result<(), UnknownStep> {
        self.state.apply(recorded)?;
        self.calling.resize(self.state.steps.len(), false);
        match &recorded.event {
            RunEvent::RunStarted {
                run_id,
                workflow,
                input,
                ..
            } => {
                let mut scope = Scope::with_input(Arc::clone(input));
                let started_at = humantime::format_rfc3339_millis(recorded.at).to_string();
                let run = json!({"id": run_id, "workflow": workflow, "started_at": started_at});
                scope.insert(RUN_DATA, run);
                self.scopes[0] = scope;
            }
            RunEvent::CompensationsRetried => {
                (self.finishing, self.undoing, self.undo_deadline) = (false, None, None);
            }
            RunEvent::ForeachStarted { step, items } => self.elements_opened(step, items),
            RunEvent::WorkflowStarted { step, input } => self.child_opened(step, input),
            RunEvent::StepSkipped { step } => {
                if let Some((frame, name)) = self.ended(step).and_then(|at| self.output_of(at)) {
                    self.scopes[frame].skip(&name);
                }
            }
            RunEvent::StepCompleted { step, output, .. } => {
                if let Some(at) = self.ended(step) {
                    if let Some((frame, name)) = self.output_of(at) {
                        self.scopes[frame].insert_shared(&name, Arc::clone(output));
                    }
                    self.signal_taken(at);
                }
            }
            RunEvent::SignalReceived { name, id, payload } => {
                self.signal_received(name, id, payload);
            }
            RunEvent::StepFailed { step, .. } => {
                // A failure let through: later steps read its output as null.
                if let Some(at) = self.ended(step).filter(|&at| self.continues(at))
                    && let Some((frame, name)) = self.output_of(at)
                {
                    self.scopes[frame].skip(&name);
                }
            }
            RunEvent::StepCancelled { step, .. } => {
                self.ended(step);
            }
            RunEvent::CompensationCompleted { .. } | RunEvent::CompensationFailed { .. } => {
                self.undoing = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// A step has an outcome: it is no longer called.
    fn ended(&mut self, step: &str) -> Option<StepRef> {
        let i = self.state.index_of(step)?;
        self.calling[i] = false;
        Some(self.state.steps[i].at)
    }

    /// The frame step `at`'s output is kept in, and its name, if any.
    fn output_of(&self, at: StepRef) -> Option<(FrameId, String)> {
        let step = self.state.at(at);
        step.def.output.clone().map(|name| (step.frame, name))
    }

    /// Whether the run goes on past step `at`'s failure.
    fn continues(&self, at: StepRef) -> bool {
        self.state.at(at).def.on_failure == OnFailure::Continue
    }
}
