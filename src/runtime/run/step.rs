//! Carrying out calls and compensations for the run actor: a step's request
//! rendered and its attempts run in a task of their own; a compensation
//! handed to the run's saga actor (spawned then, the first time).

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug_span};

use super::super::attempt::{Operation, OperationKind};
use super::super::events::RunEvent;
use super::super::render::{CallIdentity, CallSpec, RenderError, render_request, step_key};
use super::super::saga::{SagaActor, SagaArgs, SagaMsg, StepRef};
use super::{Driver, RunMsg};
use crate::transport::CallRequest;

impl Driver {
    /// Start a step's attempts in a task; `attempts_before` were made by an
    /// earlier process. True if the step failed before any request left
    /// (its failure is logged).
    pub(super) fn launch(
        &mut self,
        myself: &ActorRef<RunMsg>,
        at: StepRef,
        attempts_before: u32,
    ) -> bool {
        let state = self.machine.state().at(at);
        let (step, step_id) = (state.def.clone(), state.id.clone());
        let call = step
            .call()
            .expect("the machine calls only steps that call a service");
        let request = match self.render(at) {
            Ok(request) => request,
            Err(e) => {
                drop(self.log.append(RunEvent::StepFailed {
                    step: step_id,
                    attempts: 0,
                    error: e.to_string(),
                    outcome_unknown: false,
                }));
                return true;
            }
        };
        let mut operation = Operation {
            kind: OperationKind::Step,
            step_id: step_id.clone(),
            service: self.services[&call.service].clone(),
            request,
            policy: call.retry.clone(),
            deadline: self.machine.deadline(),
            resumed_after: attempts_before,
        };
        let cancel = CancellationToken::new();
        self.calls.insert(at, cancel.clone());
        let (log, myself) = (self.log.clone(), myself.clone());
        // At debug, every line of the step's attempts carries who and what;
        // the lines logged at info name their run and step themselves, so
        // that a server at info creates no span per step.
        let span = debug_span!(
            parent: None,
            "step",
            run = %self.run_id,
            workflow = %self.workflow.name,
            step = %step_id,
            service = %call.service
        );
        tokio::spawn(
            async move {
                let outcome = operation.run(&log, &cancel).await;
                let _ = myself.cast(RunMsg::StepDone { at, outcome });
            }
            .instrument(span),
        );
        false
    }

    /// Step `at`'s request, rendered against the run's data.
    fn render(&self, at: StepRef) -> Result<CallRequest, RenderError> {
        let step = self.machine.state().at(at);
        let call = step
            .def
            .call()
            .expect("the machine calls only steps that call a service");
        let service = self
            .workflow
            .service(&call.service)
            .expect("validated: every step names a known service");
        let spec = CallSpec {
            service,
            call: &call.call,
            input: &call.input,
            headers: &call.headers,
            timeout: call.timeout,
        };
        let identity = CallIdentity {
            run_id: &self.run_id,
            step_id: &step.id,
            idempotency_key: step_key(&self.run_id, &step.id),
        };
        render_request(&spec, identity, self.machine.scope_of(at))
    }

    /// Hand a compensation to the saga actor, spawning it first.
    pub(super) async fn compensate(
        &mut self,
        myself: &ActorRef<RunMsg>,
        at: StepRef,
        deadline: Instant,
    ) -> Result<(), ActorProcessingErr> {
        let saga = match &self.saga {
            Some(saga) => saga,
            None => {
                let args = SagaArgs {
                    run_id: self.run_id.clone(),
                    workflow: self.workflow.clone(),
                    services: self.services.clone(),
                    log: self.log.clone(),
                    run: myself.clone(),
                };
                // Boxed: spawning is a large future, and the run actor's
                // message loop would otherwise keep room for it all along.
                let spawned = Actor::spawn_linked(None, SagaActor, args, myself.get_cell());
                let (saga, _) = Box::pin(spawned).await?;
                self.saga.insert(saga)
            }
        };
        let step = self.machine.state().at(at);
        saga.cast(SagaMsg::Compensate {
            step: step.def.clone(),
            step_id: step.id.clone(),
            scope: self.machine.scope_of(at).clone(),
            deadline,
        })?;
        Ok(())
    }
}
