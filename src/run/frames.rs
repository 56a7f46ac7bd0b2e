//! Frames: the lists of steps a run goes through in order. The workflow's
//! own steps are frame 0; a foreach opens a frame per element and a child
//! workflow one, each of their steps named after its place in the run.

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use crate::workflow::{Action, Node};

use super::state::{Phase, RunState, StepDef, StepRef, StepState, UnknownStep};

/// A frame's place in [`RunState::frames`].
pub type FrameId = usize;

/// One list of steps run in order: nodes one after the other, the steps of
/// a node (a parallel group's branches) at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The foreach or workflow step that opened it; none for frame 0.
    pub owner: Option<StepRef>,
    /// Its element's position in a foreach's list.
    pub element: Option<usize>,
    /// Where its steps are in [`RunState::steps`]: node `k`'s are
    /// `first + ends[k - 1] .. first + ends[k]`. `ends` is shared by every
    /// element of one foreach.
    first: usize,
    ends: Arc<[usize]>,
}

impl Frame {
    pub fn nodes(&self) -> usize {
        self.ends.len()
    }

    /// Where node `k`'s steps are in [`RunState::steps`].
    pub fn node(&self, k: usize) -> Range<usize> {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        self.first + start..self.first + self.ends[k]
    }

    /// Where all of its steps are in [`RunState::steps`].
    pub fn steps(&self) -> Range<usize> {
        self.first..self.first + self.ends.last().copied().unwrap_or(0)
    }

    /// Whether every step of node `k` has an outcome.
    pub fn node_settled(&self, steps: &[StepState], k: usize) -> bool {
        steps[self.node(k)].iter().all(|s| s.phase.is_settled())
    }

    /// The first node whose steps have not all got an outcome.
    pub fn first_open(&self, steps: &[StepState]) -> Option<usize> {
        (0..self.nodes()).find(|&k| !self.node_settled(steps, k))
    }

    /// Whether any of its steps began (or was skipped): nodes begin in
    /// order, so the first node tells.
    pub fn started(&self, steps: &[StepState]) -> bool {
        self.nodes() == 0 || steps[self.node(0)].iter().any(|s| s.phase != Phase::NotRun)
    }
}

impl RunState {
    /// Open a frame running `nodes`, its steps named `{prefix}{id}`.
    pub(super) fn open_frame(
        &mut self,
        nodes: &[Node],
        owner: Option<StepRef>,
        element: Option<usize>,
        prefix: &str,
        ends: Option<Arc<[usize]>>,
    ) -> FrameId {
        let frame = self.frames.len();
        let ends = ends.unwrap_or_else(|| node_ends(nodes));
        self.frames.push(Frame {
            owner,
            element,
            first: self.steps.len(),
            ends,
        });
        for step in nodes.iter().flat_map(Node::steps) {
            let i = self.steps.len();
            let id = [prefix, step.id.as_str()].concat();
            self.index.insert(id.clone(), i);
            let at = StepRef(u32::try_from(i).expect("a run holds fewer than 2^32 steps"));
            let def = StepDef(Arc::clone(step));
            self.steps.push(StepState::new(at, id, def, frame));
        }
        frame
    }

    /// A foreach began with `count` elements, or a child workflow began
    /// (`count` 1): their frames open and the step runs until they end.
    pub(super) fn open_body(
        &mut self,
        step: &str,
        count: usize,
        at: SystemTime,
    ) -> Result<(), UnknownStep> {
        let (i, s) = self.step_mut(step)?;
        s.phase = Phase::Running;
        s.started.get_or_insert(at);
        let (def, owner, id) = (s.def.clone(), s.at, s.id.clone());
        let first = self.frames.len();
        match &def.action {
            Action::Foreach(each) => {
                let ends = node_ends(&each.body);
                for k in 0..count {
                    let prefix = format!("{id}[{k}]/");
                    let ends = Some(Arc::clone(&ends));
                    self.open_frame(&each.body, Some(owner), Some(k), &prefix, ends);
                }
            }
            Action::Workflow(child) => {
                let prefix = format!("{id}/");
                self.open_frame(&child.workflow.steps, Some(owner), None, &prefix, None);
            }
            _ => return Err(UnknownStep(format!("{step} (not a foreach or a workflow)"))),
        }
        self.steps[i].frames = Some(first..self.frames.len());
        Ok(())
    }

    /// The foreach and workflow steps step `i` runs within, innermost first.
    pub fn owners(&self, i: usize) -> impl Iterator<Item = &StepState> {
        let mut frame = self.steps[i].frame;
        std::iter::from_fn(move || {
            let owner = self.frames[frame].owner?;
            let step = &self.steps[owner.index()];
            frame = step.frame;
            Some(step)
        })
    }
}

/// Where each node's steps end, counted from the frame's first.
fn node_ends(nodes: &[Node]) -> Arc<[usize]> {
    nodes
        .iter()
        .scan(0, |end, node| {
            *end += node.steps().len();
            Some(*end)
        })
        .collect()
}

impl RunState {
    /// Every step of the run depth first: the workflow's own in order,
    /// each foreach or workflow step followed by the steps within it.
    pub fn in_order(&self) -> impl Iterator<Item = &StepState> {
        let mut stack: Vec<Range<usize>> = vec![self.frames[0].steps()];
        std::iter::from_fn(move || {
            loop {
                let top = stack.last_mut()?;
                let Some(i) = top.next() else {
                    stack.pop();
                    continue;
                };
                let step = &self.steps[i];
                if let Some(frames) = &step.frames {
                    for f in frames.clone().rev() {
                        stack.push(self.frames[f].steps());
                    }
                }
                return Some(step);
            }
        })
    }
}
