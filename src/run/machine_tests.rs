//! The machine's decisions on a saga with a parallel group: fresh, resumed
//! mid-group, halted mid-undo, timed out and cancelled.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::*;
use crate::resilience::FailureClass;
use crate::workflow::{Workflow, load_str};

const WORKFLOW: &str = r#"
name: resume
timeout: 10s
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

fn workflow() -> Arc<Workflow> {
    Arc::new(load_str(WORKFLOW, "resume.yaml", &|_| None).expect("valid"))
}

fn recorded(i: usize, event: RunEvent) -> Recorded {
    Recorded {
        at: SystemTime::UNIX_EPOCH + Duration::from_secs(i as u64),
        event,
    }
}

fn log(input: Value, events: Vec<RunEvent>) -> Vec<Recorded> {
    let start = RunEvent::RunStarted {
        run_id: "r1".into(),
        workflow: "resume".into(),
        input: input.into(),
        retry_of: None,
        traceparent: None,
    };
    std::iter::once(start)
        .chain(events)
        .enumerate()
        .map(|(i, event)| recorded(i, event))
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
        output: output.into(),
    }
}

fn undo(step: &str) -> [RunEvent; 2] {
    [
        RunEvent::CompensationStarted {
            step: step.into(),
            attempt: 1,
            request: None,
        },
        RunEvent::CompensationCompleted {
            step: step.into(),
            attempts: 1,
        },
    ]
}

/// The machine's commands at `now`, without the timeout's wake-up.
fn decide(machine: &mut Machine, now: Instant) -> Vec<Command> {
    let mut commands = machine.decide(now);
    commands.retain(|c| !matches!(c, Command::WakeAt(_)));
    commands
}

/// The call of a step of [`WORKFLOW`] (whose second node is a group of
/// two), by node and branch.
fn call(node: usize, branch: usize, attempts_before: u32) -> Command {
    let first = [0, 1, 3][node];
    Command::Call {
        at: StepRef(first + branch as u32),
        attempts_before,
    }
}

fn apply_all(machine: &mut Machine, events: impl IntoIterator<Item = RunEvent>) {
    for event in events {
        let at = machine.applied();
        machine.apply(&recorded(at, event)).expect("known step");
    }
}

#[test]
fn a_crash_inside_a_parallel_group_calls_only_the_unsettled_branch_again() {
    let events = log(
        json!({"notify": true}),
        vec![
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
        ],
    );
    let mut machine = Machine::resume(workflow(), &events).expect("resumable");
    let now = Instant::now();
    machine.start_clock(now, SystemTime::UNIX_EPOCH + Duration::from_secs(8));
    assert_eq!(decide(&mut machine, now), [call(1, 0, 2)]);
    assert_eq!(decide(&mut machine, now), [], "charge is called once");
    let scope = machine.scope();
    assert_eq!(scope.get("reservation"), Some(&json!({"id": "res_1"})));
    assert_eq!(scope.get("notice"), Some(&json!({"sent": true})));
    assert_eq!(
        machine.deadline(),
        Some(now + Duration::from_secs(2)),
        "the timeout counts from the run's first start"
    );
}

#[test]
fn a_halted_run_goes_on_undoing_newest_first_then_ends() {
    let mut events = vec![
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
    ];
    events.extend(undo("ship"));
    events.push(undo("charge")[0].clone());
    let mut machine = Machine::resume(workflow(), &log(json!({}), events)).expect("resumable");
    let now = Instant::now();
    assert_eq!(machine.scope().get("notice"), Some(&Value::Null));
    let first = decide(&mut machine, now);
    assert!(
        matches!(&first[..], [Command::Compensate { at, .. }] if *at == StepRef(1)),
        "charge was being undone: it is undone again, before reserve: {first:?}"
    );
    apply_all(&mut machine, undo("charge"));
    let Command::Compensate { deadline, .. } = first[0] else {
        unreachable!()
    };
    let reserve = StepRef(0);
    assert_eq!(
        decide(&mut machine, now),
        [Command::Compensate {
            at: reserve,
            deadline
        }],
        "one deadline for every compensation"
    );
    apply_all(&mut machine, undo("reserve"));
    assert_eq!(
        decide(&mut machine, now),
        [Command::Finish(Finished {
            status: RunStatus::Compensated,
            output: None,
            error: None
        })]
    );
}

#[test]
fn failed_compensations_are_not_replayed_and_end_the_run_compensation_failed() {
    let events = log(
        json!({}),
        vec![
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
        ],
    );
    let mut machine = Machine::resume(workflow(), &events).expect("resumable");
    assert_eq!(
        decide(&mut machine, Instant::now()),
        [Command::Finish(Finished {
            status: RunStatus::CompensationFailed,
            output: None,
            error: None
        })]
    );
}

#[test]
fn a_log_without_a_start_or_with_a_foreign_step_is_refused() {
    assert_eq!(
        Machine::resume(workflow(), &[]).unwrap_err(),
        ResumeError::NotStarted
    );
    let events = log(json!({}), vec![attempt("teleport", 1)]);
    assert_eq!(
        Machine::resume(workflow(), &events).unwrap_err(),
        ResumeError::UnknownStep(UnknownStep("teleport".into()))
    );
}

#[test]
fn a_fresh_run_calls_in_order_and_skips_what_its_condition_rules_out() {
    let mut machine = Machine::new(workflow());
    apply_all(
        &mut machine,
        log(json!({"notify": false}), vec![])
            .into_iter()
            .map(|r| r.event),
    );
    let now = Instant::now();
    machine.start_clock(now, SystemTime::UNIX_EPOCH);
    assert_eq!(
        machine.decide(now),
        [
            Command::WakeAt(now + Duration::from_secs(10)),
            call(0, 0, 0)
        ]
    );
    assert_eq!(decide(&mut machine, now), []);
    apply_all(
        &mut machine,
        [
            attempt("reserve", 1),
            completed("reserve", json!({"id": 1})),
        ],
    );
    let skip = Command::Record(RunEvent::StepSkipped {
        step: "notify".into(),
    });
    assert_eq!(decide(&mut machine, now), [call(1, 0, 0), skip]);
    apply_all(
        &mut machine,
        [RunEvent::StepSkipped {
            step: "notify".into(),
        }],
    );
    assert_eq!(decide(&mut machine, now), [], "charge is in flight");
    apply_all(
        &mut machine,
        [attempt("charge", 1), completed("charge", json!(2))],
    );
    assert_eq!(decide(&mut machine, now), [call(2, 0, 0)]);
    apply_all(
        &mut machine,
        [attempt("ship", 1), completed("ship", json!(3))],
    );
    let [Command::Finish(finished)] = &decide(&mut machine, now)[..] else {
        panic!("the run ends");
    };
    assert_eq!(finished.status, RunStatus::Succeeded);
    assert_eq!(
        finished.output,
        Some(json!({"reservation": {"id": 1}, "payment": 2, "notice": null}))
    );
}

#[test]
fn a_condition_that_cannot_be_evaluated_fails_its_step_and_calls_no_sibling() {
    let mut machine = Machine::new(workflow());
    apply_all(
        &mut machine,
        log(
            json!({}),
            vec![attempt("reserve", 1), completed("reserve", json!({}))],
        )
        .into_iter()
        .map(|r| r.event),
    );
    let now = Instant::now();
    let commands = decide(&mut machine, now);
    assert!(
        matches!(&commands[..], [Command::Call { .. }, Command::Record(RunEvent::StepFailed { step, attempts: 0, error, .. })]
            if step == "notify" && error.starts_with("`when` could not be evaluated")),
        "{commands:?}"
    );
}

#[test]
fn past_the_deadline_the_run_halts_timed_out_cancels_its_calls_and_undoes() {
    let mut machine = Machine::new(workflow());
    apply_all(
        &mut machine,
        log(json!({}), vec![]).into_iter().map(|r| r.event),
    );
    let now = Instant::now();
    machine.start_clock(now, SystemTime::UNIX_EPOCH);
    assert!(decide(&mut machine, now).contains(&call(0, 0, 0)));
    apply_all(&mut machine, [attempt("reserve", 1)]);
    let later = now + Duration::from_secs(10);
    let halted = RunEvent::RunHalted {
        reason: HaltReason::TimedOut {
            after: Duration::from_secs(10),
        },
    };
    assert_eq!(
        decide(&mut machine, later),
        [Command::Record(halted.clone())]
    );
    apply_all(&mut machine, [halted]);
    assert_eq!(decide(&mut machine, later), [Command::CancelCalls]);
    assert_eq!(decide(&mut machine, later), [], "asked once");
    apply_all(
        &mut machine,
        [RunEvent::StepCancelled {
            step: "reserve".into(),
            outcome_unknown: true,
        }],
    );
    assert!(
        matches!(&decide(&mut machine, later)[..], [Command::Compensate { at, .. }] if at.0 == 0)
    );
    apply_all(&mut machine, undo("reserve"));
    let [Command::Finish(finished)] = &decide(&mut machine, later)[..] else {
        panic!("the run ends");
    };
    assert_eq!(finished.status, RunStatus::TimedOut);
}

#[test]
fn a_cancel_halts_once_and_a_resumed_halted_run_gives_up_its_interrupted_calls() {
    let events = log(json!({}), vec![attempt("reserve", 1)]);
    let mut machine = Machine::resume(workflow(), &events).expect("resumable");
    machine.cancel();
    let now = Instant::now();
    let halted = RunEvent::RunHalted {
        reason: HaltReason::Cancelled,
    };
    assert_eq!(decide(&mut machine, now), [Command::Record(halted.clone())]);
    apply_all(&mut machine, [halted]);
    machine.cancel();
    // Nothing was called by this machine: the interrupted call's outcome is
    // unknown, and it is undone like one that completed.
    let gave_up = RunEvent::StepCancelled {
        step: "reserve".into(),
        outcome_unknown: true,
    };
    assert_eq!(
        decide(&mut machine, now),
        [Command::Record(gave_up.clone())]
    );
    apply_all(&mut machine, [gave_up]);
    assert!(
        matches!(&decide(&mut machine, now)[..], [Command::Compensate { at, .. }] if at.0 == 0)
    );
    assert_eq!(machine.state().halt, Some(HaltReason::Cancelled));
}

#[test]
fn a_step_that_goes_on_after_failing_leaves_null_and_the_run_succeeds() {
    const GOES_ON: &str = r#"
name: goes_on
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - {id: notify, service: api, method: "POST /notify", output: notice, on_failure: continue}
  - {id: ship, service: api, method: "POST /ship", input: {sent: "{{ .notice.id }}"}}
"#;
    let workflow = Arc::new(load_str(GOES_ON, "goes_on.yaml", &|_| None).expect("valid"));
    let mut machine = Machine::new(workflow);
    apply_all(
        &mut machine,
        log(json!({}), vec![attempt("notify", 1)])
            .into_iter()
            .map(|r| r.event),
    );
    let now = Instant::now();
    apply_all(
        &mut machine,
        [RunEvent::StepFailed {
            step: "notify".into(),
            attempts: 3,
            error: "503".into(),
            outcome_unknown: false,
        }],
    );
    assert_eq!(decide(&mut machine, now), [call(1, 0, 0)], "no halt");
    assert_eq!(machine.scope().get("notice"), Some(&Value::Null));
    apply_all(
        &mut machine,
        [attempt("ship", 1), completed("ship", json!({}))],
    );
    let [Command::Finish(finished)] = &decide(&mut machine, now)[..] else {
        panic!("the run ends");
    };
    assert_eq!(finished.status, RunStatus::Succeeded);
    assert_eq!(finished.output, Some(json!({"notice": null})));
}
