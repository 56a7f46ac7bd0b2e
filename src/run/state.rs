//! Where a run stands, folded from its events by one [`RunState::apply`]:
//! each step's phase, attempts and timing, each compensation, why the run
//! halted and how it finished. The report, the resume after a crash and the
//! terminal's timeline all read this state; none folds events on its own.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use foldhash::{HashMap, HashMapExt};
use serde_json::Value;

use crate::workflow::{Step, Workflow};

use super::events::{HaltReason, Recorded, RunStatus};

pub use super::frames::{Frame, FrameId};

/// A step of the run at any depth (the workflow's own, one element's step
/// of a foreach, a child workflow's): its place in [`RunState::steps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepRef(pub u32);

impl StepRef {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The definition a step of the run carries out: shared with the workflow,
/// equal only to itself.
#[derive(Clone)]
pub struct StepDef(pub Arc<Step>);

impl std::ops::Deref for StepDef {
    type Target = Step;
    fn deref(&self) -> &Step {
        &self.0
    }
}

impl PartialEq for StepDef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for StepDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StepDef({})", self.0.id)
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
    /// `reserve`, or `reserve_all[2]/reserve` in a foreach's element,
    /// `pay/charge` in a child workflow.
    pub id: String,
    pub def: StepDef,
    /// The frame the step belongs to.
    pub frame: FrameId,
    /// A foreach's or child workflow's frames, once it started.
    pub frames: Option<std::ops::Range<usize>>,
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
    /// Every step of the run: the workflow's own in its order, then each
    /// foreach element's and child workflow's as they started.
    pub steps: Vec<StepState>,
    /// Frame 0 holds the workflow's own steps; a foreach opens one per
    /// element, a child workflow one.
    pub frames: Vec<Frame>,
    pub(super) index: HashMap<String, usize>,
    /// Steps in the order their first attempt was announced.
    pub(super) announced: Vec<usize>,
    /// Steps that may have taken effect, in the order they ended.
    pub(super) effects: Vec<usize>,
    /// Compensations in the order they ended: step index.
    pub(super) undone: Vec<usize>,
    /// Steps that failed, in the order they did.
    pub(super) failed: Vec<usize>,
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
        let mut state = RunState {
            run_id: String::new(),
            retry_of: None,
            applied: 0,
            started_at: None,
            last_at: None,
            steps: Vec::new(),
            frames: Vec::new(),
            index: HashMap::with_capacity(workflow.steps.len()),
            announced: Vec::new(),
            effects: Vec::new(),
            undone: Vec::new(),
            failed: Vec::new(),
            halt: None,
            finished: None,
        };
        state.open_frame(&workflow.steps, None, None, "", None);
        state
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

    pub fn at(&self, at: StepRef) -> &StepState {
        &self.steps[at.index()]
    }

    /// Where step `id` is in `steps`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub(super) fn step_mut(&mut self, id: &str) -> Result<(usize, &mut StepState), UnknownStep> {
        match self.index.get(id) {
            Some(&i) => Ok((i, &mut self.steps[i])),
            None => Err(UnknownStep(id.to_owned())),
        }
    }

    /// Steps that may have taken effect, have a compensation, and whose
    /// compensation has not ended: newest first, the order they are undone.
    pub fn to_undo(&self) -> impl Iterator<Item = &StepState> {
        self.effects
            .iter()
            .rev()
            .map(|&i| &self.steps[i])
            .filter(|s| s.def.compensation().is_some())
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

    /// Steps that failed, in the order they did.
    pub fn failures(&self) -> impl Iterator<Item = &StepState> {
        self.failed.iter().map(|&i| &self.steps[i])
    }

    /// Compensations that ended, in the order they did.
    pub fn compensations(&self) -> impl Iterator<Item = &StepState> {
        self.undone.iter().map(|&i| &self.steps[i])
    }

    /// Whether every step of node `node` of the workflow's own steps has an
    /// outcome.
    pub fn node_settled(&self, node: usize) -> bool {
        self.frames[0].node_settled(&self.steps, node)
    }
}

impl Phase {
    /// The step's outcome is known.
    pub fn is_settled(self) -> bool {
        !matches!(self, Phase::NotRun | Phase::Running | Phase::Waiting)
    }
}

impl StepState {
    pub(super) fn new(at: StepRef, id: String, def: StepDef, frame: FrameId) -> Self {
        StepState {
            at,
            id,
            def,
            frame,
            frames: None,
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
