//! The fold of a run's events, on a saga with a parallel group.

use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;
use crate::resilience::FailureClass;
use crate::workflow::{Workflow, load_str};

const WORKFLOW: &str = r#"
name: fold
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
        compensate: {service: api, method: "POST /refund"}
      - id: notify
        service: api
        method: "POST /notify"
"#;

fn workflow() -> Workflow {
    load_str(WORKFLOW, "fold.yaml", &|_| None).expect("valid")
}

fn at(ms: u64, event: RunEvent) -> Recorded {
    Recorded {
        at: SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
        event,
    }
}

fn attempt(step: &str, n: u32) -> RunEvent {
    RunEvent::AttemptStarted {
        step: step.into(),
        attempt: n,
        idempotency_key: format!("r:{step}"),
        request: Some(format!("POST /{step}")),
    }
}

fn failed(step: &str, n: u32, error: &str) -> RunEvent {
    RunEvent::AttemptFailed {
        step: step.into(),
        attempt: n,
        class: FailureClass::Retryable,
        error: error.into(),
    }
}

/// reserve completes; charge fails with its outcome unknown while notify
/// is cancelled; charge's undo succeeds on its second attempt.
fn failed_saga() -> Vec<Recorded> {
    vec![
        at(
            0,
            RunEvent::RunStarted {
                run_id: "r".into(),
                workflow: "fold".into(),
                input: json!({}).into(),
                retry_of: None,
                traceparent: None,
            },
        ),
        at(1, attempt("reserve", 1)),
        at(
            5,
            RunEvent::StepCompleted {
                step: "reserve".into(),
                attempts: 1,
                output: json!({"id": 7}).into(),
            },
        ),
        at(6, attempt("charge", 1)),
        at(6, attempt("notify", 1)),
        at(9, failed("charge", 1, "503")),
        at(10, attempt("charge", 2)),
        at(
            20,
            RunEvent::StepFailed {
                step: "charge".into(),
                attempts: 2,
                error: "timed out".into(),
                outcome_unknown: true,
            },
        ),
        at(
            21,
            RunEvent::StepCancelled {
                step: "notify".into(),
                outcome_unknown: false,
            },
        ),
        at(
            22,
            RunEvent::RunHalted {
                reason: HaltReason::Failed {
                    step: "charge".into(),
                    error: "timed out".into(),
                },
            },
        ),
        at(
            23,
            RunEvent::CompensationStarted {
                step: "charge".into(),
                attempt: 1,
                request: Some("POST /refund".into()),
            },
        ),
        at(
            24,
            RunEvent::CompensationAttemptFailed {
                step: "charge".into(),
                attempt: 1,
                class: FailureClass::Retryable,
                error: "busy".into(),
            },
        ),
        at(
            25,
            RunEvent::CompensationCompleted {
                step: "charge".into(),
                attempts: 2,
            },
        ),
    ]
}

#[test]
fn a_failed_saga_folds_into_steps_effects_and_compensations() {
    let wf = workflow();
    let events = failed_saga();
    let state = RunState::fold(&wf, &events).expect("every step is known");
    let reserve = state.step("reserve").unwrap();
    assert_eq!(
        (reserve.phase, reserve.duration),
        (Phase::Completed, Duration::from_millis(4))
    );
    let produced = reserve.output_event.map(|i| &events[i].event);
    assert!(
        matches!(produced, Some(RunEvent::StepCompleted { output, .. }) if **output == json!({"id": 7})),
        "{produced:?}"
    );
    let charge = state.step("charge").unwrap();
    assert_eq!((charge.phase, charge.attempts), (Phase::Failed, 2));
    assert_eq!(
        charge.last_failure,
        Some((1, "503".into())),
        "going forward"
    );
    assert_eq!(charge.undo_failure, Some((1, "busy".into())), "undoing");
    assert_eq!(
        charge.undo,
        Undo::Completed {
            attempts: 2,
            request: Some("POST /refund".into())
        }
    );
    assert_eq!(state.step("notify").unwrap().phase, Phase::Cancelled);
    // reserve took effect and is still to undo; charge's undo is done.
    let left: Vec<&str> = state.to_undo().map(|s| s.id.as_str()).collect();
    assert_eq!(left, ["reserve"]);
    let undone: Vec<&str> = state.compensations().map(|s| s.id.as_str()).collect();
    assert_eq!(undone, ["charge"]);
    assert!(state.node_settled(0) && state.node_settled(1));
    assert!(state.interrupted().next().is_none());
    assert!(matches!(state.halt, Some(HaltReason::Failed { .. })));
    assert_eq!(
        state.last_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_millis(25))
    );
}

#[test]
fn an_attempt_without_an_outcome_is_interrupted_and_unsettles_its_group() {
    let wf = workflow();
    let events = [
        at(0, attempt("notify", 1)),
        at(1, attempt("charge", 1)),
        at(2, attempt("charge", 2)),
    ];
    let state = RunState::fold(&wf, &events).unwrap();
    let interrupted: Vec<(&str, u32)> = state
        .interrupted()
        .map(|s| (s.id.as_str(), s.attempts))
        .collect();
    assert_eq!(
        interrupted,
        [("notify", 1), ("charge", 2)],
        "in announcement order"
    );
    assert!(!state.node_settled(1));
}

#[test]
fn an_older_journal_names_a_compensations_failed_attempt_after_its_step() {
    let wf = workflow();
    let events = [at(0, failed("reserve.compensate", 2, "busy"))];
    let state = RunState::fold(&wf, &events).expect("read as reserve's undo");
    let reserve = state.step("reserve").unwrap();
    assert_eq!(reserve.undo_failure, Some((2, "busy".into())));
    assert_eq!(reserve.last_failure, None);
}

#[test]
fn an_unknown_step_is_refused_and_changes_nothing() {
    let wf = workflow();
    let mut state = RunState::new(&wf);
    let refused = state.apply(&at(0, attempt("teleport", 1)));
    assert_eq!(refused, Err(UnknownStep("teleport".into())));
    assert!(state.steps.iter().all(|s| s.phase == Phase::NotRun));
}
