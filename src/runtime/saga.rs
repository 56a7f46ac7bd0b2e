//! The saga actor: remembers, in order of completion, every step that has a
//! compensation and may have taken effect, and on failure replays their
//! compensations in reverse, one after another, each rendered at replay time
//! against everything the run has produced.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug_span, info, warn};

use crate::template::Scope;
use crate::workflow::Workflow;

use super::ServiceHandle;
use crate::journal::JournalError;

use super::attempt::{Operation, OperationError, OperationKind};
use super::events::RunEvent;
use super::log::RunLog;
use super::render::{CallIdentity, CallSpec, compensation_key, render_request};
use super::run::RunMsg;

pub use crate::run::StepRef;

pub struct SagaActor;

pub enum SagaMsg {
    /// This step may have taken effect and has a compensation.
    Record(StepRef),
    /// Undo everything recorded, newest first, then tell `reply`.
    Compensate {
        scope: Scope,
        reply: ActorRef<RunMsg>,
    },
}

/// What the replay could not undo.
#[derive(Debug, Clone, Default)]
pub struct SagaOutcome {
    /// Step id and the compensation's last error.
    pub failed: Vec<(String, String)>,
    /// Another replica took the run over mid-replay: it goes on there.
    pub abandoned: bool,
}

pub struct SagaArgs {
    pub run_id: String,
    pub workflow: Arc<Workflow>,
    pub services: Arc<HashMap<String, ServiceHandle>>,
    pub log: RunLog,
    /// Steps recorded before this actor started (a resumed run).
    pub undo: Vec<StepRef>,
    /// Compensations that failed before this actor started.
    pub failed: Vec<(String, String)>,
}

pub struct SagaState {
    args: SagaArgs,
    completed: Vec<StepRef>,
}

impl Actor for SagaActor {
    type Msg = SagaMsg;
    type State = SagaState;
    type Arguments = SagaArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SagaArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let completed = args.undo.clone();
        Ok(SagaState { args, completed })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SagaMsg::Record(at) => state.completed.push(at),
            SagaMsg::Compensate { scope, reply } => {
                let pending: Vec<StepRef> = state.completed.drain(..).rev().collect();
                let replay = Replay {
                    run_id: state.args.run_id.clone(),
                    workflow: state.args.workflow.clone(),
                    services: state.args.services.clone(),
                    log: state.args.log.clone(),
                    failed_before: std::mem::take(&mut state.args.failed),
                };
                // Replays are slow: run them in a task, not in the handler.
                let span = debug_span!(
                    parent: None,
                    "compensation",
                    run = %replay.run_id,
                    workflow = %replay.workflow.name
                );
                tokio::spawn(
                    async move {
                        let outcome = replay.run(pending, scope).await;
                        let _ = reply.cast(RunMsg::Compensated(outcome));
                    }
                    .instrument(span),
                );
            }
        }
        Ok(())
    }
}

struct Replay {
    run_id: String,
    workflow: Arc<Workflow>,
    services: Arc<HashMap<String, ServiceHandle>>,
    log: RunLog,
    failed_before: Vec<(String, String)>,
}

impl Replay {
    async fn run(mut self, pending: Vec<StepRef>, scope: Scope) -> SagaOutcome {
        let mut outcome = SagaOutcome {
            failed: std::mem::take(&mut self.failed_before),
            abandoned: false,
        };
        if pending.is_empty() {
            return outcome;
        }
        let deadline = Instant::now() + self.workflow.compensation_timeout;
        // Compensations are never cancelled: a cancelled run must be undone.
        let never = CancellationToken::new();
        for at in pending {
            let step = at.resolve(&self.workflow);
            let Some(compensation) = &step.compensate else {
                continue;
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
                step_id: &step.id,
                idempotency_key: compensation_key(&self.run_id, &step.id),
            };
            let request = match render_request(&spec, identity, &scope) {
                Ok(request) => request,
                Err(e) => {
                    let error = format!("compensation {e}");
                    self.failed(&mut outcome, &step.id, 0, error);
                    continue;
                }
            };
            let mut operation = Operation {
                kind: OperationKind::Compensation,
                step_id: step.id.clone(),
                service: self.services[&compensation.service].clone(),
                request,
                policy: service.retry.clone(),
                deadline: Some(deadline),
                resumed_after: 0,
            };
            let result = operation.run(&self.log, &never).await;
            match result.result {
                Ok(_) => {
                    info!(run = %self.run_id, step = %step.id, "compensated");
                    let _queued = self.log.append(RunEvent::CompensationCompleted {
                        step: step.id.clone(),
                        attempts: result.attempts,
                    });
                }
                Err(OperationError::Journal(JournalError::LeaseLost { .. })) => {
                    outcome.abandoned = true;
                    return outcome;
                }
                Err(e) => self.failed(&mut outcome, &step.id, result.attempts, e.to_string()),
            }
        }
        outcome
    }

    fn failed(&self, outcome: &mut SagaOutcome, step: &str, attempts: u32, error: String) {
        warn!(run = %self.run_id, step, error = %error, "compensation failed");
        let _queued = self.log.append(RunEvent::CompensationFailed {
            step: step.to_string(),
            attempts,
            error: error.clone(),
        });
        outcome.failed.push((step.to_string(), error));
    }
}
