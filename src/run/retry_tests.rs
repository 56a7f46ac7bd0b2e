//! A run that ended `compensation_failed`, taken up again: only the undos
//! that failed are tried again, newest first, and the run ends anew.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::time::Instant;

use super::*;
use crate::workflow::load_str;

const WORKFLOW: &str = r#"
name: undo
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - {id: a, service: api, method: "POST /a", compensate: {method: "POST /undo-a"}}
  - {id: b, service: api, method: "POST /b", compensate: {method: "POST /undo-b"}}
  - {id: c, service: api, method: "POST /c"}
"#;

fn events() -> Vec<RunEvent> {
    let done = |step: &str| RunEvent::StepCompleted {
        step: step.into(),
        attempts: 1,
        output: json!({}).into(),
    };
    vec![
        RunEvent::RunStarted {
            run_id: "r1".into(),
            workflow: "undo".into(),
            input: json!({}).into(),
            retry_of: None,
            traceparent: None,
        },
        done("a"),
        done("b"),
        RunEvent::StepFailed {
            step: "c".into(),
            attempts: 1,
            error: "boom".into(),
            outcome_unknown: false,
        },
        RunEvent::RunHalted {
            reason: HaltReason::Failed {
                step: "c".into(),
                error: "boom".into(),
            },
        },
        RunEvent::CompensationFailed {
            step: "b".into(),
            attempts: 3,
            error: "busy".into(),
        },
        RunEvent::CompensationCompleted {
            step: "a".into(),
            attempts: 1,
        },
        RunEvent::RunFinished {
            status: RunStatus::CompensationFailed,
            output: None,
            error: None,
        },
    ]
}

fn recorded(events: Vec<RunEvent>) -> Vec<Recorded> {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let at = |i: usize| t0 + Duration::from_secs(i as u64);
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Recorded { at: at(i), event })
        .collect()
}

#[test]
fn only_the_failed_undo_is_tried_again_then_the_run_ends_anew() {
    let workflow = Arc::new(load_str(WORKFLOW, "undo.yaml", &|_| None).expect("valid"));
    let mut log = events();
    log.push(RunEvent::CompensationsRetried);
    let mut machine = Machine::resume(workflow, &recorded(log.clone())).expect("resumes");
    assert!(!machine.is_finished());
    let now = Instant::now();
    let b = StepRef(1);
    match machine.decide(now).as_slice() {
        [Command::Compensate { at, .. }] => assert_eq!(*at, b),
        other => panic!("expected the undo of b alone: {other:?}"),
    }
    log.push(RunEvent::CompensationCompleted {
        step: "b".into(),
        attempts: 1,
    });
    let mut machine = Machine::resume(machine.workflow().clone(), &recorded(log)).unwrap();
    match machine.decide(now).as_slice() {
        [Command::Finish(finished)] => assert_eq!(finished.status, RunStatus::Compensated),
        other => panic!("expected the end: {other:?}"),
    }
    let undone: Vec<&str> = machine
        .state()
        .compensations()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(undone, ["a", "b"]);
}
