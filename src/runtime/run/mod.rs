//! The workflow-run actor: carries out what the run's state machine
//! ([`Machine`]) decides. It calls steps in tasks of their own, hands
//! compensations to the saga actor, journals what the machine decided, and
//! feeds every event of the run's log back into the machine before asking
//! it again. It decides nothing itself.

use std::sync::Arc;
use std::time::SystemTime;

use foldhash::{HashMap, HashMapExt};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::journal::{Ack, JournalError};
use crate::run::{Command, Machine};
use crate::workflow::Workflow;

use super::ServiceMap;
use super::attempt::{OperationError, OperationOutcome};
use super::events::RunEvent;
use super::handle::RunEnd;
use super::handle::Signal;
use super::log::RunLog;
use super::saga::{SagaMsg, StepRef};

mod ending;
mod step;

pub struct RunActor;

pub struct RunArgs {
    pub run_id: String,
    pub workflow: Arc<Workflow>,
    /// How the run begins here.
    pub begin: Begin,
    pub services: ServiceMap,
    pub log: RunLog,
    pub done: oneshot::Sender<RunEnd>,
    /// Stop the actor while the run only sleeps or waits, unless a signal
    /// is on its way to it.
    pub park: Option<super::inbox::Pending>,
    /// The run's state: fresh, or folded from its journal when resumed.
    pub machine: Machine,
    /// The caller's `traceparent`, recorded as the run starts.
    pub traceparent: Option<String>,
}

/// How a run actor takes up its run.
#[derive(Debug)]
pub enum Begin {
    /// A new run, with its input.
    Fresh {
        input: Value,
        retry_of: Option<String>,
    },
    /// Where its journal left it.
    Resumed,
    /// A run that ended `compensation_failed`: its failed undos again.
    RetryCompensations,
}

pub enum RunMsg {
    /// Decide and carry out what comes next.
    Advance,
    /// A step's call has ended.
    StepDone {
        at: StepRef,
        outcome: OperationOutcome,
    },
    /// Stop the run and compensate what it did.
    Cancel,
    /// Journal a signal for a `wait`; the acknowledgement of its write goes
    /// back on `reply`.
    Signal {
        signal: Signal,
        reply: oneshot::Sender<Ack>,
    },
    /// The saga actor has carried out a compensation.
    Compensated,
    /// Park the run if it still only sleeps or waits. Sent to itself after
    /// the messages already queued (a cancel, a signal), which may change
    /// that.
    Park,
    /// Another replica holds the run now: stop here, write nothing more.
    Abandon(JournalError),
}

/// The run actor's state: the machine, and what carries out its commands.
pub struct Driver {
    run_id: String,
    workflow: Arc<Workflow>,
    services: ServiceMap,
    log: RunLog,
    done: Option<oneshot::Sender<RunEnd>>,
    park: Option<super::inbox::Pending>,
    /// A [`RunMsg::Park`] is queued.
    park_asked: bool,
    /// Wake-ups asked for and not yet sent.
    timers: Vec<tokio::task::JoinHandle<Result<(), ractor::MessagingErr<RunMsg>>>>,
    machine: Machine,
    /// Cancellation of each call in flight.
    calls: HashMap<StepRef, CancellationToken>,
    /// Spawned at the first compensation: most runs never need it.
    saga: Option<ActorRef<SagaMsg>>,
}

impl Actor for RunActor {
    type Msg = RunMsg;
    type State = Driver;
    type Arguments = RunArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RunArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let RunArgs {
            run_id,
            workflow,
            begin,
            services,
            log,
            done,
            mut machine,
            traceparent,
            park,
        } = args;
        // Not awaited: the first attempt's announcement, queued after it,
        // is; a run that made no call may as well start again.
        drop(match begin {
            Begin::Fresh { input, retry_of } => {
                debug!(run = %run_id, workflow = %workflow.name, "run started");
                log.append(RunEvent::RunStarted {
                    run_id: run_id.clone(),
                    workflow: workflow.name.clone(),
                    input: input.into(),
                    retry_of,
                    traceparent,
                })
            }
            Begin::Resumed => {
                info!(run = %run_id, workflow = %workflow.name, "run resumed");
                log.append(RunEvent::RunResumed)
            }
            Begin::RetryCompensations => {
                info!(run = %run_id, workflow = %workflow.name, "failed compensations retried");
                log.append(RunEvent::CompensationsRetried)
            }
        });
        let mut driver = Driver {
            run_id,
            workflow,
            services,
            log,
            done: Some(done),
            park,
            park_asked: false,
            timers: Vec::new(),
            calls: HashMap::new(),
            saga: None,
            machine: {
                machine.start_clock(Instant::now(), SystemTime::now());
                machine
            },
        };
        driver.catch_up()?;
        myself.cast(RunMsg::Advance)?;
        Ok(driver)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RunMsg::Advance | RunMsg::Compensated => {}
            RunMsg::Park => {
                state.park_asked = false;
                if state.may_park() {
                    // Boxed, as each rare or last await of the handler: the
                    // actor keeps room for its largest await all its life.
                    Box::pin(state.park_if_idle(&myself)).await;
                }
                return Ok(());
            }
            RunMsg::StepDone { at, outcome } => {
                if let Err(OperationError::Journal(e @ JournalError::LeaseLost { .. })) =
                    &outcome.result
                {
                    state.abandon(&myself, e);
                    return Ok(());
                }
                state.step_done(at, outcome);
            }
            RunMsg::Cancel => state.machine.cancel(),
            RunMsg::Signal { signal, reply } => {
                let Signal { name, id, payload } = signal;
                let ack = state
                    .log
                    .append(RunEvent::SignalReceived { name, id, payload });
                let _ = reply.send(ack);
            }
            RunMsg::Abandon(e) => {
                state.abandon(&myself, &e);
                return Ok(());
            }
        }
        state.drive(&myself).await?;
        if !state.park_asked && state.may_park() {
            state.park_asked = true;
            myself.cast(RunMsg::Park)?;
        }
        Ok(())
    }
}

impl Driver {
    /// Take into account every event logged since the machine last looked:
    /// the step tasks and the saga append to the same log.
    fn catch_up(&mut self) -> Result<(), ActorProcessingErr> {
        let machine = &mut self.machine;
        self.log
            .since(machine.applied(), |recorded| machine.apply(recorded))?;
        Ok(())
    }

    /// Ask the machine what to do and do it, until it has nothing more to
    /// say before some call or compensation ends.
    async fn drive(&mut self, myself: &ActorRef<RunMsg>) -> Result<(), ActorProcessingErr> {
        loop {
            self.catch_up()?;
            let mut recorded = false;
            for command in self.machine.decide(Instant::now()) {
                recorded |= self.carry_out(myself, command).await?;
                if self.done.is_none() {
                    return Ok(());
                }
            }
            if !recorded {
                return Ok(());
            }
        }
    }

    /// Carry out one command; true if it added to the run's log.
    async fn carry_out(
        &mut self,
        myself: &ActorRef<RunMsg>,
        command: Command,
    ) -> Result<bool, ActorProcessingErr> {
        match command {
            Command::Record(event) => {
                if let RunEvent::StepSkipped { step } = &event {
                    debug!(run = %self.run_id, step = %step, "skipped: condition is false");
                }
                drop(self.log.append(event));
                return Ok(true);
            }
            Command::Call {
                at,
                attempts_before,
            } => {
                return Ok(self.launch(myself, at, attempts_before));
            }
            Command::CancelCalls => self.calls.values().for_each(CancellationToken::cancel),
            Command::Compensate { at, deadline } => {
                Box::pin(self.compensate(myself, at, deadline)).await?;
            }
            Command::WakeAt(at) => {
                let left = at.saturating_duration_since(Instant::now());
                // Kept to be aborted when the actor stops: a pending timer
                // holds the actor's cell (its mailboxes) until it fires,
                // which for a workflow's timeout may be a day away.
                self.timers.retain(|t| !t.is_finished());
                self.timers
                    .push(myself.send_after(left, || RunMsg::Advance));
            }
            Command::Finish(finished) => Box::pin(self.finish(myself, finished)).await,
        }
        Ok(false)
    }

    /// Journal how a step's call ended.
    fn step_done(&mut self, at: StepRef, outcome: OperationOutcome) {
        self.calls.remove(&at);
        let step = self.machine.state().at(at).id.clone();
        let unknown = outcome.outcome_unknown;
        let event = match outcome.result {
            Ok(output) => RunEvent::StepCompleted {
                step,
                attempts: outcome.attempts,
                output: output.into(),
            },
            Err(OperationError::Cancelled) => RunEvent::StepCancelled {
                step,
                outcome_unknown: unknown,
            },
            Err(error) => RunEvent::StepFailed {
                step,
                attempts: outcome.attempts,
                error: error.to_string(),
                outcome_unknown: unknown,
            },
        };
        drop(self.log.append(event));
    }
}
