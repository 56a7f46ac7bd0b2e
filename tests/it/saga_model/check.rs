//! The run's report and the ledger's call log held against the model: the
//! status, each step's record, the compensations and their order, and what
//! the service received: attempts, keys, effects, undo order and payloads.

use std::collections::HashMap;

use maestro::runtime::report::StepOutcome;
use maestro::runtime::{RunReport, RunStatus};
use serde_json::Value;

use super::model::{Expected, Observed, Seen};
use super::plan::Plan;
use super::service::Call;

fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(message()) }
}

/// The report says what the events and the model say.
pub fn report(
    plan: &Plan,
    observed: &Observed,
    expected: &Expected,
    report: &RunReport,
) -> Result<(), String> {
    ensure(report.status == expected.status, || {
        format!(
            "status {:?}, the model says {:?}",
            report.status, expected.status
        )
    })?;
    let done: Vec<(String, bool, u32)> = report
        .compensations
        .iter()
        .map(|c| (c.step.clone(), c.ok, c.attempts))
        .collect();
    ensure(done == expected.compensations, || {
        format!(
            "compensations {done:?}, the model says {:?}",
            expected.compensations
        )
    })?;
    let undone: HashMap<&str, bool> = done.iter().map(|(s, ok, _)| (s.as_str(), *ok)).collect();
    for (record, step) in report.steps.iter().zip(plan.steps()) {
        ensure(record.id == step.id, || {
            format!("report lists {} where {} was planned", record.id, step.id)
        })?;
        let seen = observed.seen[&step.id];
        let (outcome, unknown) = match seen {
            Seen::NotRun => (StepOutcome::NotRun, false),
            Seen::Skipped => (StepOutcome::Skipped, false),
            Seen::Ok { .. } => (StepOutcome::Ok, false),
            Seen::Failed { unknown, .. } => (StepOutcome::Failed, unknown),
            Seen::Cancelled { unknown, .. } => (StepOutcome::Cancelled, unknown),
        };
        // A compensated step shows how its undo went instead.
        let outcome = match undone.get(step.id.as_str()) {
            Some(true) => StepOutcome::Compensated,
            Some(false) => StepOutcome::CompensationFailed,
            None => outcome,
        };
        ensure(
            record.outcome == outcome
                && record.outcome_unknown == unknown
                && record.attempts == seen.attempts(),
            || format!("{}: reported {record:?}, its events say {seen:?}", step.id),
        )?;
    }
    let failed = expected.status != RunStatus::Succeeded;
    ensure(report.error.is_some() == failed, || {
        format!(
            "error {:?} for a run that ended {:?}",
            report.error, report.status
        )
    })?;
    if !failed {
        let output = report
            .output
            .as_ref()
            .ok_or("a succeeded run has no output")?;
        for step in plan.steps() {
            let value = &output[format!("out_{}", step.id)];
            let want = if step.skipped() {
                Value::Null
            } else {
                Value::from(format!("effect:{}:{}", report.run_id, step.id))
            };
            let got = if step.skipped() { value } else { &value["id"] };
            ensure(*got == want, || {
                format!("output of {}: {value}, expected {want}", step.id)
            })?;
        }
    }
    Ok(())
}

/// What the ledger received is what the run reports, and the saga rules
/// hold at the service: every attempt of a step under the step's one key
/// (so one effect), every effect of a failed run undone (or its undo
/// reported failed), undos one at a time, newest first.
pub fn calls(
    plan: &Plan,
    run_id: &str,
    observed: &Observed,
    report: &RunReport,
    calls: &[Call],
) -> Result<(), String> {
    for call in calls {
        let key = if call.undo {
            format!("{run_id}:{}:compensate", call.step)
        } else {
            format!("{run_id}:{}", call.step)
        };
        ensure(call.key == key && call.step_header == call.step, || {
            format!(
                "a call with key {} and step header {}: {call:?}",
                call.key, call.step_header
            )
        })?;
    }
    for step in plan.steps() {
        let forward: Vec<&Call> = calls
            .iter()
            .filter(|c| !c.undo && c.step == step.id)
            .collect();
        let numbered = forward.iter().zip(1..).all(|(c, n)| c.attempt == n);
        ensure(numbered, || {
            format!("{}: attempts under one key: {forward:?}", step.id)
        })?;
        // One key for every attempt (checked above), so at most one effect.
        let applied = forward.iter().any(|c| c.applied);
        let seen = observed.seen[&step.id];
        let made = seen.attempts() as usize;
        // A cancelled attempt may never have reached the service.
        let reached = match seen {
            Seen::Cancelled { unknown: true, .. } => made.saturating_sub(1)..=made,
            _ => made..=made,
        };
        ensure(reached.contains(&forward.len()), || {
            format!(
                "{}: the service saw {} calls, the run made {made}",
                step.id,
                forward.len()
            )
        })?;
        let compensated = report.compensations.iter().any(|c| c.step == step.id);
        ensure(
            !applied || step.undo.is_none() || report.status == RunStatus::Succeeded || compensated,
            || format!("{}: applied, never undone", step.id),
        )?;
    }
    let undos: Vec<&Call> = calls.iter().filter(|c| c.undo).collect();
    let mut expected = Vec::new();
    for done in &report.compensations {
        expected.extend(std::iter::repeat_n(
            done.step.as_str(),
            done.attempts as usize,
        ));
        let applied = undos.iter().any(|c| c.step == done.step && c.applied);
        ensure(!done.ok || applied, || {
            format!("{}: undo reported done, never applied", done.step)
        })?;
    }
    let got: Vec<&str> = undos.iter().map(|c| c.step.as_str()).collect();
    ensure(got == expected, || {
        format!("the service saw undos {got:?}, the report says {expected:?}")
    })?;
    for pair in undos.windows(2) {
        ensure(pair[0].end.is_some_and(|end| end < pair[1].start), || {
            format!("undos overlap: {:?} and {:?}", pair[0], pair[1])
        })?;
    }
    for undo in &undos {
        if plan
            .step(&undo.step)
            .undo
            .as_ref()
            .is_some_and(|u| u.reads_output)
        {
            let want = format!("effect:{run_id}:{}", undo.step);
            ensure(undo.body["of"] == want.as_str(), || {
                format!("{}: undo got {}, expected {want}", undo.step, undo.body)
            })?;
        }
    }
    Ok(())
}
