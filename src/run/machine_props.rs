//! Random workflows driven through the machine by a simulated executor that
//! finishes calls in random order, fails some, cancels the run and crashes
//! (the machine rebuilt from the journal alone, calls in flight lost). On
//! every run: the live state is the fold of the journal, nothing is called
//! before its node's turn or after the halt, and the saga undoes every
//! step that may have taken effect exactly once, the last effect first.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::json;
use tokio::time::Instant;

use super::*;
use crate::workflow::{Workflow, load_str};

/// One step: has a compensation (or else may go on after failing), and
/// its `when` (none, true, false, or one that cannot be evaluated).
#[derive(Debug, Clone)]
struct Shape {
    compensate: bool,
    continues: bool,
    when: u8,
}

fn workflow(nodes: &[Vec<Shape>]) -> Arc<Workflow> {
    let mut yaml = String::from(
        "name: prop\nservices:\n  api: {type: http, endpoint: \"http://127.0.0.1:9\"}\nsteps:\n",
    );
    let mut n = 0;
    for node in nodes {
        let indent = if node.len() > 1 {
            yaml.push_str("  - parallel:\n");
            "      "
        } else {
            "  "
        };
        for shape in node {
            let _ = writeln!(yaml, "{indent}- id: s{n}\n{indent}  service: api");
            let _ = writeln!(
                yaml,
                "{indent}  method: \"POST /s{n}\"\n{indent}  output: o{n}"
            );
            let when = [
                "",
                "{{ .input.yes }}",
                "{{ .input.no }}",
                "{{ .input.absent }}",
            ];
            if shape.when > 0 {
                let _ = writeln!(yaml, "{indent}  when: \"{}\"", when[shape.when as usize]);
            }
            if shape.compensate {
                let _ = writeln!(yaml, "{indent}  compensate: {{method: \"POST /u{n}\"}}");
            } else if shape.continues {
                let _ = writeln!(yaml, "{indent}  on_failure: continue");
            }
            n += 1;
        }
    }
    Arc::new(load_str(&yaml, "prop.yaml", &|_| None).expect("a valid workflow"))
}

/// The executor: the journal, and the calls and undo in flight.
struct Sim {
    workflow: Arc<Workflow>,
    machine: Machine,
    journal: Vec<Recorded>,
    calls: Vec<StepRef>,
    undo: Option<StepRef>,
    now: Instant,
    crashes: u32,
}

impl Sim {
    fn record(&mut self, event: RunEvent) {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(self.journal.len() as u64);
        self.journal.push(Recorded { at, event });
    }

    fn id(&self, at: StepRef) -> String {
        self.workflow
            .all_steps()
            .nth(at.index())
            .expect("a step")
            .id
            .clone()
    }

    /// What the run actor does: catch up, decide, carry out, until the
    /// machine waits for an outcome. True once the run has ended.
    fn drive(&mut self) -> bool {
        loop {
            for recorded in &self.journal[self.machine.applied()..] {
                self.machine.apply(recorded).expect("known steps");
            }
            let mut recorded = false;
            for command in self.machine.decide(self.now) {
                match command {
                    Command::Record(event) => {
                        self.record(event);
                        recorded = true;
                    }
                    Command::Call {
                        at,
                        attempts_before,
                    } => self.call(at, attempts_before),
                    Command::CancelCalls => {
                        for at in std::mem::take(&mut self.calls) {
                            let step = self.id(at);
                            self.record(RunEvent::StepCancelled {
                                step,
                                outcome_unknown: true,
                            });
                        }
                        recorded = true;
                    }
                    Command::Compensate { at, .. } => self.compensate(at),
                    Command::WakeAt(_) => {}
                    Command::Finish(f) => {
                        self.record(RunEvent::RunFinished {
                            status: f.status,
                            output: f.output,
                            error: f.error,
                        });
                        return true;
                    }
                }
            }
            if !recorded {
                return false;
            }
        }
    }

    /// A call leaves: its attempt is announced first.
    fn call(&mut self, at: StepRef, attempts_before: u32) {
        let step = self.id(at);
        let key = format!("r:{step}");
        self.record(RunEvent::AttemptStarted {
            step,
            attempt: attempts_before + 1,
            idempotency_key: key,
            request: None,
        });
        self.calls.push(at);
    }

    fn compensate(&mut self, at: StepRef) {
        let step = self.id(at);
        self.record(RunEvent::CompensationStarted {
            step,
            attempt: 1,
            request: None,
        });
        self.undo = Some(at);
    }

    /// One thing happens, chosen by `pick`: a call or the undo ends, the
    /// run is cancelled, or the process crashes.
    fn happen(&mut self, pick: u8) {
        if pick >= 250 && self.crashes < 3 {
            self.crashes += 1;
            self.calls.clear();
            self.undo = None;
            self.machine = Machine::resume(self.workflow.clone(), &self.journal).expect("resume");
            self.record(RunEvent::RunResumed);
            return;
        }
        if pick >= 240 {
            self.machine.cancel();
            return;
        }
        if let Some(at) = self.undo.take() {
            let step = self.id(at);
            self.record(if pick.is_multiple_of(5) {
                RunEvent::CompensationFailed {
                    step,
                    attempts: 1,
                    error: "gone".into(),
                }
            } else {
                RunEvent::CompensationCompleted { step, attempts: 1 }
            });
            return;
        }
        if self.calls.is_empty() {
            return;
        }
        let at = self.calls.remove(pick as usize % self.calls.len());
        let step = self.id(at);
        self.record(match pick % 7 {
            0 => RunEvent::StepFailed {
                step,
                attempts: 1,
                error: "no".into(),
                outcome_unknown: false,
            },
            1 => RunEvent::StepFailed {
                step,
                attempts: 1,
                error: "timed out".into(),
                outcome_unknown: true,
            },
            _ => RunEvent::StepCompleted {
                step,
                attempts: 1,
                output: json!(pick).into(),
            },
        });
    }
}

fn shapes() -> impl Strategy<Value = Vec<Vec<Shape>>> {
    let when = prop_oneof![4 => Just(0u8), 1 => 1..4u8];
    let shape =
        (any::<bool>(), any::<bool>(), when).prop_map(|(compensate, continues, when)| Shape {
            compensate,
            continues,
            when,
        });
    prop::collection::vec(prop::collection::vec(shape, 1..4), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_machine_keeps_the_saga_through_crashes(
        nodes in shapes(),
        picks in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let workflow = workflow(&nodes);
        let mut sim = Sim {
            machine: Machine::new(workflow.clone()),
            workflow: workflow.clone(),
            journal: Vec::new(),
            calls: Vec::new(),
            undo: None,
            now: Instant::now(),
            crashes: 0,
        };
        sim.record(RunEvent::RunStarted {
            run_id: "r".into(),
            workflow: "prop".into(),
            input: json!({"yes": true, "no": false}).into(),
            retry_of: None,
            traceparent: None,
        });
        let mut picks = picks.into_iter().chain(std::iter::repeat(100));
        let mut ended = false;
        for _ in 0..1_000 {
            if sim.drive() {
                ended = true;
                break;
            }
            sim.happen(picks.next().unwrap_or_default());
        }
        prop_assert!(ended, "the run never ended: {:?}", sim.journal);
        let folded = RunState::fold(&workflow, &sim.journal).expect("fold");
        sim.machine.apply(sim.journal.last().expect("an end")).expect("apply");
        prop_assert_eq!(&folded, sim.machine.state(), "live state is the journal's fold");
        check(&workflow, &sim.journal)?;
    }
}

/// What a run's journal shows, walked in order.
#[derive(Default)]
struct Walk<'j> {
    /// Steps with an outcome, at the event that gave it.
    settled: HashMap<&'j str, usize>,
    /// Steps that may have taken effect, in the order they ended.
    effects: Vec<&'j str>,
    /// Compensations in the order they ended.
    undone: Vec<&'j str>,
    halted: Option<&'j HaltReason>,
    undo_failed: bool,
}

/// The rules the journal of every run keeps.
fn check(workflow: &Workflow, journal: &[Recorded]) -> Result<(), TestCaseError> {
    let walk = walk(workflow, journal)?;
    let Some(RunEvent::RunFinished { status, .. }) = journal.last().map(|r| &r.event) else {
        return Err(TestCaseError::fail(
            "the journal does not end with the run's end",
        ));
    };
    let compensable = |step: &&str| {
        workflow
            .all_steps()
            .any(|s| s.id == *step && s.compensation().is_some())
    };
    let mut effects: Vec<&str> = walk.effects.into_iter().filter(compensable).collect();
    match walk.halted {
        None => {
            prop_assert_eq!(*status, RunStatus::Succeeded);
            prop_assert!(
                walk.undone.is_empty(),
                "a run that went through undoes nothing"
            );
        }
        Some(reason) => {
            prop_assert_eq!(*status, reason.status(walk.undo_failed));
            effects.reverse();
            prop_assert_eq!(
                walk.undone,
                effects,
                "each effect undone once, the last first"
            );
        }
    }
    Ok(())
}

/// Walk the journal, checking that no step is called out of its node's
/// turn, twice, or after the halt, and that no step let fail halts.
fn walk<'j>(workflow: &Workflow, journal: &'j [Recorded]) -> Result<Walk<'j>, TestCaseError> {
    let node_of: HashMap<String, usize> = (workflow.steps.iter().enumerate())
        .flat_map(|(node, entry)| entry.steps().iter().map(move |s| (s.id.clone(), node)))
        .collect();
    let mut w = Walk::default();
    for (i, recorded) in journal.iter().enumerate() {
        match &recorded.event {
            RunEvent::AttemptStarted { step, .. } => {
                prop_assert!(w.halted.is_none(), "{step} called after the halt");
                prop_assert!(
                    !w.settled.contains_key(step.as_str()),
                    "{step} called again"
                );
                let earlier = node_of.iter().filter(|(_, n)| **n < node_of[step]);
                for (id, _) in earlier {
                    prop_assert!(w.settled.contains_key(id.as_str()), "{step} before {id}");
                }
            }
            RunEvent::StepCompleted { step, .. } => {
                w.settled.insert(step, i);
                w.effects.push(step);
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
                w.settled.insert(step, i);
                if *outcome_unknown {
                    w.effects.push(step);
                }
            }
            RunEvent::StepSkipped { step } => {
                w.settled.insert(step, i);
            }
            RunEvent::RunHalted { reason } => {
                if let HaltReason::Failed { step, .. } = reason {
                    let goes_on = workflow.all_steps().any(|s| {
                        &s.id == step && s.on_failure == crate::workflow::OnFailure::Continue
                    });
                    prop_assert!(!goes_on, "{step} goes on after failing");
                }
                w.halted = Some(reason);
            }
            RunEvent::CompensationCompleted { step, .. } => w.undone.push(step),
            RunEvent::CompensationFailed { step, .. } => {
                w.undo_failed = true;
                w.undone.push(step);
            }
            _ => {}
        }
    }
    Ok(w)
}
