//! The promises every row checks. Per run, from its report (and its events
//! when it ran in this process): the compensations that ran are exactly
//! those of the steps that completed or whose outcome is unknown, newest
//! first. Across runs, from the services' call logs: no idempotency key
//! took effect twice, and what the services saw agrees with the reports.

use std::collections::{HashMap, HashSet};

use maestro::runtime::{Recorded, RunEvent};
use maestro::workflow::{Node, Workflow};
use serde_json::Value;

use crate::support::CallRecord;

/// Where a step stands: its node (parallel branches share one), and
/// whether it has a compensation.
struct Place {
    node: usize,
    undoable: bool,
}

fn places(workflow: &Workflow) -> HashMap<&str, Place> {
    let mut out = HashMap::new();
    for (node, entry) in workflow.steps.iter().enumerate() {
        let steps = match entry {
            Node::Step(step) => std::slice::from_ref(step),
            Node::Parallel(group) => group.branches.as_slice(),
        };
        for step in steps {
            let undoable = step.compensation().is_some();
            out.insert(step.id.as_str(), Place { node, undoable });
        }
    }
    out
}

/// The compensations of a report: step and whether it succeeded.
fn compensations(report: &Value) -> Vec<(&str, bool)> {
    crate::support::compensations(report)
        .into_iter()
        .map(|(step, ok, _)| (step, ok))
        .collect()
}

/// One run's report against the saga rules.
pub fn run(workflow: &Workflow, report: &Value, events: Option<&[Recorded]>) -> Result<(), String> {
    let status = report["status"].as_str().unwrap_or_default();
    if matches!(status, "" | "queued" | "running") {
        return Err(format!("not final: `{status}`"));
    }
    let places = places(workflow);
    let undone = compensations(report);
    for step in report["steps"].as_array().into_iter().flatten() {
        let id = step["id"].as_str().unwrap_or_default();
        let outcome = step["outcome"].as_str().unwrap_or_default();
        let unknown = step["outcome_unknown"] == true;
        let undoable = places.get(id).is_some_and(|p| p.undoable);
        let runs: Vec<bool> = undone
            .iter()
            .filter(|(s, _)| *s == id)
            .map(|(_, ok)| *ok)
            .collect();
        let wrong = match outcome {
            "running" => Some("is still running in a final report"),
            "ok" if undoable && status != "succeeded" => Some("completed and was not compensated"),
            "failed" | "cancelled" if unknown && undoable => {
                Some("may have been applied and was not compensated")
            }
            "compensated" if runs != [true] => Some("shows compensated without one compensation"),
            "compensation_failed" if runs != [false] => {
                Some("shows compensation_failed without one failed compensation")
            }
            "compensated" | "compensation_failed" => None,
            _ if !runs.is_empty() => Some("was compensated though it never took effect"),
            _ => None,
        };
        if let Some(wrong) = wrong {
            return Err(format!("step `{id}` ({outcome}) {wrong}: {report}"));
        }
    }
    let any_failed = undone.iter().any(|(_, ok)| !ok);
    if any_failed != (status == "compensation_failed") {
        return Err(format!(
            "status `{status}` and its compensations disagree: {report}"
        ));
    }
    let nodes: Vec<usize> = undone
        .iter()
        .map(|(s, _)| places.get(s).map_or(usize::MAX, |p| p.node))
        .collect();
    if nodes.windows(2).any(|w| w[0] < w[1]) {
        return Err(format!("compensations are not newest first: {undone:?}"));
    }
    let Some(events) = events else {
        return Ok(());
    };
    // The exact order: the reverse of the order in which the steps that
    // need undoing completed (or gave up with an unknown outcome).
    let mut expected: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::StepCompleted { step, .. }
            | RunEvent::StepFailed {
                step,
                outcome_unknown: true,
                ..
            }
            | RunEvent::StepCancelled {
                step,
                outcome_unknown: true,
            } => Some(step.as_str()),
            _ => None,
        })
        .filter(|s| places.get(s).is_some_and(|p| p.undoable))
        .collect();
    expected.reverse();
    if status == "succeeded" {
        expected.clear();
    }
    let ran: Vec<&str> = undone.iter().map(|(s, _)| *s).collect();
    if ran != expected {
        return Err(format!(
            "compensated {ran:?}, but the events call for {expected:?}"
        ));
    }
    Ok(())
}

/// The call logs against every report: each key took effect at most once,
/// a completed step exactly once, a step that failed for sure never; no
/// step reached a service more often than it made attempts; each
/// compensation reported done took effect once, and no other was sent.
pub fn calls(reports: &[&Value], calls: &[CallRecord]) -> Vec<String> {
    let mut by_key: HashMap<&str, Vec<&CallRecord>> = HashMap::new();
    for call in calls {
        if let Some(key) = &call.idempotency_key {
            by_key.entry(key).or_default().push(call);
        }
    }
    let effects = |key: &str| {
        by_key
            .get(key)
            .map_or(0, |c| c.iter().filter(|c| c.took_effect()).count())
    };
    let mut problems = Vec::new();
    for (key, calls) in &by_key {
        let n = calls.iter().filter(|c| c.took_effect()).count();
        if n > 1 {
            problems.push(format!("key {key} took effect {n} times: {calls:#?}"));
        }
    }
    // Which steps of which run the services saw compensation calls for.
    let mut undo_calls: HashMap<&str, HashSet<&str>> = HashMap::new();
    for key in by_key.keys() {
        if let Some(rest) = key.strip_suffix(":compensate")
            && let Some((run, step)) = rest.split_once(':')
        {
            undo_calls.entry(run).or_default().insert(step);
        }
    }
    for report in reports {
        let run = report["run_id"].as_str().unwrap_or_default();
        for step in report["steps"].as_array().into_iter().flatten() {
            let id = step["id"].as_str().unwrap_or_default();
            let key = format!("{run}:{id}");
            let sent = by_key.get(key.as_str()).map_or(0, Vec::len) as u64;
            let attempts = step["attempts"].as_u64().unwrap_or(0);
            if sent > attempts {
                problems.push(format!(
                    "{key}: the services saw {sent} calls for {attempts} attempts"
                ));
            }
            let unknown = step["outcome_unknown"] == true;
            let wanted = match step["outcome"].as_str().unwrap_or_default() {
                "ok" => Some(1),
                "compensated" | "compensation_failed" if !unknown => Some(1),
                "failed" if !unknown => Some(0),
                _ => None,
            };
            let n = effects(&key);
            if wanted.is_some_and(|w| w != n) {
                problems.push(format!("{key} ({}) took effect {n} times", step["outcome"]));
            }
        }
        let undone = compensations(report);
        for (step, ok) in &undone {
            let key = format!("{run}:{step}:compensate");
            if *ok && effects(&key) != 1 {
                problems.push(format!(
                    "{key} is reported done but took effect {} times",
                    effects(&key)
                ));
            }
        }
        for step in undo_calls.get(run).into_iter().flatten() {
            if !undone.iter().any(|(s, _)| s == step) {
                problems.push(format!(
                    "{run}: a compensation of `{step}` was sent but not reported"
                ));
            }
        }
    }
    problems
}
