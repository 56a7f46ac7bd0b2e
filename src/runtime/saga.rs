//! The saga actor: carries out the compensations the run's state machine
//! asks for, one at a time (the machine orders them: the step whose effect
//! came last first), each rendered at replay time against everything the run
//! has produced, and journals how each ended.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug_span, info, warn};

use crate::journal::JournalError;
use crate::template::Scope;
use crate::workflow::{Step, Workflow};

use super::ServiceMap;
use super::attempt::{Operation, OperationError, OperationKind};
use super::events::RunEvent;
use super::log::RunLog;
use super::render::{CallIdentity, CallSpec, compensation_key, render_request};
use super::run::RunMsg;

pub use crate::run::{StepDef, StepRef};

pub struct SagaActor;

pub enum SagaMsg {
    /// Undo `step`, named `step_id` in this run, against the data its
    /// templates read, giving up at `deadline`; then tell the run.
    Compensate {
        step: StepDef,
        step_id: String,
        scope: Scope,
        deadline: Instant,
    },
}

pub struct SagaArgs {
    pub run_id: String,
    pub workflow: Arc<Workflow>,
    pub services: ServiceMap,
    pub log: RunLog,
    /// The run actor, told when each compensation has ended.
    pub run: ActorRef<RunMsg>,
}

impl Actor for SagaActor {
    type Msg = SagaMsg;
    type State = Arc<SagaArgs>;
    type Arguments = SagaArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SagaArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(Arc::new(args))
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        saga: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let SagaMsg::Compensate {
            step,
            step_id,
            scope,
            deadline,
        } = msg;
        let saga = saga.clone();
        // Undoing is slow: run it in a task, not in the handler.
        let span = debug_span!(
            parent: None,
            "compensation",
            run = %saga.run_id,
            workflow = %saga.workflow.name
        );
        tokio::spawn(
            async move {
                let reply = match saga.undo(&step, &step_id, &scope, deadline).await {
                    Ok(()) => RunMsg::Compensated,
                    Err(lost) => RunMsg::Abandon(lost),
                };
                let _ = saga.run.cast(reply);
            }
            .instrument(span),
        );
        Ok(())
    }
}

impl SagaArgs {
    /// Undo one step and journal how it went; an error only when the run
    /// is held elsewhere now.
    async fn undo(
        &self,
        step: &Step,
        step_id: &str,
        scope: &Scope,
        deadline: Instant,
    ) -> Result<(), JournalError> {
        let Some(compensation) = step.compensation() else {
            return Ok(());
        };
        let service = self
            .workflow
            .service(&compensation.service)
            .expect("validated: compensations name known services");
        let spec = CallSpec {
            service,
            call: &compensation.call,
            input: &compensation.input,
            headers: &compensation.headers,
            timeout: None,
        };
        let identity = CallIdentity {
            run_id: &self.run_id,
            step_id,
            idempotency_key: compensation_key(&self.run_id, step_id),
        };
        let request = match render_request(&spec, identity, scope) {
            Ok(request) => request,
            Err(e) => {
                self.failed(step_id, 0, format!("compensation {e}"));
                return Ok(());
            }
        };
        let mut operation = Operation {
            kind: OperationKind::Compensation,
            step_id: step_id.to_owned(),
            service: self.services[&compensation.service].clone(),
            request,
            policy: service.retry.clone(),
            deadline: Some(deadline),
            resumed_after: 0,
        };
        // Compensations are never cancelled: a cancelled run must be undone.
        let outcome = operation.run(&self.log, &CancellationToken::new()).await;
        match outcome.result {
            Ok(_) => {
                info!(run = %self.run_id, step = %step_id, "compensated");
                drop(self.log.append(RunEvent::CompensationCompleted {
                    step: step_id.to_owned(),
                    attempts: outcome.attempts,
                }));
            }
            Err(OperationError::Journal(lost @ JournalError::LeaseLost { .. })) => {
                return Err(lost);
            }
            Err(e) => self.failed(step_id, outcome.attempts, e.to_string()),
        }
        Ok(())
    }

    fn failed(&self, step: &str, attempts: u32, error: String) {
        warn!(run = %self.run_id, step, error = %error, "compensation failed");
        drop(self.log.append(RunEvent::CompensationFailed {
            step: step.to_string(),
            attempts,
            error,
        }));
    }
}
