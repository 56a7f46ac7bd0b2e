//! The machine's decisions on `sleep`, `sleep_until` and `wait`: wake-ups
//! journaled and counted from the journal after a restart, signals taken
//! once each, in order, kept when they come early, and timeouts and
//! cancels undoing what ran before.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::*;
use crate::workflow::{Workflow, load_str};

const WORKFLOW: &str = r#"
name: pauses
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: reserve
    service: api
    method: "POST /reserve"
    compensate: {method: "POST /release"}
  - id: approval
    wait: approve
    timeout: 24h
    output: decision
  - id: cool_off
    sleep: 10m
  - id: until
    sleep_until: "{{ .input.ship_at }}"
  - id: ship
    service: api
    method: "POST /ship"
    input: {by: "{{ .decision.by }}"}
"#;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

fn workflow() -> Arc<Workflow> {
    Arc::new(load_str(WORKFLOW, "pauses.yaml", &|_| None).expect("valid"))
}

/// The wall clock's origin in these tests: 2026-12-04T00:00:00Z.
fn wall0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_342_400)
}

/// A machine whose clocks read `wall0() + offset` at `now`.
struct Run {
    machine: Machine,
    /// Every event applied, as a journal would hold them.
    log: Vec<Recorded>,
    /// Wall-clock time of each event applied: the moment it was decided.
    t0: Instant,
}

impl Run {
    fn new(input: Value) -> Self {
        let mut machine = Machine::new(workflow());
        let t0 = Instant::now();
        machine.start_clock(t0, wall0());
        let mut run = Run {
            machine,
            log: Vec::new(),
            t0,
        };
        run.apply(
            Duration::ZERO,
            RunEvent::RunStarted {
                run_id: "r1".into(),
                workflow: "pauses".into(),
                input: input.into(),
                retry_of: None,
                traceparent: None,
            },
        );
        run
    }

    /// A machine taken up again from `events` at `offset` past `wall0()`.
    fn resumed(events: &[Recorded], offset: Duration) -> Self {
        let mut machine = Machine::resume(workflow(), events).expect("resumes");
        let t0 = Instant::now();
        machine.start_clock(t0 + offset, wall0() + offset);
        let log = events.to_vec();
        Run { machine, log, t0 }
    }

    fn apply(&mut self, offset: Duration, event: RunEvent) {
        let recorded = Recorded {
            at: wall0() + offset,
            event,
        };
        self.machine.apply(&recorded).expect("known step");
        self.log.push(recorded);
    }

    /// Decide at `offset`, applying what the machine records, until it
    /// asks for something else; those other commands, wake-ups as offsets.
    fn settle(&mut self, offset: Duration) -> Vec<Command> {
        let mut out = Vec::new();
        loop {
            let mut recorded = false;
            for command in self.machine.decide(self.t0 + offset) {
                match command {
                    Command::Record(event) => {
                        self.apply(offset, event);
                        recorded = true;
                    }
                    other => out.push(other),
                }
            }
            if !recorded {
                return out;
            }
        }
    }

    fn phase(&self, step: &str) -> Phase {
        self.machine.state().step(step).expect("step").phase
    }

    fn wake(&self, offset: Duration) -> Command {
        Command::WakeAt(self.t0 + offset)
    }
}

fn call(node: usize) -> Command {
    Command::Call {
        at: StepRef(node as u32),
        attempts_before: 0,
    }
}

fn completed(step: &str, output: Value) -> RunEvent {
    RunEvent::StepCompleted {
        step: step.into(),
        attempts: 1,
        output: output.into(),
    }
}

fn signal(id: &str, by: &str) -> RunEvent {
    RunEvent::SignalReceived {
        name: "approve".into(),
        id: id.into(),
        payload: json!({ "by": by }),
    }
}

/// 03:00 UTC on the test's day, written with an offset.
const SHIP_AT: &str = "2026-12-04T04:00:00+01:00";

#[test]
fn a_wait_takes_its_signal_and_a_sleep_wakes_at_its_journaled_time() {
    let mut run = Run::new(json!({ "ship_at": SHIP_AT }));
    assert_eq!(run.settle(Duration::ZERO), [call(0)]);
    run.apply(Duration::ZERO, completed("reserve", json!({})));
    // Waiting: woken at the timeout only.
    assert_eq!(run.settle(Duration::ZERO), [run.wake(24 * HOUR)]);
    assert_eq!(run.phase("approval"), Phase::Waiting);
    assert_eq!(run.settle(HOUR), []);
    run.apply(2 * HOUR, signal("s1", "ana"));
    // The signal ends the wait; the sleep of 10 minutes begins.
    assert_eq!(run.settle(2 * HOUR), [run.wake(2 * HOUR + 10 * MINUTE)]);
    assert_eq!(run.phase("approval"), Phase::Completed);
    let decision = run.machine.scope().get("decision");
    assert_eq!(decision, Some(&json!({"by": "ana"})));
    let cool_off = run.machine.state().step("cool_off").unwrap();
    assert_eq!(cool_off.until, Some(wall0() + 2 * HOUR + 10 * MINUTE));
    // Early, nothing; on time, the next sleep, to 03:00 UTC.
    assert_eq!(run.settle(2 * HOUR + 5 * MINUTE), []);
    let woken = run.settle(2 * HOUR + 10 * MINUTE);
    assert_eq!(woken, [run.wake(3 * HOUR)]);
    assert_eq!(run.phase("cool_off"), Phase::Completed);
    let until = run.machine.state().step("until").unwrap().until;
    assert_eq!(until, Some(wall0() + 3 * HOUR));
    assert_eq!(run.settle(3 * HOUR), [call(4)]);
}

#[test]
fn after_a_restart_only_the_rest_of_a_sleep_is_slept() {
    let mut run = Run::new(json!({ "ship_at": SHIP_AT }));
    run.settle(Duration::ZERO);
    run.apply(Duration::ZERO, completed("reserve", json!({})));
    run.apply(Duration::ZERO, signal("s1", "ana"));
    run.settle(Duration::ZERO);
    assert_eq!(run.phase("cool_off"), Phase::Waiting);
    let journal = journal_of(&run);
    // Back 7 minutes later: 3 minutes left.
    let mut back = Run::resumed(&journal, 7 * MINUTE);
    assert_eq!(back.settle(7 * MINUTE), [back.wake(10 * MINUTE)]);
    // Back after the sleep's end: it ends at once, the next one begins.
    let mut late = Run::resumed(&journal, 20 * MINUTE);
    assert_eq!(late.settle(20 * MINUTE), [late.wake(3 * HOUR)]);
    assert_eq!(late.phase("cool_off"), Phase::Completed);
    // A `sleep_until` in the past goes on at once.
    let mut later = Run::resumed(&journal, 4 * HOUR);
    assert_eq!(later.settle(4 * HOUR), [call(4)]);
}

/// The events a run has applied, rebuilt for a resume: its state is the
/// fold of them, so the test keeps them as it applies.
fn journal_of(run: &Run) -> Vec<Recorded> {
    run.log.clone()
}

#[test]
fn a_signal_sent_early_is_kept_and_one_sent_twice_counts_once() {
    let mut run = Run::new(json!({ "ship_at": SHIP_AT }));
    run.apply(Duration::ZERO, signal("s1", "ana"));
    run.apply(Duration::ZERO, signal("s1", "ana"));
    assert_eq!(run.settle(Duration::ZERO), [call(0)]);
    run.apply(Duration::ZERO, completed("reserve", json!({})));
    run.settle(MINUTE);
    assert_eq!(run.phase("approval"), Phase::Completed);
    let decision = run.machine.scope().get("decision");
    assert_eq!(decision, Some(&json!({"by": "ana"})));
    // Taken from the journal after a restart, not taken twice.
    let back = Run::resumed(&journal_of(&run), 2 * MINUTE);
    assert_eq!(back.phase("approval"), Phase::Completed);
    assert_eq!(back.machine.pending_signals("approve"), 0);
}

#[test]
fn a_wait_past_its_timeout_fails_and_what_ran_is_undone() {
    let mut run = Run::new(json!({ "ship_at": SHIP_AT }));
    run.settle(Duration::ZERO);
    run.apply(Duration::ZERO, completed("reserve", json!({})));
    run.settle(Duration::ZERO);
    let commands = run.settle(24 * HOUR);
    assert!(
        matches!(commands.as_slice(), [Command::Compensate { at, .. }] if at.0 == 0),
        "{commands:?}"
    );
    let approval = run.machine.state().step("approval").unwrap();
    assert_eq!(approval.phase, Phase::Failed);
    let error = approval.error.as_deref().unwrap_or_default();
    assert_eq!(error, "no signal `approve` arrived within 1day");
}

#[test]
fn cancelling_a_waiting_run_ends_the_wait_and_undoes_what_ran() {
    let mut run = Run::new(json!({ "ship_at": SHIP_AT }));
    run.settle(Duration::ZERO);
    run.apply(Duration::ZERO, completed("reserve", json!({})));
    run.settle(Duration::ZERO);
    run.machine.cancel();
    let commands = run.settle(MINUTE);
    assert!(
        matches!(commands.as_slice(), [Command::Compensate { at, .. }] if at.0 == 0),
        "{commands:?}"
    );
    let approval = run.machine.state().step("approval").unwrap();
    assert_eq!(
        (approval.phase, approval.outcome_unknown),
        (Phase::Cancelled, false)
    );
}

#[test]
fn a_sleep_until_that_is_no_time_fails_the_step_naming_the_field() {
    let mut run = Run::new(json!({ "ship_at": "next tuesday" }));
    run.settle(Duration::ZERO);
    run.apply(Duration::ZERO, completed("reserve", json!({})));
    run.apply(Duration::ZERO, signal("s1", "ana"));
    run.settle(Duration::ZERO);
    run.settle(10 * MINUTE);
    let until = run.machine.state().step("until").unwrap();
    assert_eq!(until.phase, Phase::Failed);
    let error = until.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("`sleep_until`: `next tuesday` is not an RFC 3339 time"),
        "{error}"
    );
    assert!(run.machine.state().halt.is_some());
}
