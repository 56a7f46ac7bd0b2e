//! Where a journaled run stood, rebuilt from its events alone so that a new
//! process can go on with it: the data produced so far, the steps settled,
//! the attempts that were in flight, and what is left to undo. Pure: no
//! actors, no I/O.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use crate::template::Scope;
use crate::workflow::{Node, Workflow};

use super::events::{HaltReason, Recorded, RunEvent};
use super::saga::StepRef;

/// A run's state at the end of its journaled events.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scope: Scope,
    /// When the run first started: its workflow timeout counts from here.
    pub started_at: SystemTime,
    /// Steps whose outcome is known: completed, skipped, failed, cancelled.
    pub settled: HashSet<String>,
    /// Steps with an attempt announced and no outcome: in flight when the
    /// process stopped. Each with the attempts made, in announcement order.
    pub interrupted: Vec<(StepRef, u32)>,
    /// Set once the run stopped going forward.
    pub halt: Option<HaltReason>,
    /// Steps that may have taken effect and whose compensation has not
    /// ended, in the order they ended (replayed newest first).
    pub undo: Vec<StepRef>,
    /// Compensations that already failed for good: step and error.
    pub compensation_failed: Vec<(String, String)>,
    /// The first node not fully settled.
    pub cursor: usize,
    pub finished: bool,
}

/// Why a run cannot be resumed from its events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("the journal holds no start for this run")]
    NotStarted,
    #[error("the journal names step `{0}`, which the run's definition does not have")]
    UnknownStep(String),
}

/// Rebuild a run's state from its events.
pub fn plan(workflow: &Workflow, events: &[Recorded]) -> Result<Plan, ResumeError> {
    let refs = step_refs(workflow);
    let find = |id: &str| {
        refs.get(id)
            .copied()
            .ok_or_else(|| ResumeError::UnknownStep(id.to_string()))
    };
    let has_compensation = |at: StepRef| at.resolve(workflow).compensate.is_some();
    let output_name = |at: StepRef| at.resolve(workflow).output.clone();

    let first = events.first().ok_or(ResumeError::NotStarted)?;
    let RunEvent::RunStarted { input, .. } = &first.event else {
        return Err(ResumeError::NotStarted);
    };
    let mut plan = Plan {
        scope: Scope::new(input.clone()),
        started_at: first.at,
        settled: HashSet::new(),
        interrupted: Vec::new(),
        halt: None,
        undo: Vec::new(),
        compensation_failed: Vec::new(),
        cursor: 0,
        finished: false,
    };
    let mut announced: Vec<(StepRef, u32)> = Vec::new();
    let mut undone: HashSet<String> = HashSet::new();
    for recorded in &events[1..] {
        match &recorded.event {
            RunEvent::RunStarted { .. } | RunEvent::RunResumed => {}
            RunEvent::StepSkipped { step } => {
                let at = find(step)?;
                if let Some(name) = output_name(at) {
                    plan.scope.skip(&name);
                }
                plan.settled.insert(step.clone());
            }
            RunEvent::AttemptStarted { step, attempt, .. } => {
                let at = find(step)?;
                match announced.iter_mut().find(|(a, _)| *a == at) {
                    Some((_, n)) => *n = *attempt,
                    None => announced.push((at, *attempt)),
                }
            }
            RunEvent::AttemptFailed { .. } | RunEvent::CompensationStarted { .. } => {}
            RunEvent::StepCompleted { step, output, .. } => {
                let at = find(step)?;
                if let Some(name) = output_name(at) {
                    plan.scope.insert(&name, output.clone());
                }
                plan.settled.insert(step.clone());
                if has_compensation(at) {
                    plan.undo.push(at);
                }
            }
            RunEvent::StepFailed {
                step,
                outcome_unknown,
                ..
            }
            | RunEvent::StepCancelled {
                step,
                outcome_unknown,
            } => {
                let at = find(step)?;
                plan.settled.insert(step.clone());
                if *outcome_unknown && has_compensation(at) {
                    plan.undo.push(at);
                }
            }
            RunEvent::RunHalted { reason } => {
                plan.halt.get_or_insert_with(|| reason.clone());
            }
            RunEvent::CompensationCompleted { step, .. } => {
                undone.insert(step.clone());
            }
            RunEvent::CompensationFailed { step, error, .. } => {
                undone.insert(step.clone());
                plan.compensation_failed.push((step.clone(), error.clone()));
            }
            RunEvent::RunFinished { .. } => plan.finished = true,
        }
    }
    plan.interrupted = announced
        .into_iter()
        .filter(|(at, _)| !plan.settled.contains(&at.resolve(workflow).id))
        .collect();
    plan.undo
        .retain(|at| !undone.contains(&at.resolve(workflow).id));
    plan.cursor = workflow
        .steps
        .iter()
        .position(|node| !node_settled(node, &plan.settled))
        .unwrap_or(workflow.steps.len());
    Ok(plan)
}

fn node_settled(node: &Node, settled: &HashSet<String>) -> bool {
    match node {
        Node::Step(step) => settled.contains(&step.id),
        Node::Parallel(group) => group.branches.iter().all(|b| settled.contains(&b.id)),
    }
}

fn step_refs(workflow: &Workflow) -> HashMap<&str, StepRef> {
    let mut refs = HashMap::new();
    for (node, entry) in workflow.steps.iter().enumerate() {
        match entry {
            Node::Step(step) => {
                refs.insert(step.id.as_str(), StepRef { node, branch: 0 });
            }
            Node::Parallel(group) => {
                for (branch, step) in group.branches.iter().enumerate() {
                    refs.insert(step.id.as_str(), StepRef { node, branch });
                }
            }
        }
    }
    refs
}
