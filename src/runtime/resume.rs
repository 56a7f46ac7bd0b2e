//! Where a journaled run stood, read from the state its events fold into
//! ([`RunState`]) so that a new process can go on with it: the data
//! produced so far, the steps settled, the attempts that were in flight, and
//! what is left to undo. Pure: no actors, no I/O.

use std::collections::HashSet;
use std::time::SystemTime;

use crate::run::{HaltReason, Phase, Recorded, RunEvent, RunState, StepRef, Undo};
use crate::template::Scope;
use crate::workflow::Workflow;

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

impl Plan {
    /// The state of a run that starts now.
    pub fn fresh(input: serde_json::Value) -> Plan {
        Plan {
            scope: Scope::new(input),
            started_at: SystemTime::now(),
            settled: HashSet::new(),
            interrupted: Vec::new(),
            halt: None,
            undo: Vec::new(),
            compensation_failed: Vec::new(),
            cursor: 0,
            finished: false,
        }
    }
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
    let first = events.first().ok_or(ResumeError::NotStarted)?;
    let RunEvent::RunStarted { input, .. } = &first.event else {
        return Err(ResumeError::NotStarted);
    };
    let state = RunState::fold(workflow, events).map_err(|e| ResumeError::UnknownStep(e.0))?;
    let mut plan = Plan::fresh(input.clone());
    plan.started_at = first.at;
    for s in &state.steps {
        let output = &s.at.resolve(workflow).output;
        match (s.phase, output) {
            (Phase::Completed, Some(name)) => {
                let produced = s.output_event.map(|i| &events[i].event);
                if let Some(RunEvent::StepCompleted { output, .. }) = produced {
                    plan.scope.insert(name, output.clone());
                }
            }
            (Phase::Skipped, Some(name)) => plan.scope.skip(name),
            _ => {}
        }
        if s.phase.is_settled() {
            plan.settled.insert(s.id.clone());
        }
    }
    plan.interrupted = state.interrupted().map(|s| (s.at, s.attempts)).collect();
    plan.halt.clone_from(&state.halt);
    plan.undo = state.to_undo(workflow).map(|s| s.at).collect();
    plan.compensation_failed = state
        .compensations()
        .filter_map(|s| match &s.undo {
            Undo::Failed { error, .. } => Some((s.id.clone(), error.clone())),
            _ => None,
        })
        .collect();
    plan.cursor = (0..workflow.steps.len())
        .find(|&node| !state.node_settled(workflow, node))
        .unwrap_or(workflow.steps.len());
    plan.finished = state.finished.is_some();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::transport::FailureClass;
    use crate::workflow::load_str;

    const WORKFLOW: &str = r#"
name: resume
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: reserve
    service: api
    method: "POST /reserve"
    output: reservation
    compensate: {service: api, method: "POST /release"}
  - parallel:
      - id: charge
        service: api
        method: "POST /charge"
        output: payment
        compensate: {service: api, method: "POST /refund"}
      - id: notify
        service: api
        method: "POST /notify"
        output: notice
        when: "{{ .input.notify }}"
  - id: ship
    service: api
    method: "POST /ship"
    compensate: {service: api, method: "POST /unship"}
"#;

    fn workflow() -> Workflow {
        load_str(WORKFLOW, "resume.yaml", &|_| None).expect("valid")
    }

    fn log(events: Vec<RunEvent>) -> Vec<Recorded> {
        let mut all = vec![RunEvent::RunStarted {
            run_id: "r1".into(),
            workflow: "resume".into(),
            input: json!({"notify": true}),
        }];
        all.extend(events);
        all.into_iter()
            .enumerate()
            .map(|(i, event)| Recorded {
                at: SystemTime::UNIX_EPOCH + Duration::from_secs(i as u64),
                event,
            })
            .collect()
    }

    fn attempt(step: &str, attempt: u32) -> RunEvent {
        RunEvent::AttemptStarted {
            step: step.into(),
            attempt,
            idempotency_key: format!("r1:{step}"),
            request: None,
        }
    }

    fn completed(step: &str, output: Value) -> RunEvent {
        RunEvent::StepCompleted {
            step: step.into(),
            attempts: 1,
            output,
        }
    }

    fn ids(workflow: &Workflow, refs: &[StepRef]) -> Vec<String> {
        refs.iter()
            .map(|r| r.resolve(workflow).id.clone())
            .collect()
    }

    #[test]
    fn a_crash_inside_a_parallel_group_resumes_the_unsettled_branch() {
        let wf = workflow();
        let events = log(vec![
            attempt("reserve", 1),
            completed("reserve", json!({"id": "res_1"})),
            attempt("charge", 1),
            attempt("notify", 1),
            RunEvent::AttemptFailed {
                step: "charge".into(),
                attempt: 1,
                class: FailureClass::Retryable,
                error: "503".into(),
            },
            completed("notify", json!({"sent": true})),
            attempt("charge", 2),
        ]);
        let plan = plan(&wf, &events).expect("plan");
        assert_eq!(plan.cursor, 1, "the parallel group is not settled");
        assert!(plan.settled.contains("reserve") && plan.settled.contains("notify"));
        assert_eq!(plan.interrupted.len(), 1);
        assert_eq!(ids(&wf, &[plan.interrupted[0].0]), ["charge"]);
        assert_eq!(plan.interrupted[0].1, 2, "two attempts were made");
        assert_eq!(ids(&wf, &plan.undo), ["reserve"]);
        assert_eq!(plan.scope.get("reservation"), Some(&json!({"id": "res_1"})));
        assert_eq!(plan.scope.get("notice"), Some(&json!({"sent": true})));
        assert!(plan.halt.is_none() && !plan.finished);
        assert_eq!(plan.started_at, SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn a_halted_run_goes_on_undoing_what_is_left() {
        let wf = workflow();
        let events = log(vec![
            attempt("reserve", 1),
            completed("reserve", json!({"id": "res_1"})),
            attempt("charge", 1),
            RunEvent::StepSkipped {
                step: "notify".into(),
            },
            completed("charge", json!({"id": "pay_1"})),
            attempt("ship", 1),
            RunEvent::StepFailed {
                step: "ship".into(),
                attempts: 1,
                error: "timed out".into(),
                outcome_unknown: true,
            },
            RunEvent::RunHalted {
                reason: HaltReason::Failed {
                    step: "ship".into(),
                    error: "timed out".into(),
                },
            },
            RunEvent::CompensationStarted {
                step: "ship".into(),
                attempt: 1,
                request: None,
            },
            RunEvent::CompensationCompleted {
                step: "ship".into(),
                attempts: 1,
            },
            RunEvent::CompensationStarted {
                step: "charge".into(),
                attempt: 1,
                request: None,
            },
        ]);
        let plan = plan(&wf, &events).expect("plan");
        assert!(matches!(plan.halt, Some(HaltReason::Failed { ref step, .. }) if step == "ship"));
        assert_eq!(
            ids(&wf, &plan.undo),
            ["reserve", "charge"],
            "ship is undone; charge was being undone and is replayed"
        );
        assert_eq!(plan.cursor, wf.steps.len(), "every step is settled");
        assert!(plan.interrupted.is_empty());
        assert_eq!(
            plan.scope.get("notice"),
            Some(&Value::Null),
            "skipped reads as null"
        );
    }

    #[test]
    fn failed_compensations_are_remembered_and_not_replayed() {
        let wf = workflow();
        let events = log(vec![
            attempt("reserve", 1),
            completed("reserve", json!({})),
            RunEvent::RunHalted {
                reason: HaltReason::Cancelled,
            },
            RunEvent::CompensationFailed {
                step: "reserve".into(),
                attempts: 3,
                error: "gone".into(),
            },
        ]);
        let plan = plan(&wf, &events).expect("plan");
        assert!(plan.undo.is_empty());
        assert_eq!(
            plan.compensation_failed,
            [("reserve".to_string(), "gone".to_string())]
        );
        assert_eq!(plan.halt, Some(HaltReason::Cancelled));
    }

    #[test]
    fn a_log_without_a_start_or_with_a_foreign_step_is_refused() {
        let wf = workflow();
        assert_eq!(plan(&wf, &[]).unwrap_err(), ResumeError::NotStarted);
        let events = log(vec![attempt("teleport", 1)]);
        assert_eq!(
            plan(&wf, &events).unwrap_err(),
            ResumeError::UnknownStep("teleport".into())
        );
    }
}
