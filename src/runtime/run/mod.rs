//! The workflow-run actor: walks the steps in order, evaluates `when`,
//! renders inputs, launches each step (or a parallel group's branches) as a
//! task, stores outputs, enforces the workflow timeout, and on failure hands
//! over to the saga actor. A resumed run starts from where its journal left
//! it: settled steps are not called again, interrupted ones are retried.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::template::Scope;
use crate::workflow::{Node, Step, Workflow};

use crate::journal::JournalError;

use super::ServiceHandle;
use super::attempt::{OperationError, OperationOutcome};
use super::events::{HaltReason, RunEvent};
use super::log::RunLog;
use super::report::RunReport;
use super::resume::Plan;
use super::saga::{SagaArgs, SagaMsg, SagaOutcome, StepRef};

mod ending;
mod step;

use step::spawn_saga;

pub struct RunActor;

pub struct RunArgs {
    pub run_id: String,
    pub workflow: Arc<Workflow>,
    pub input: Value,
    pub services: Arc<HashMap<String, ServiceHandle>>,
    pub log: RunLog,
    pub done: oneshot::Sender<RunReport>,
    /// Where a journaled run stood, when it is resumed.
    pub resume: Option<Plan>,
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
    /// Steps of a resumed run whose outcome the journal holds.
    settled: HashSet<String>,
    /// Steps of a resumed run interrupted mid-attempt: attempts made.
    interrupted: HashMap<String, u32>,
    stop: Option<HaltReason>,
    compensating: bool,
    deadline: Option<Instant>,
    /// Spawned once there is something to undo: most runs never need it.
    saga: Option<ActorRef<SagaMsg>>,
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
        let resumed = args.resume.is_some();
        let plan = match args.resume {
            Some(plan) => plan,
            None => {
                // Not awaited: the first attempt's announcement, queued after
                // it, is; a run that made no call may as well start again.
                let _queued = args.log.append(RunEvent::RunStarted {
                    run_id: args.run_id.clone(),
                    workflow: args.workflow.name.clone(),
                    input: args.input.clone(),
                });
                Plan::fresh(args.input)
            }
        };
        if resumed {
            let _queued = args.log.append(RunEvent::RunResumed);
            info!(run = %args.run_id, workflow = %args.workflow.name, "run resumed");
        } else {
            debug!(run = %args.run_id, workflow = %args.workflow.name, "run started");
        }
        let mut undo = plan.undo;
        let mut interrupted = HashMap::new();
        for (at, attempts) in plan.interrupted {
            let step = at.resolve(&args.workflow);
            if plan.halt.is_some() {
                // It was being cancelled when the process stopped.
                let _queued = args.log.append(RunEvent::StepCancelled {
                    step: step.id.clone(),
                    outcome_unknown: true,
                });
                if step.compensate.is_some() {
                    undo.push(at);
                }
            } else {
                interrupted.insert(step.id.clone(), attempts);
            }
        }
        let saga = if undo.is_empty() && plan.compensation_failed.is_empty() {
            None
        } else {
            let saga = SagaArgs {
                run_id: args.run_id.clone(),
                workflow: args.workflow.clone(),
                services: args.services.clone(),
                log: args.log.clone(),
                undo,
                failed: plan.compensation_failed,
            };
            Some(spawn_saga(&myself, saga).await?)
        };
        // The timeout counts from the run's first start, restarts included.
        let elapsed = SystemTime::now()
            .duration_since(plan.started_at)
            .unwrap_or_default();
        let deadline = args.workflow.timeout.map(|t| {
            let left = t.saturating_sub(elapsed);
            myself.send_after(left, || RunMsg::Timeout);
            Instant::now() + left
        });
        myself.cast(RunMsg::Advance)?;
        Ok(RunState {
            scope: plan.scope,
            run_id: args.run_id,
            workflow: args.workflow,
            services: args.services,
            log: args.log,
            done: Some(args.done),
            cursor: plan.cursor,
            in_flight: HashMap::new(),
            settled: plan.settled,
            interrupted,
            stop: plan.halt,
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
            RunMsg::Advance => state.advance(&myself).await,
            RunMsg::StepDone { at, outcome } => {
                if let Err(OperationError::Journal(e @ JournalError::LeaseLost { .. })) =
                    &outcome.result
                {
                    state.abandon(&myself, e);
                    return Ok(());
                }
                if let Some(undo) = state.step_done(at, outcome) {
                    state.record(&myself, undo).await?;
                }
                state.after_step(&myself).await;
            }
            RunMsg::Timeout => {
                let after = state.workflow.timeout.unwrap_or_default();
                state.halt(&myself, HaltReason::TimedOut { after }).await;
            }
            RunMsg::Cancel => state.halt(&myself, HaltReason::Cancelled).await,
            RunMsg::Compensated(outcome) => state.finish(&myself, Some(outcome)).await,
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
    async fn advance(&mut self, myself: &ActorRef<RunMsg>) {
        while self.stop.is_none() && self.cursor < self.workflow.steps.len() {
            let node = self.cursor;
            let branches = match &self.workflow.steps[node] {
                Node::Step(_) => 1,
                Node::Parallel(group) => group.branches.len(),
            };
            for branch in 0..branches {
                let at = StepRef { node, branch };
                let id = &at.resolve(&self.workflow).id;
                if self.settled.contains(id) {
                    continue;
                }
                if let Some(attempts) = self.interrupted.remove(id) {
                    self.launch(myself, at, attempts);
                } else if self.should_run(at) {
                    self.launch(myself, at, 0);
                }
            }
            if !self.in_flight.is_empty() {
                return;
            }
            self.cursor += 1;
        }
        self.after_step(myself).await;
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
                let _queued = self.log.append(RunEvent::StepSkipped { step: id });
                false
            }
            Err(e) => {
                let id = step.id.clone();
                self.fail_before_sending(&id, format!("`when` could not be evaluated: {e}"));
                false
            }
        }
    }

    /// Once nothing is in flight: go on, compensate, or finish.
    async fn after_step(&mut self, myself: &ActorRef<RunMsg>) {
        if !self.in_flight.is_empty() || self.compensating {
            return;
        }
        if self.stop.is_some() {
            self.compensating = true;
            match &self.saga {
                Some(saga) => {
                    let _ = saga.cast(SagaMsg::Compensate {
                        scope: self.scope.clone(),
                        reply: myself.clone(),
                    });
                }
                // Nothing was recorded: nothing to undo.
                None => self.finish(myself, Some(SagaOutcome::default())).await,
            }
        } else if self.cursor < self.workflow.steps.len() {
            // The node under the cursor is done.
            self.cursor += 1;
            let _ = myself.cast(RunMsg::Advance);
        } else {
            self.finish(myself, None).await;
        }
    }

    /// Record the first reason to stop and cancel every step in flight.
    fn stop_with(&mut self, reason: HaltReason) {
        if self.stop.is_none() {
            // Journaled before any compensation is announced, so a resumed
            // run knows it must go on undoing, not forward.
            let _queued = self.log.append(RunEvent::RunHalted {
                reason: reason.clone(),
            });
            self.stop = Some(reason);
        }
        for token in self.in_flight.values() {
            token.cancel();
        }
    }

    async fn halt(&mut self, myself: &ActorRef<RunMsg>, reason: HaltReason) {
        if self.compensating || self.done.is_none() {
            return;
        }
        self.stop_with(reason);
        self.after_step(myself).await;
    }
}
