//! The reference model of the saga rules, in plain Rust: how a step's script
//! plays against its retry budget, how far each step got as the run's events
//! tell, and from that the run's final status and the compensations that
//! must run, in which order, with which result.

use std::collections::HashMap;

use maestro::runtime::{Recorded, RunEvent, RunStatus};
use maestro::transport::FailureClass;

use super::plan::{Plan, StepPlan, UNDO_ATTEMPTS};
use super::service::Answer;

/// How a script plays out against a retry budget, left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Play {
    pub ok: bool,
    pub attempts: u32,
    /// An attempt may have been applied without the caller knowing.
    pub unknown: bool,
}

pub fn play(answers: &[Answer], budget: u32) -> Play {
    let mut unknown = false;
    for attempt in 1..=budget {
        let outcome = |ok| Play {
            ok,
            attempts: attempt,
            unknown,
        };
        match answer_at(answers, attempt) {
            Answer::Ok => return outcome(true),
            Answer::Reject => return outcome(false),
            Answer::Busy => {}
            Answer::Crash | Answer::Hang | Answer::Cut => unknown = true,
        }
    }
    Play {
        ok: false,
        attempts: budget,
        unknown,
    }
}

/// The answer attempt `n` (from 1) gets: the last one repeats.
pub fn answer_at(answers: &[Answer], n: u32) -> Answer {
    answers[(n as usize - 1).min(answers.len() - 1)]
}

/// How the runtime must class a failed attempt that got `answer`.
fn class_of(answer: Answer) -> Option<FailureClass> {
    match answer {
        Answer::Ok => None,
        Answer::Busy => Some(FailureClass::Retryable),
        Answer::Reject => Some(FailureClass::Permanent),
        Answer::Crash | Answer::Hang | Answer::Cut => Some(FailureClass::Unknown),
    }
}

/// Where a step got going forward, as the run's events tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    NotRun,
    Skipped,
    Ok {
        attempts: u32,
    },
    Failed {
        attempts: u32,
        unknown: bool,
    },
    /// Stopped because a sibling failed.
    Cancelled {
        attempts: u32,
        unknown: bool,
    },
}

impl Seen {
    /// Completed, or ended not knowing whether it was applied: the saga
    /// rules undo both.
    pub fn may_have_applied(self) -> bool {
        matches!(
            self,
            Seen::Ok { .. }
                | Seen::Failed { unknown: true, .. }
                | Seen::Cancelled { unknown: true, .. }
        )
    }

    pub fn attempts(self) -> u32 {
        match self {
            Seen::NotRun | Seen::Skipped => 0,
            Seen::Ok { attempts }
            | Seen::Failed { attempts, .. }
            | Seen::Cancelled { attempts, .. } => attempts,
        }
    }
}

/// Every step's end, and the order the steps ended in.
#[derive(Debug)]
pub struct Observed {
    pub seen: HashMap<String, Seen>,
    pub ended: Vec<String>,
}

/// Read the events: each step ends at most once, attempts are numbered
/// 1, 2, ..., each failed attempt is classed as its answer says, and a
/// node's events all come after the previous node's.
pub fn observe(plan: &Plan, events: &[Recorded]) -> Result<Observed, String> {
    let node_of: HashMap<&str, usize> = plan
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(n, node)| node.steps.iter().map(move |s| (s.id.as_str(), n)))
        .collect();
    let mut seen: HashMap<String, Seen> =
        plan.steps().map(|s| (s.id.clone(), Seen::NotRun)).collect();
    let mut started: HashMap<String, u32> = HashMap::new();
    let mut ended = Vec::new();
    let mut current = 0;
    for recorded in events {
        let (step, end) = match &recorded.event {
            RunEvent::StepSkipped { step } => (step, Some(Seen::Skipped)),
            RunEvent::AttemptStarted { step, attempt, .. } => {
                let count = started.entry(step.clone()).or_default();
                *count += 1;
                if *attempt != *count {
                    return Err(format!("{step}: attempt {attempt} announced as #{count}"));
                }
                (step, None)
            }
            RunEvent::AttemptFailed {
                step,
                attempt,
                class,
                error,
            } => {
                let answers = &plan.step(step).answers;
                check_class(step, answers, *attempt, *class, error)?;
                (step, None)
            }
            RunEvent::CompensationAttemptFailed {
                step,
                attempt,
                class,
                error,
            } => {
                let Some(undo) = &plan.step(step).undo else {
                    return Err(format!("{step}: there is no compensation"));
                };
                check_class(step, &undo.answers, *attempt, *class, error)?;
                continue;
            }
            RunEvent::StepCompleted { step, attempts, .. } => (
                step,
                Some(Seen::Ok {
                    attempts: *attempts,
                }),
            ),
            RunEvent::StepFailed {
                step,
                attempts,
                outcome_unknown,
                ..
            } => (
                step,
                Some(Seen::Failed {
                    attempts: *attempts,
                    unknown: *outcome_unknown,
                }),
            ),
            RunEvent::StepCancelled {
                step,
                outcome_unknown,
            } => (
                step,
                Some(Seen::Cancelled {
                    attempts: started.get(step).copied().unwrap_or(0),
                    unknown: *outcome_unknown,
                }),
            ),
            _ => continue,
        };
        let node = *node_of
            .get(step.as_str())
            .ok_or_else(|| format!("an event of unknown step {step}"))?;
        if node < current {
            return Err(format!(
                "{step} (node {node}) moved after node {current} began"
            ));
        }
        current = node;
        let Some(end) = end else { continue };
        if seen[step] != Seen::NotRun {
            return Err(format!(
                "{step} ended twice: {:?}, then {end:?}",
                seen[step]
            ));
        }
        let announced = started.get(step).copied().unwrap_or(0);
        if end.attempts() != announced {
            return Err(format!("{step} ended {end:?} after {announced} attempts"));
        }
        seen.insert(step.clone(), end);
        if end != Seen::Skipped {
            ended.push(step.clone());
        }
    }
    Ok(Observed { seen, ended })
}

/// A failed attempt is classed as the answer it was given says.
fn check_class(
    step: &str,
    answers: &[Answer],
    attempt: u32,
    class: FailureClass,
    error: &str,
) -> Result<(), String> {
    let answer = answer_at(answers, attempt);
    if class_of(answer) != Some(class) {
        return Err(format!(
            "{step}: attempt {attempt} got {answer:?} but failed as {class:?}: {error}"
        ));
    }
    Ok(())
}

/// What the model expects of the run.
#[derive(Debug, PartialEq)]
pub struct Expected {
    pub status: RunStatus,
    /// (step, ok, attempts) of each compensation, in the order they run.
    pub compensations: Vec<(String, bool, u32)>,
}

/// The expected end of the run. Everything is fixed by the plan except,
/// in the group where a step fails, how far its siblings got before the
/// failure stopped them (any point is allowed; each must be one of them).
pub fn expect(plan: &Plan, observed: &Observed) -> Result<Expected, String> {
    let mut failed = false;
    for node in &plan.nodes {
        if failed {
            for step in &node.steps {
                if observed.seen[&step.id] != Seen::NotRun {
                    return Err(format!("{} ran after a failed node", step.id));
                }
            }
            continue;
        }
        failed = node
            .steps
            .iter()
            .any(|s| !s.skipped() && !play(&s.answers, s.attempts).ok);
        for step in &node.steps {
            check_forward(step, observed.seen[&step.id], failed)?;
        }
        if failed {
            let ends: Vec<Seen> = observed
                .ended
                .iter()
                .filter(|id| node.steps.iter().any(|s| &&s.id == id))
                .map(|id| observed.seen[id])
                .collect();
            let first_failure = ends.iter().position(|e| matches!(e, Seen::Failed { .. }));
            let first_cancel = ends
                .iter()
                .position(|e| matches!(e, Seen::Cancelled { .. }));
            match (first_failure, first_cancel) {
                (None, _) => return Err("a node failed without a failed step".into()),
                (Some(f), Some(c)) if c < f => {
                    return Err("a step was cancelled before its sibling failed".into());
                }
                _ => {}
            }
        }
    }
    if !failed {
        return Ok(Expected {
            status: RunStatus::Succeeded,
            compensations: Vec::new(),
        });
    }
    // Newest first: the reverse of the order in which the steps ended.
    let compensations: Vec<(String, bool, u32)> = observed
        .ended
        .iter()
        .rev()
        .filter_map(|id| {
            let step = plan.step(id);
            let undo = step.undo.as_ref()?;
            let seen = observed.seen[id];
            if !seen.may_have_applied() {
                return None;
            }
            if undo.reads_output && !matches!(seen, Seen::Ok { .. }) {
                // No output to render the undo from: it fails unsent.
                return Some((id.clone(), false, 0));
            }
            let undone = play(&undo.answers, UNDO_ATTEMPTS);
            Some((id.clone(), undone.ok, undone.attempts))
        })
        .collect();
    let status = if compensations.iter().all(|c| c.1) {
        RunStatus::Compensated
    } else {
        RunStatus::CompensationFailed
    };
    Ok(Expected {
        status,
        compensations,
    })
}

/// One step's forward end against its script. In a node where some step
/// fails, a step may instead be cancelled anywhere before its own end: with
/// an unknown outcome if an attempt was in flight (or an earlier one was
/// unknown), a known one only before its first attempt or between attempts
/// that all said "not applied".
fn check_forward(step: &StepPlan, seen: Seen, node_fails: bool) -> Result<(), String> {
    let want = play(&step.answers, step.attempts);
    let fine = match seen {
        _ if step.skipped() => seen == Seen::Skipped,
        Seen::Ok { attempts } => want.ok && attempts == want.attempts,
        Seen::Failed { attempts, unknown } => {
            !want.ok && attempts == want.attempts && unknown == want.unknown
        }
        Seen::Cancelled { attempts, unknown } => {
            let known_so_far = (1..=attempts).all(|n| answer_at(&step.answers, n) == Answer::Busy);
            // Zero attempts: stopped before its first one left.
            let consistent = if unknown { attempts >= 1 } else { known_so_far };
            node_fails && attempts <= want.attempts && consistent
        }
        Seen::NotRun | Seen::Skipped => false,
    };
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{}: ended {seen:?}, but its script {:?} with {} attempts plays {want:?}",
            step.id, step.answers, step.attempts
        ))
    }
}
