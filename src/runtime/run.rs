//! The workflow-run actor: walks the steps in order, evaluates `when`,
//! renders inputs, launches each step (or a parallel group's branches) as a
//! task, stores outputs, enforces the workflow timeout, and on failure hands
//! over to the saga actor.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span};

use crate::template::Scope;
use crate::workflow::{Node, Step, Workflow};

use super::ServiceHandle;
use super::attempt::{Operation, OperationError, OperationKind, OperationOutcome};
use super::events::{RunEvent, RunStatus};
use super::log::RunLog;
use super::render::{CallIdentity, CallSpec, render_request, step_key};
use super::report::RunReport;
use super::saga::{SagaActor, SagaArgs, SagaMsg, SagaOutcome, StepRef};

pub struct RunActor;

pub struct RunArgs {
    pub run_id: String,
    pub workflow: Arc<Workflow>,
    pub input: Value,
    pub services: Arc<HashMap<String, ServiceHandle>>,
    pub log: RunLog,
    pub done: oneshot::Sender<RunReport>,
}

pub enum RunMsg {
    /// Start whatever comes next.
    Advance,
    /// A launched step has ended.
    StepDone {
        at: StepRef,
        outcome: OperationOutcome,
    },
    /// The workflow timeout fired.
    Timeout,
    /// Stop the run and compensate what it did.
    Cancel,
    /// The saga has replayed every compensation it held.
    Compensated(SagaOutcome),
}

/// Why a run stopped going forward.
#[derive(Debug, Clone)]
enum Stop {
    Failed { step: String, error: String },
    TimedOut,
    Cancelled,
}

pub struct RunState {
    run_id: String,
    workflow: Arc<Workflow>,
    services: Arc<HashMap<String, ServiceHandle>>,
    log: RunLog,
    done: Option<oneshot::Sender<RunReport>>,
    scope: Scope,
    /// Index of the node being run.
    cursor: usize,
    /// Cancellation of each step in flight, by step id.
    in_flight: HashMap<String, CancellationToken>,
    stop: Option<Stop>,
    compensating: bool,
    deadline: Option<Instant>,
    saga: ActorRef<SagaMsg>,
}

impl Actor for RunActor {
    type Msg = RunMsg;
    type State = RunState;
    type Arguments = RunArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RunArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        args.log.append(RunEvent::RunStarted {
            run_id: args.run_id.clone(),
            workflow: args.workflow.name.clone(),
            input: args.input.clone(),
        });
        info!(run = %args.run_id, workflow = %args.workflow.name, "run started");
        let (saga, _) = Actor::spawn_linked(
            None,
            SagaActor,
            SagaArgs {
                run_id: args.run_id.clone(),
                workflow: args.workflow.clone(),
                services: args.services.clone(),
                log: args.log.clone(),
            },
            myself.get_cell(),
        )
        .await?;
        let deadline = args.workflow.timeout.map(|t| {
            myself.send_after(t, || RunMsg::Timeout);
            Instant::now() + t
        });
        myself.cast(RunMsg::Advance)?;
        Ok(RunState {
            scope: Scope::new(args.input),
            run_id: args.run_id,
            workflow: args.workflow,
            services: args.services,
            log: args.log,
            done: Some(args.done),
            cursor: 0,
            in_flight: HashMap::new(),
            stop: None,
            compensating: false,
            deadline,
            saga,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RunMsg::Advance => state.advance(&myself),
            RunMsg::StepDone { at, outcome } => {
                state.step_done(at, outcome);
                state.after_step(&myself);
            }
            RunMsg::Timeout => state.halt(&myself, Stop::TimedOut),
            RunMsg::Cancel => state.halt(&myself, Stop::Cancelled),
            RunMsg::Compensated(outcome) => state.finish(&myself, Some(outcome)),
        }
        Ok(())
    }
}

impl RunState {
    fn step(&self, at: StepRef) -> &Step {
        at.resolve(&self.workflow)
    }

    /// Launch the next node, skipping steps whose `when` is false, until a
    /// step is in flight, the run stops, or there is nothing left.
    fn advance(&mut self, myself: &ActorRef<RunMsg>) {
        while self.stop.is_none() && self.cursor < self.workflow.steps.len() {
            let node = self.cursor;
            let branches = match &self.workflow.steps[node] {
                Node::Step(_) => 1,
                Node::Parallel(group) => group.branches.len(),
            };
            for branch in 0..branches {
                let at = StepRef { node, branch };
                if self.should_run(at) {
                    self.launch(myself, at);
                }
            }
            if !self.in_flight.is_empty() {
                return;
            }
            self.cursor += 1;
        }
        self.after_step(myself);
    }

    /// Evaluate `when`; a skipped step's output reads as null from now on.
    /// A condition that cannot be evaluated stops the run.
    fn should_run(&mut self, at: StepRef) -> bool {
        if self.stop.is_some() {
            return false;
        }
        let step = self.step(at);
        let Some(condition) = &step.when else {
            return true;
        };
        match condition.evaluate(&self.scope) {
            Ok(true) => true,
            Ok(false) => {
                let (id, output) = (step.id.clone(), step.output.clone());
                debug!(run = %self.run_id, step = %id, "skipped: condition is false");
                if let Some(name) = output {
                    self.scope.skip(&name);
                }
                self.log.append(RunEvent::StepSkipped { step: id });
                false
            }
            Err(e) => {
                let id = step.id.clone();
                self.fail_before_sending(&id, format!("`when` could not be evaluated: {e}"));
                false
            }
        }
    }

    fn launch(&mut self, myself: &ActorRef<RunMsg>, at: StepRef) {
        let step = at.resolve(&self.workflow);
        let service = self
            .workflow
            .service(&step.service)
            .expect("validated: every step names a known service");
        let spec = CallSpec {
            service,
            call: &step.call,
            input: &step.input,
            headers: &step.headers,
            timeout: step.timeout,
        };
        let identity = CallIdentity {
            run_id: &self.run_id,
            step_id: &step.id,
            idempotency_key: step_key(&self.run_id, &step.id),
        };
        let request = match render_request(&spec, identity, &self.scope) {
            Ok(request) => request,
            Err(e) => {
                let id = step.id.clone();
                self.fail_before_sending(&id, format!("input could not be rendered: {e}"));
                return;
            }
        };
        let operation = Operation {
            kind: OperationKind::Step,
            step_id: step.id.clone(),
            service: self.services[&step.service].clone(),
            request,
            policy: step.retry.clone(),
            deadline: self.deadline,
        };
        let cancel = CancellationToken::new();
        self.in_flight.insert(step.id.clone(), cancel.clone());
        let (log, myself) = (self.log.clone(), myself.clone());
        // Every log line of the step's attempts carries who and what.
        let span = info_span!(
            parent: None,
            "step",
            run = %self.run_id,
            workflow = %self.workflow.name,
            step = %step.id,
            service = %step.service
        );
        tokio::spawn(
            async move {
                let outcome = operation.run(&log, &cancel).await;
                let _ = myself.cast(RunMsg::StepDone { at, outcome });
            }
            .instrument(span),
        );
    }

    /// A step that failed before any request left: nothing to compensate.
    fn fail_before_sending(&mut self, step: &str, error: String) {
        self.log.append(RunEvent::StepFailed {
            step: step.to_string(),
            attempts: 0,
            error: error.clone(),
            outcome_unknown: false,
        });
        self.stop_with(Stop::Failed {
            step: step.to_string(),
            error,
        });
    }

    fn step_done(&mut self, at: StepRef, outcome: OperationOutcome) {
        let step = at.resolve(&self.workflow);
        let (id, has_compensation) = (step.id.clone(), step.compensate.is_some());
        let output_name = step.output.clone();
        self.in_flight.remove(&id);
        let unknown = outcome.outcome_unknown;
        match outcome.result {
            Ok(value) => {
                self.log.append(RunEvent::StepCompleted {
                    step: id,
                    attempts: outcome.attempts,
                    output: value.clone(),
                });
                if let Some(name) = output_name {
                    self.scope.insert(&name, value);
                }
                if has_compensation {
                    self.saga.cast(SagaMsg::Record(at)).ok();
                }
            }
            Err(OperationError::Cancelled) => {
                self.log.append(RunEvent::StepCancelled {
                    step: id,
                    outcome_unknown: unknown,
                });
                if unknown && has_compensation {
                    self.saga.cast(SagaMsg::Record(at)).ok();
                }
            }
            Err(error) => {
                self.log.append(RunEvent::StepFailed {
                    step: id.clone(),
                    attempts: outcome.attempts,
                    error: error.to_string(),
                    outcome_unknown: unknown,
                });
                // Applied or not, we cannot tell: undo it to be safe.
                if unknown && has_compensation {
                    self.saga.cast(SagaMsg::Record(at)).ok();
                }
                let timed_out = self.deadline.is_some_and(|d| Instant::now() >= d);
                self.stop_with(if timed_out {
                    Stop::TimedOut
                } else {
                    Stop::Failed {
                        step: id,
                        error: error.to_string(),
                    }
                });
            }
        }
    }

    /// Once nothing is in flight: go on, compensate, or finish.
    fn after_step(&mut self, myself: &ActorRef<RunMsg>) {
        if !self.in_flight.is_empty() || self.compensating {
            return;
        }
        if self.stop.is_some() {
            self.compensating = true;
            let _ = self.saga.cast(SagaMsg::Compensate {
                scope: self.scope.clone(),
                reply: myself.clone(),
            });
        } else if self.cursor < self.workflow.steps.len() {
            // The node under the cursor is done.
            self.cursor += 1;
            let _ = myself.cast(RunMsg::Advance);
        } else {
            self.finish(myself, None);
        }
    }

    /// Record the first reason to stop and cancel every step in flight.
    fn stop_with(&mut self, stop: Stop) {
        if self.stop.is_none() {
            self.stop = Some(stop);
        }
        for token in self.in_flight.values() {
            token.cancel();
        }
    }

    fn halt(&mut self, myself: &ActorRef<RunMsg>, stop: Stop) {
        if self.compensating || self.done.is_none() {
            return;
        }
        self.stop_with(stop);
        self.after_step(myself);
    }

    fn finish(&mut self, myself: &ActorRef<RunMsg>, saga: Option<SagaOutcome>) {
        let Some(done) = self.done.take() else {
            return;
        };
        let compensation_failed = saga.as_ref().is_some_and(|s| !s.failed.is_empty());
        let (status, mut error) = match &self.stop {
            None => (RunStatus::Succeeded, None),
            Some(_) if compensation_failed => (RunStatus::CompensationFailed, None),
            Some(Stop::Failed { .. }) => (RunStatus::Compensated, None),
            Some(Stop::TimedOut) => (RunStatus::TimedOut, None),
            Some(Stop::Cancelled) => (RunStatus::Cancelled, None),
        };
        error = error.or_else(|| match &self.stop {
            Some(Stop::Failed { step, error }) => Some(format!("step `{step}` failed: {error}")),
            Some(Stop::TimedOut) => Some(format!(
                "workflow timed out after {}",
                humantime::format_duration(self.workflow.timeout.unwrap_or_default())
            )),
            Some(Stop::Cancelled) => Some("run cancelled".into()),
            None => None,
        });
        let output = match status {
            RunStatus::Succeeded => match self.render_output() {
                Ok(output) => Some(output),
                Err(e) => {
                    error = Some(format!("workflow output could not be rendered: {e}"));
                    None
                }
            },
            _ => None,
        };
        self.log.append(RunEvent::RunFinished {
            status,
            output: output.clone(),
        });
        info!(run = %self.run_id, workflow = %self.workflow.name, status = ?status, "run finished");
        let report = RunReport::from_events(&self.workflow, &self.log.snapshot(), error);
        let _ = done.send(report);
        self.saga.stop(None);
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
