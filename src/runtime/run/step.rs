//! A step's life as the run actor sees it: its request rendered and its
//! attempts launched in a task of their own, and its end journaled, its
//! output kept, and, if it may need undoing, handed to the saga actor
//! (spawned then, the first time).

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug_span};

use super::super::attempt::{Operation, OperationError, OperationKind, OperationOutcome};
use super::super::events::{HaltReason, RunEvent};
use super::super::render::{CallIdentity, CallSpec, render_request, step_key};
use super::super::saga::{SagaActor, SagaArgs, SagaMsg, StepRef};
use super::{RunMsg, RunState};

impl RunState {
    /// Start a step's attempts in a task; `resumed_after` attempts were
    /// made by an earlier process.
    pub(super) fn launch(&mut self, myself: &ActorRef<RunMsg>, at: StepRef, resumed_after: u32) {
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
                self.fail_before_sending(&id, e.to_string());
                return;
            }
        };
        let mut operation = Operation {
            kind: OperationKind::Step,
            step_id: step.id.clone(),
            service: self.services[&step.service].clone(),
            request,
            policy: step.retry.clone(),
            deadline: self.deadline,
            resumed_after,
        };
        let cancel = CancellationToken::new();
        self.in_flight.insert(step.id.clone(), cancel.clone());
        let (log, myself) = (self.log.clone(), myself.clone());
        // At debug, every line of the step's attempts carries who and what;
        // the lines logged at info name their run and step themselves, so
        // that a server at info creates no span per step.
        let span = debug_span!(
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
    pub(super) fn fail_before_sending(&mut self, step: &str, error: String) {
        let _queued = self.log.append(RunEvent::StepFailed {
            step: step.to_string(),
            attempts: 0,
            error: error.clone(),
            outcome_unknown: false,
        });
        self.stop_with(HaltReason::Failed {
            step: step.to_string(),
            error,
        });
    }

    /// Journal how a step ended; the step, if the saga must remember it.
    pub(super) fn step_done(&mut self, at: StepRef, outcome: OperationOutcome) -> Option<StepRef> {
        let step = at.resolve(&self.workflow);
        let (id, has_compensation) = (step.id.clone(), step.compensate.is_some());
        let output_name = step.output.clone();
        self.in_flight.remove(&id);
        let unknown = outcome.outcome_unknown;
        match outcome.result {
            Ok(value) => {
                let _queued = self.log.append(RunEvent::StepCompleted {
                    step: id,
                    attempts: outcome.attempts,
                    output: value.clone(),
                });
                if let Some(name) = output_name {
                    self.scope.insert(&name, value);
                }
                has_compensation.then_some(at)
            }
            Err(OperationError::Cancelled) => {
                let _queued = self.log.append(RunEvent::StepCancelled {
                    step: id,
                    outcome_unknown: unknown,
                });
                (unknown && has_compensation).then_some(at)
            }
            Err(error) => {
                let _queued = self.log.append(RunEvent::StepFailed {
                    step: id.clone(),
                    attempts: outcome.attempts,
                    error: error.to_string(),
                    outcome_unknown: unknown,
                });
                let timed_out = self.deadline.is_some_and(|d| Instant::now() >= d);
                self.stop_with(if timed_out {
                    HaltReason::TimedOut {
                        after: self.workflow.timeout.unwrap_or_default(),
                    }
                } else {
                    HaltReason::Failed {
                        step: id,
                        error: error.to_string(),
                    }
                });
                // Applied or not, we cannot tell: undo it to be safe.
                (unknown && has_compensation).then_some(at)
            }
        }
    }

    /// Hand a step that may need undoing to the saga, spawning it first.
    pub(super) async fn record(
        &mut self,
        myself: &ActorRef<RunMsg>,
        at: StepRef,
    ) -> Result<(), ActorProcessingErr> {
        match &self.saga {
            Some(saga) => saga.cast(SagaMsg::Record(at))?,
            None => {
                let args = SagaArgs {
                    run_id: self.run_id.clone(),
                    workflow: self.workflow.clone(),
                    services: self.services.clone(),
                    log: self.log.clone(),
                    undo: vec![at],
                    failed: Vec::new(),
                };
                self.saga = Some(spawn_saga(myself, args).await?);
            }
        }
        Ok(())
    }
}

/// The run's saga actor, linked to it, unnamed: nothing looks it up.
pub(super) async fn spawn_saga(
    run: &ActorRef<RunMsg>,
    args: SagaArgs,
) -> Result<ActorRef<SagaMsg>, ActorProcessingErr> {
    // Boxed: spawning is a large future, and the run actor's message loop
    // would otherwise keep room for it all the run long.
    let (saga, _) = Box::pin(Actor::spawn_linked(None, SagaActor, args, run.get_cell())).await?;
    Ok(saga)
}
