//! How a run ends: going through, its output rendered; or halted, what is
//! in flight cancelled and what took effect undone, newest first.

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{Command, Machine};
use crate::run::RunStatus;
use crate::run::events::RunEvent;
use crate::run::state::{Finished, Phase, StepState, Undo};
use crate::template::{Scope, TemplateError, ValueTemplate};
use crate::workflow::{Node, block_steps};

impl Machine {
    /// The end of a run that went through: its output rendered.
    pub(super) fn succeeded(&mut self) -> Command {
        self.finishing = true;
        let workflow = &self.workflow;
        let (output, error) =
            match render_output(&workflow.output, &workflow.steps, &self.scopes[0]) {
                Ok(value) => (Some(value), None),
                Err(e) => (
                    None,
                    Some(format!("workflow output could not be rendered: {e}")),
                ),
            };
        Command::Finish(Finished {
            status: RunStatus::Succeeded,
            output,
            error,
        })
    }

    /// A halted run: cancel what is in flight, then undo what took effect,
    /// newest first, one at a time; then end.
    pub(super) fn backward(&mut self, now: Instant, commands: &mut Vec<Command>) {
        if self.calling.iter().any(|&c| c) {
            if !self.cancel_asked {
                self.cancel_asked = true;
                commands.push(Command::CancelCalls);
            }
            return;
        }
        // A sleep or a wait ends with the run: it has nothing to undo.
        if let Some(step) = self.state.waiting().next() {
            commands.push(Command::Record(RunEvent::StepCancelled {
                step: step.id.clone(),
                outcome_unknown: false,
            }));
            return;
        }
        // Calls an earlier process had in flight when it stopped: whether
        // they took effect, nobody knows.
        if let Some(step) = self.state.interrupted().next() {
            commands.push(Command::Record(RunEvent::StepCancelled {
                step: step.id.clone(),
                outcome_unknown: true,
            }));
            return;
        }
        // A foreach or a child workflow stopped halfway: innermost first.
        let open = |s: &&StepState| s.frames.is_some() && s.phase == Phase::Running;
        if let Some(step) = self.state.steps.iter().rev().find(open) {
            commands.push(Command::Record(RunEvent::StepCancelled {
                step: step.id.clone(),
                outcome_unknown: false,
            }));
            return;
        }
        if self.undoing.is_some() {
            return;
        }
        let timeout = self.workflow.compensation_timeout;
        let deadline = *self.undo_deadline.get_or_insert(now + timeout);
        if let Some(step) = self.state.to_undo().next() {
            self.undoing = Some(step.at);
            commands.push(Command::Compensate {
                at: step.at,
                deadline,
            });
            return;
        }
        let undo_failed = self
            .state
            .compensations()
            .any(|s| matches!(s.undo, Undo::Failed { .. }));
        let halt = self.state.halt.as_ref().expect("backward runs once halted");
        self.finishing = true;
        commands.push(Command::Finish(Finished {
            status: halt.status(undo_failed),
            output: None,
            error: None,
        }));
    }
}

/// A workflow's `output` block over its data, or every named output of its
/// own steps when there is none.
pub(super) fn render_output(
    output: &Option<ValueTemplate>,
    steps: &[Node],
    scope: &Scope,
) -> Result<Value, TemplateError> {
    match output {
        Some(template) => template.render(scope),
        None => Ok(named_outputs(steps, scope)),
    }
}

/// Every named output of `steps` (not of the steps within them), null for
/// one that was skipped or failed and let through.
pub(super) fn named_outputs(steps: &[Node], scope: &Scope) -> Value {
    let mut out = Map::new();
    for step in block_steps(steps) {
        if let Some(name) = &step.output {
            let value = scope.get(name).cloned().unwrap_or(Value::Null);
            out.insert(name.clone(), value);
        }
    }
    Value::Object(out)
}
