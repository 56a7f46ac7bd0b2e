//! Where a run stands, folded from its events by one [`RunState::apply`]:
//! each step's phase, attempts and timing, each compensation, why the run
//! halted and how it finished. The report, the resume after a crash and the
//! terminal's timeline all read this state; none folds events on its own.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::workflow::{Node, Step, Workflow};

use super::events::{HaltReason, Recorded, RunStatus};

/// A step of the workflow: its node, and its branch within a parallel group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepRef {
    pub node: usize,
    pub branch: usize,
}

impl StepRef {
    pub fn resolve(self, workflow: &Workflow) -> &Step {
        match &workflow.steps[self.node] {
            Node::Step(step) => step,
            Node::Parallel(group) => &group.branches[self.branch],
        }
    }
}

/// How far a step got going forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    NotRun,
    /// An attempt was announced and no outcome followed (yet).
    Running,
    /// A `sleep` or `wait` step began and has not ended.
    Waiting,
    Completed,
    Skipped,
    Failed,
    Cancelled,
}

/// Where a step's compensation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    NotStarted,
    /// An attempt of the compensation was announced, with its request.
    Running {
        request: Option<String>,
    },
    Completed {
        attempts: u32,
        request: Option<String>,
    },
    Failed {
        attempts: u32,
        request: Option<String>,
        error: String,
    },
}

/// One step as its events left it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub at: StepRef,
    pub id: String,
    pub phase: Phase,
    pub attempts: u32,
    /// The last attempt's request as sent.
    pub request: Option<String>,
    /// When its first attempt was announced, or its sleep or wait began.
    pub started: Option<SystemTime>,
    /// When a sleep ends, or a wait gives up.
    pub until: Option<SystemTime>,
    /// From the first attempt to the step's outcome.
    pub duration: Duration,
    /// The last error, cleared when the step completes.
    pub error: Option<String>,
    /// The last failed attempt going forward, until the step completes.
    pub last_failure: Option<(u32, String)>,
    /// The last failed attempt of its compensation.
    pub undo_failure: Option<(u32, String)>,
    /// An attempt may have been applied without its answer arriving.
    pub outcome_unknown: bool,
    /// Which of the events folded (counting from 0) holds its output, once
    /// it completed: the state points at outputs rather than copy them.
    pub output_event: Option<usize>,
    pub undo: Undo,
}

/// How the run ended, once it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub status: RunStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
}

/// A run as its events left it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    pub run_id: String,
    /// The run this one started again.
    pub retry_of: Option<String>,
    /// Events folded so far.
    pub(super) applied: usize,
    /// The first event's time: the workflow timeout counts from here.
    pub started_at: Option<SystemTime>,
    pub last_at: Option<SystemTime>,
    /// In the workflow's order.
    pub steps: Vec<StepState>,
    index: HashMap<String, usize>,
    /// Where each node's first step is in `steps`.
    node_start: Vec<usize>,
    /// Steps in the order their first attempt was announced.
    pub(super) announced: Vec<usize>,
    /// Steps that may have taken effect, in the order they ended.
    pub(super) effects: Vec<usize>,
    /// Compensations in the order they ended: step index.
    pub(super) undone: Vec<usize>,
    pub halt: Option<HaltReason>,
    pub finished: Option<Finished>,
}

/// An event named a step the workflow does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the events name step `{0}`, which the run's definition does not have")]
pub struct UnknownStep(pub String);

impl RunState {
    /// A run of `workflow` before any event.
    pub fn new(workflow: &Workflow) -> Self {
        let mut steps = Vec::new();
        let mut node_start = Vec::with_capacity(workflow.steps.len());
        for (node, entry) in workflow.steps.iter().enumerate() {
            node_start.push(steps.len());
            let branches = match entry {
                Node::Step(step) => std::slice::from_ref(step),
                Node::Parallel(group) => group.branches.as_slice(),
            };
            for (branch, step) in branches.iter().enumerate() {
                steps.push(StepState::new(StepRef { node, branch }, &step.id));
            }
        }
        let index = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        RunState {
            run_id: String::new(),
            retry_of: None,
            applied: 0,
            started_at: None,
            last_at: None,
            steps,
            index,
            node_start,
            announced: Vec::new(),
            effects: Vec::new(),
            undone: Vec::new(),
            halt: None,
            finished: None,
        }
    }

    /// Fold `events` from the start.
    pub fn fold(workflow: &Workflow, events: &[Recorded]) -> Result<Self, UnknownStep> {
        let mut state = RunState::new(workflow);
        for recorded in events {
            state.apply(recorded)?;
        }
        Ok(state)
    }

    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.index.get(id).map(|&i| &self.steps[i])
    }

    /// Where step `id` is in `steps`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Where step `at` is in `steps`.
    pub fn index_at(&self, at: StepRef) -> usize {
        self.node_start[at.node] + at.branch
    }

    pub(super) fn step_mut(&mut self, id: &str) -> Result<(usize, &mut StepState), UnknownStep> {
        match self.index.get(id) {
            Some(&i) => Ok((i, &mut self.steps[i])),
            None => Err(UnknownStep(id.to_owned())),
        }
    }

    /// Steps that may have taken effect, have a compensation, and whose
    /// compensation has not ended: oldest first (undone newest first).
    pub fn to_undo<'s>(&'s self, workflow: &'s Workflow) -> impl Iterator<Item = &'s StepState> {
        self.effects
            .iter()
            .map(|&i| &self.steps[i])
            .filter(|s| s.at.resolve(workflow).compensation().is_some())
            .filter(|s| matches!(s.undo, Undo::NotStarted | Undo::Running { .. }))
    }

    /// Steps with an attempt announced and no outcome, in announcement order.
    pub fn interrupted(&self) -> impl Iterator<Item = &StepState> {
        self.announced
            .iter()
            .map(|&i| &self.steps[i])
            .filter(|s| s.phase == Phase::Running)
    }

    /// Steps sleeping or waiting for a signal.
    pub fn waiting(&self) -> impl Iterator<Item = &StepState> {
        self.steps.iter().filter(|s| s.phase == Phase::Waiting)
    }

    /// Compensations that ended, in the order they did.
    pub fn compensations(&self) -> impl Iterator<Item = &StepState> {
        self.undone.iter().map(|&i| &self.steps[i])
    }

    /// Whether every step of `node` has an outcome.
    pub fn node_settled(&self, workflow: &Workflow, node: usize) -> bool {
        let first = self.node_start[node];
        let count = super::machine::branches(workflow, node);
        self.steps[first..first + count]
            .iter()
            .all(|s| s.phase.is_settled())
    }
}

impl Phase {
    /// The step's outcome is known.
    pub fn is_settled(self) -> bool {
        !matches!(self, Phase::NotRun | Phase::Running | Phase::Waiting)
    }
}

impl StepState {
    fn new(at: StepRef, id: &str) -> Self {
        StepState {
            at,
            id: id.to_owned(),
            phase: Phase::NotRun,
            attempts: 0,
            request: None,
            started: None,
            until: None,
            duration: Duration::ZERO,
            error: None,
            last_failure: None,
            undo_failure: None,
            outcome_unknown: false,
            output_event: None,
            undo: Undo::NotStarted,
        }
    }

    pub(super) fn end(&mut self, phase: Phase, at: SystemTime) {
        self.phase = phase;
        self.duration = self
            .started
            .and_then(|s| at.duration_since(s).ok())
            .unwrap_or_default();
    }
}
