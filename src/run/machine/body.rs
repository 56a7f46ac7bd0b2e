//! Steps that hold steps: a foreach runs its body once per element of a
//! list, a workflow step a child workflow's steps. Each opens frames when
//! it begins (journaled with the list or the child's input) and ends, with
//! its output, once every frame has.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::end::{named_outputs, render_output};
use super::{Command, Flow, Machine, RUN_DATA};
use crate::run::events::RunEvent;
use crate::run::state::{Phase, StepRef};
use crate::template::Scope;
use crate::workflow::{Action, Foreach, MAX_FOREACH_ITEMS, OnFailure, SubWorkflow};

impl Machine {
    /// A foreach begins: its list rendered and journaled.
    pub(super) fn foreach_started(&self, at: StepRef, each: &Foreach) -> Result<Command, String> {
        let rendered = each
            .items
            .render(self.scope_of(at))
            .map_err(|e| format!("`foreach` could not be rendered: {e}"))?;
        let Value::Array(items) = rendered else {
            return Err(format!(
                "`foreach` must give a list: `{}` gave {}",
                each.items.source(),
                kind_of(&rendered)
            ));
        };
        if items.len() > MAX_FOREACH_ITEMS {
            return Err(format!(
                "`foreach` gave {} elements, more than the {MAX_FOREACH_ITEMS} a foreach takes",
                items.len()
            ));
        }
        let step = self.state.at(at).id.clone();
        Ok(Command::Record(RunEvent::ForeachStarted { step, items }))
    }

    /// A child workflow begins: its input rendered, checked against its
    /// `input_schema` (defaults filled in) and journaled.
    pub(super) fn workflow_started(
        &self,
        at: StepRef,
        child: &SubWorkflow,
    ) -> Result<Command, String> {
        let input = child
            .input
            .render(self.scope_of(at))
            .map_err(|e| format!("the child workflow's `input` could not be rendered: {e}"))?;
        let input = child
            .workflow
            .check_input(input)
            .map_err(|e| format!("`{}` refused its input: {e}", child.path))?;
        let step = self.state.at(at).id.clone();
        Ok(Command::Record(RunEvent::WorkflowStarted { step, input }))
    }

    /// A foreach's frames opened: each element reads the data its foreach
    /// did, and its element and position.
    pub(super) fn elements_opened(&mut self, step: &str, items: &[Value]) {
        let Some(i) = self.state.index_of(step) else {
            return;
        };
        let Action::Foreach(each) = &self.state.steps[i].def.action else {
            return;
        };
        let (alias, index) = (each.alias.clone(), each.index_name());
        let outer = self.scopes[self.state.steps[i].frame].clone();
        for (k, item) in items.iter().enumerate() {
            let mut scope = outer.clone();
            scope.insert(&alias, item.clone());
            scope.insert(&index, json!(k));
            self.scopes.push(scope);
        }
        debug_assert_eq!(self.scopes.len(), self.state.frames.len());
    }

    /// A child workflow's frame opened: it reads its own input, and the run.
    pub(super) fn child_opened(&mut self, _step: &str, input: &Value) {
        let mut scope = Scope::new(input.clone());
        if let Some(run) = self.scopes[0].get(RUN_DATA) {
            scope.insert(RUN_DATA, run.clone());
        }
        self.scopes.push(scope);
        debug_assert_eq!(self.scopes.len(), self.state.frames.len());
    }

    /// Go on with a foreach's elements (in order, at most `concurrency` at
    /// once) or a child's steps; once all ended, the step ends. True if a
    /// step failed before it could begin.
    pub(super) fn forward_body(
        &mut self,
        at: StepRef,
        now: Instant,
        commands: &mut Vec<Command>,
    ) -> bool {
        let i = at.index();
        let frames = self.state.steps[i].frames.clone().expect("a started body");
        let limit = match &self.state.steps[i].def.action {
            Action::Foreach(each) => each.concurrency.get() as usize,
            _ => 1,
        };
        let steps = &self.state.steps;
        let from = self.open_from.entry(i).or_insert(frames.start);
        while *from < frames.end && self.state.frames[*from].first_open(steps).is_none() {
            *from += 1;
        }
        let from = *from;
        if from == frames.end {
            commands.push(self.body_ended(at));
            return false;
        }
        let mut active = 0;
        for frame in from..frames.end {
            let open = &self.state.frames[frame];
            if open.first_open(&self.state.steps).is_none() {
                continue;
            }
            if active == limit && !open.started(&self.state.steps) {
                break;
            }
            active += 1;
            if self.forward_frame(frame, now, commands) == Flow::Stop {
                return true;
            }
        }
        false
    }

    /// Every frame of step `at` ended: it completes with its output, or
    /// fails with the first failure in it not let through.
    fn body_ended(&self, at: StepRef) -> Command {
        let step = self.state.at(at);
        let frames = step.frames.clone().expect("a started body");
        let failed = frames
            .clone()
            .flat_map(|f| self.state.frames[f].steps())
            .map(|s| &self.state.steps[s])
            .find(|s| s.phase == Phase::Failed && s.def.on_failure != OnFailure::Continue);
        let output = match (failed, &step.def.action) {
            (Some(failed), _) => Err(format!(
                "step `{}` failed: {}",
                failed.id,
                failed.error.as_deref().unwrap_or_default()
            )),
            (None, Action::Workflow(child)) => render_output(
                &child.workflow.output,
                &child.workflow.steps,
                &self.scopes[frames.start],
            )
            .map_err(|e| format!("the child workflow's output could not be rendered: {e}")),
            (None, Action::Foreach(each)) => Ok(Value::Array(
                frames
                    .map(|f| named_outputs(&each.body, &self.scopes[f]))
                    .collect(),
            )),
            (None, _) => Ok(Value::Null),
        };
        let id = step.id.clone();
        Command::Record(match output {
            Ok(output) => RunEvent::StepCompleted {
                step: id,
                attempts: 0,
                output: output.into(),
            },
            Err(error) => RunEvent::StepFailed {
                step: id,
                attempts: 0,
                error,
                outcome_unknown: false,
            },
        })
    }
}

/// What a value is, for a message.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
