//! The run state machine: the events a run recorded go in through
//! [`Machine::apply`], and [`Machine::decide`] says what to do next. Pure:
//! the run and saga actors carry out its commands and feed back the events
//! those produce, so a live run, a resumed one and a test all decide alike.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;
use tokio::time::Instant;

use crate::template::Scope;
use crate::workflow::{Action, OnFailure, Workflow};

use super::events::{HaltReason, Recorded, RunEvent};
use super::state::{Finished, FrameId, Phase, RunState, StepRef, UnknownStep};

mod body;
mod end;
mod fold;
mod pause;

/// Where templates read the run's id, workflow and start: `.run.id`.
const RUN_DATA: &str = "run";

/// What the machine asks of the actors.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Journal this event, which the machine decided itself (a step
    /// skipped, the run halted); it is applied before the next decision.
    Record(RunEvent),
    /// Call step `at`, its attempts numbered after `attempts_before` made
    /// by an earlier process (the last of them interrupted).
    Call { at: StepRef, attempts_before: u32 },
    /// Cancel every call in flight: the run halted.
    CancelCalls,
    /// Undo step `at`, giving up at `deadline`. One at a time, the step
    /// whose effect came last first.
    Compensate { at: StepRef, deadline: Instant },
    /// Decide again at this instant (the workflow's timeout, a sleep's
    /// end, a wait's).
    WakeAt(Instant),
    /// End the run: journal its end, then report.
    Finish(Finished),
}

/// Why a journaled run cannot be taken up again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("the journal holds no start for this run")]
    NotStarted,
    #[error(transparent)]
    UnknownStep(#[from] UnknownStep),
}

/// One run's state and the decisions it leads to.
#[derive(Debug, Clone)]
pub struct Machine {
    workflow: Arc<Workflow>,
    state: RunState,
    /// The data each frame's templates read, by frame: the run's input and
    /// outputs named so far in frame 0; an element's or a child's own.
    scopes: Vec<Scope>,
    /// Per foreach step (by index in `state.steps`): its elements before
    /// this one have all ended.
    open_from: HashMap<usize, usize>,
    /// Steps called and not yet ended, by index in `state.steps`.
    calling: Vec<bool>,
    /// A halt asked for from outside (a cancel), not yet journaled.
    requested: Option<HaltReason>,
    deadline: Option<Instant>,
    wake_asked: bool,
    cancel_asked: bool,
    /// The step whose compensation is under way.
    undoing: Option<StepRef>,
    undo_deadline: Option<Instant>,
    finishing: bool,
    /// The same moment on both clocks: sleeps end at a wall-clock time,
    /// timers fire on the monotonic one.
    clock: Option<(Instant, SystemTime)>,
    /// Signals received and not yet taken by a `wait`, by name, oldest first.
    signals: HashMap<String, VecDeque<Value>>,
    /// Ids of the signals received: one sent twice counts once.
    signal_ids: HashSet<String>,
    /// Steps whose sleep or wait has a wake-up asked for.
    timers: HashSet<usize>,
}

impl Machine {
    /// A run of `workflow` before any event.
    pub fn new(workflow: Arc<Workflow>) -> Self {
        let state = RunState::new(&workflow);
        Machine {
            calling: vec![false; state.steps.len()],
            state,
            workflow,
            scopes: vec![Scope::default()],
            open_from: HashMap::new(),
            requested: None,
            deadline: None,
            wake_asked: false,
            cancel_asked: false,
            undoing: None,
            undo_deadline: None,
            finishing: false,
            clock: None,
            signals: HashMap::new(),
            signal_ids: HashSet::new(),
            timers: HashSet::new(),
        }
    }

    /// A run taken up again from its journaled `events`.
    pub fn resume(workflow: Arc<Workflow>, events: &[Recorded]) -> Result<Self, ResumeError> {
        match events.first().map(|r| &r.event) {
            Some(RunEvent::RunStarted { .. }) => {}
            _ => return Err(ResumeError::NotStarted),
        }
        let mut machine = Machine::new(workflow);
        for recorded in events {
            machine.apply(recorded)?;
        }
        Ok(machine)
    }

    /// Start counting the workflow's timeout: from the run's first start,
    /// restarts included, `wall` and `now` being the same moment.
    pub fn start_clock(&mut self, now: Instant, wall: SystemTime) {
        self.clock = Some((now, wall));
        let started = self.state.started_at.unwrap_or(wall);
        let elapsed = wall.duration_since(started).unwrap_or_default();
        self.deadline = self
            .workflow
            .timeout
            .map(|t| now + t.saturating_sub(elapsed));
    }

    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The run's own data: its input and the outputs of its own steps.
    pub fn scope(&self) -> &Scope {
        &self.scopes[0]
    }

    /// The data step `at`'s templates read: its frame's.
    pub fn scope_of(&self, at: StepRef) -> &Scope {
        &self.scopes[self.state.at(at).frame]
    }

    pub fn workflow(&self) -> &Arc<Workflow> {
        &self.workflow
    }

    /// The instant past which no call of the run may go.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Events taken into account so far.
    pub fn applied(&self) -> usize {
        self.state.applied
    }

    pub fn is_finished(&self) -> bool {
        self.state.finished.is_some()
    }

    /// Stop the run and undo what it did, unless it halted already.
    pub fn cancel(&mut self) {
        if self.state.halt.is_none() && !self.finishing {
            self.requested.get_or_insert(HaltReason::Cancelled);
        }
    }

    /// What to do next at `now`. Commands are carried out in order; after a
    /// [`Command::Record`], decide again once the event is applied.
    pub fn decide(&mut self, now: Instant) -> Vec<Command> {
        if self.state.finished.is_some() || self.finishing {
            return Vec::new();
        }
        let mut commands = Vec::new();
        if let Some(deadline) = self.deadline
            && !self.wake_asked
        {
            self.wake_asked = true;
            commands.push(Command::WakeAt(deadline));
        }
        if self.state.halt.is_none() {
            match self.halt_reason(now) {
                Some(reason) => commands.push(Command::Record(RunEvent::RunHalted { reason })),
                None => self.forward(now, &mut commands),
            }
        } else {
            self.backward(now, &mut commands);
        }
        commands
    }

    /// Why the run must stop going forward, if it must.
    fn halt_reason(&mut self, now: Instant) -> Option<HaltReason> {
        if self.deadline.is_some_and(|d| now >= d) {
            return Some(self.timed_out());
        }
        let state = &self.state;
        // A failure halts the run unless the step, or a foreach or workflow
        // step it runs within, goes on after failing.
        let continued = |i: usize| {
            let on = |s: &super::StepState| s.def.on_failure == OnFailure::Continue;
            on(&state.steps[i]) || state.owners(i).any(on)
        };
        if let Some(failed) = state.failures().find(|s| !continued(s.at.index())) {
            return Some(HaltReason::Failed {
                step: failed.id.clone(),
                error: failed.error.clone().unwrap_or_default(),
            });
        }
        self.requested.take()
    }

    fn timed_out(&self) -> HaltReason {
        HaltReason::TimedOut {
            after: self.workflow.timeout.unwrap_or_default(),
        }
    }

    /// Go on with the run's own steps; with all of them settled, the run
    /// succeeded.
    fn forward(&mut self, now: Instant, commands: &mut Vec<Command>) {
        if self.forward_frame(0, now, commands) == Flow::Settled {
            commands.push(self.succeeded());
        }
    }

    /// The first node of `frame` not settled: call its steps, or skip those
    /// whose `when` is false.
    fn forward_frame(&mut self, frame: FrameId, now: Instant, commands: &mut Vec<Command>) -> Flow {
        let Some(node) = self.state.frames[frame].first_open(&self.state.steps) else {
            return Flow::Settled;
        };
        for i in self.state.frames[frame].node(node) {
            let step = &self.state.steps[i];
            if self.calling[i] || step.phase.is_settled() {
                continue;
            }
            let at = step.at;
            let stop = match step.phase {
                Phase::Waiting => self.pause_due(at, now, commands),
                // A foreach's elements or a child's steps go on.
                Phase::Running if step.frames.is_some() => self.forward_body(at, now, commands),
                // Interrupted in an earlier process: its attempts go on.
                Phase::Running => self.begin(at, now, commands),
                _ => match self.condition(at) {
                    Ok(true) => self.begin(at, now, commands),
                    Ok(false) => {
                        let step = step.id.clone();
                        commands.push(Command::Record(RunEvent::StepSkipped { step }));
                        false
                    }
                    Err(error) => {
                        self.fail(at, error, commands);
                        true
                    }
                },
            };
            // The run stops here: no sibling is called after it.
            if stop {
                return Flow::Stop;
            }
        }
        Flow::Open
    }

    /// Start step `at`: call its service, or begin its sleep or wait. True
    /// if it failed before it could.
    fn begin(&mut self, at: StepRef, now: Instant, commands: &mut Vec<Command>) -> bool {
        let i = at.index();
        let step = self.state.steps[i].def.clone();
        let began = match &step.action {
            Action::Call(_) => {
                self.calling[i] = true;
                let attempts_before = self.state.steps[i].attempts;
                Ok(Command::Call {
                    at,
                    attempts_before,
                })
            }
            Action::Sleep(sleep) => self.sleep_started(at, sleep, now),
            Action::Wait(wait) => Ok(self.wait_started(at, wait, now)),
            Action::Foreach(each) => self.foreach_started(at, each),
            Action::Workflow(child) => self.workflow_started(at, child),
        };
        match began {
            Ok(command) => {
                commands.push(command);
                false
            }
            Err(error) => {
                self.fail(at, error, commands);
                true
            }
        }
    }

    /// Step `at` failed before doing anything.
    fn fail(&self, at: StepRef, error: String, commands: &mut Vec<Command>) {
        commands.push(Command::Record(RunEvent::StepFailed {
            step: self.state.at(at).id.clone(),
            attempts: 0,
            error,
            outcome_unknown: false,
        }));
    }

    /// A step's `when`, evaluated over the run's data.
    fn condition(&self, at: StepRef) -> Result<bool, String> {
        match &self.state.at(at).def.when {
            None => Ok(true),
            Some(condition) => condition
                .evaluate(self.scope_of(at))
                .map_err(|e| format!("`when` could not be evaluated: {e}")),
        }
    }
}

/// How far going forward through a frame got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Every step of the frame has an outcome.
    Settled,
    /// Steps are under way.
    Open,
    /// A step failed before it could begin: nothing after it is started.
    Stop,
}
