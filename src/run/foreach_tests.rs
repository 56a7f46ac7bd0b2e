//! The machine's decisions on a foreach: its list journaled, elements in
//! order at most `concurrency` at once, the output in the list's order,
//! a failed element undoing every element's effects newest first, and a
//! resumed run calling only what had not ended.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::*;
use crate::workflow::{Workflow, load_str};

const WORKFLOW: &str = r#"
name: loops
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: reserve_all
    foreach: "{{ .input.items }}"
    concurrency: 2
    steps:
      - id: reserve
        service: api
        method: "POST /reserve"
        input: {sku: "{{ .item.sku }}", at: "{{ .item_index }}"}
        output: reservation
        compensate: {method: "POST /release", input: {id: "{{ .reservation.id }}"}}
    output: reservations
  - id: ship
    service: api
    method: "POST /ship"
    input: {first: "{{ .reservations[0].reservation.id }}"}
"#;

fn workflow(text: &str) -> Arc<Workflow> {
    Arc::new(load_str(text, "loops.yaml", &|_| None).expect("valid"))
}

/// A machine fed what it records, as the run actor would feed it.
struct Sim {
    machine: Machine,
    log: Vec<Recorded>,
    now: Instant,
}

impl Sim {
    fn new(text: &str, input: Value) -> Self {
        let mut sim = Sim {
            machine: Machine::new(workflow(text)),
            log: Vec::new(),
            now: Instant::now(),
        };
        sim.apply(RunEvent::RunStarted {
            run_id: "r1".into(),
            workflow: "loops".into(),
            input: input.into(),
            retry_of: None,
            traceparent: None,
        });
        sim
    }

    fn apply(&mut self, event: RunEvent) {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(self.log.len() as u64);
        let recorded = Recorded { at, event };
        self.machine.apply(&recorded).expect("known step");
        self.log.push(recorded);
    }

    /// Decide, applying what the machine records, until it asks for
    /// something else: the ids of the steps it calls or undoes.
    fn settle(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let mut recorded = false;
            for command in self.machine.decide(self.now) {
                match command {
                    Command::Record(event) => {
                        self.apply(event);
                        recorded = true;
                    }
                    Command::Call { at, .. } => out.push(self.id(at)),
                    Command::Compensate { at, .. } => out.push(format!("undo {}", self.id(at))),
                    Command::Finish(f) => out.push(format!("finish {}", f.status.label())),
                    Command::CancelCalls => out.push("cancel".into()),
                    Command::WakeAt(_) => {}
                }
            }
            if !recorded {
                return out;
            }
        }
    }

    fn id(&self, at: StepRef) -> String {
        self.machine.state().at(at).id.clone()
    }

    fn complete(&mut self, step: &str, output: Value) {
        self.apply(RunEvent::StepCompleted {
            step: step.into(),
            attempts: 1,
            output: output.into(),
        });
    }

    fn fail(&mut self, step: &str) {
        self.apply(RunEvent::StepFailed {
            step: step.into(),
            attempts: 3,
            error: "503".into(),
            outcome_unknown: false,
        });
    }

    fn undone(&mut self, step: &str) {
        self.apply(RunEvent::CompensationCompleted {
            step: step.into(),
            attempts: 1,
        });
    }
}

fn items(n: usize) -> Value {
    json!({"items": (0..n).map(|i| json!({"sku": format!("s{i}")})).collect::<Vec<_>>()})
}

#[test]
fn elements_start_in_order_two_at_once_and_the_output_keeps_the_lists_order() {
    let mut sim = Sim::new(WORKFLOW, items(3));
    assert_eq!(
        sim.settle(),
        ["reserve_all[0]/reserve", "reserve_all[1]/reserve"]
    );
    assert!(matches!(
        &sim.log[1].event,
        RunEvent::ForeachStarted { step, items } if step == "reserve_all" && items.len() == 3
    ));
    // Element 1 ends first: element 2 takes its place.
    sim.complete("reserve_all[1]/reserve", json!({"id": "r-1"}));
    assert_eq!(sim.settle(), ["reserve_all[2]/reserve"]);
    sim.complete("reserve_all[2]/reserve", json!({"id": "r-2"}));
    assert!(sim.settle().is_empty(), "element 0 is still in flight");
    sim.complete("reserve_all[0]/reserve", json!({"id": "r-0"}));
    assert_eq!(sim.settle(), ["ship"]);
    let state = sim.machine.state();
    assert_eq!(state.step("reserve_all").unwrap().phase, Phase::Completed);
    let list = sim.machine.scope().get("reservations").unwrap();
    assert_eq!(
        list,
        &json!([
            {"reservation": {"id": "r-0"}},
            {"reservation": {"id": "r-1"}},
            {"reservation": {"id": "r-2"}},
        ])
    );
    // Each element read its own item and position.
    let at = state.step("reserve_all[2]/reserve").unwrap().at;
    let scope = sim.machine.scope_of(at);
    assert_eq!(scope.get("item"), Some(&json!({"sku": "s2"})));
    assert_eq!(scope.get("item_index"), Some(&json!(2)));
    let order: Vec<&str> = state.in_order().map(|s| s.id.as_str()).collect();
    assert_eq!(
        order,
        [
            "reserve_all",
            "reserve_all[0]/reserve",
            "reserve_all[1]/reserve",
            "reserve_all[2]/reserve",
            "ship"
        ]
    );
}

#[test]
fn an_empty_list_gives_an_empty_output_and_a_non_list_fails_naming_the_template() {
    let mut sim = Sim::new(WORKFLOW, json!({"items": []}));
    assert_eq!(sim.settle(), ["ship"]);
    assert_eq!(sim.machine.scope().get("reservations"), Some(&json!([])));

    let mut sim = Sim::new(WORKFLOW, json!({"items": {"a": 1}}));
    assert_eq!(sim.settle(), ["finish compensated"]);
    let step = sim.machine.state().step("reserve_all").unwrap();
    assert_eq!(step.phase, Phase::Failed);
    let error = step.error.as_deref().unwrap();
    assert!(
        error.contains("{{ .input.items }}") && error.contains("an object"),
        "{error}"
    );
}

#[test]
fn a_list_past_the_limit_fails_the_step() {
    let mut sim = Sim::new(WORKFLOW, items(crate::workflow::MAX_FOREACH_ITEMS + 1));
    assert_eq!(sim.settle(), ["finish compensated"]);
    let error = sim
        .machine
        .state()
        .step("reserve_all")
        .unwrap()
        .error
        .clone();
    assert!(error.unwrap().contains("more than the 10000"));
}

#[test]
fn a_failed_element_cancels_the_others_and_undoes_every_elements_effects_newest_first() {
    let mut sim = Sim::new(WORKFLOW, items(4));
    sim.settle();
    sim.complete("reserve_all[1]/reserve", json!({"id": "r-1"}));
    sim.settle();
    sim.complete("reserve_all[0]/reserve", json!({"id": "r-0"}));
    sim.settle();
    // Elements 2 and 3 are in flight; 2 fails.
    sim.fail("reserve_all[2]/reserve");
    assert_eq!(sim.settle(), ["cancel"]);
    sim.apply(RunEvent::StepCancelled {
        step: "reserve_all[3]/reserve".into(),
        outcome_unknown: false,
    });
    assert_eq!(sim.settle(), ["undo reserve_all[0]/reserve"]);
    sim.undone("reserve_all[0]/reserve");
    assert_eq!(sim.settle(), ["undo reserve_all[1]/reserve"]);
    sim.undone("reserve_all[1]/reserve");
    assert_eq!(sim.settle(), ["finish compensated"]);
    let state = sim.machine.state();
    assert_eq!(state.step("reserve_all").unwrap().phase, Phase::Cancelled);
    assert!(matches!(
        &state.halt,
        Some(HaltReason::Failed { step, .. }) if step == "reserve_all[2]/reserve"
    ));
    // The compensation read its own element's output.
    let at = state.step("reserve_all[0]/reserve").unwrap().at;
    let scope = sim.machine.scope_of(at);
    assert_eq!(scope.get("reservation"), Some(&json!({"id": "r-0"})));
}

#[test]
fn a_resumed_foreach_opens_the_same_elements_and_calls_only_the_unfinished_ones() {
    let mut sim = Sim::new(WORKFLOW, items(3));
    sim.settle();
    sim.complete("reserve_all[0]/reserve", json!({"id": "r-0"}));
    sim.settle();
    // A crash: element 1's attempt was announced and never answered.
    sim.apply(RunEvent::AttemptStarted {
        step: "reserve_all[1]/reserve".into(),
        attempt: 1,
        idempotency_key: "r1:reserve_all[1]/reserve".into(),
        request: None,
    });
    let mut resumed = Machine::resume(workflow(WORKFLOW), &sim.log).expect("resumes");
    let calls: Vec<String> = resumed
        .decide(sim.now)
        .into_iter()
        .filter_map(|c| match c {
            Command::Call { at, .. } => Some(resumed.state().at(at).id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls, ["reserve_all[1]/reserve", "reserve_all[2]/reserve"]);
    let at = resumed.state().step("reserve_all[0]/reserve").unwrap().at;
    assert_eq!(
        resumed.scope_of(at).get("reservation"),
        Some(&json!({"id": "r-0"}))
    );
}

const NESTED: &str = r#"
name: nested
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: rows
    foreach: "{{ .input.rows }}"
    as: row
    steps:
      - id: cells
        foreach: "{{ .row }}"
        as: cell
        concurrency: 3
        steps:
          - id: put
            service: api
            method: "POST /put"
            input: {row: "{{ .row_index }}", cell: "{{ .cell }}"}
            output: stored
        output: row_out
    output: table
"#;

#[test]
fn a_foreach_inside_a_foreach_names_its_steps_by_both_positions() {
    let mut sim = Sim::new(NESTED, json!({"rows": [["a", "b"], ["c"]]}));
    assert_eq!(
        sim.settle(),
        ["rows[0]/cells[0]/put", "rows[0]/cells[1]/put"]
    );
    sim.complete("rows[0]/cells[0]/put", json!(1));
    sim.complete("rows[0]/cells[1]/put", json!(2));
    assert_eq!(sim.settle(), ["rows[1]/cells[0]/put"]);
    let at = sim.machine.state().step("rows[1]/cells[0]/put").unwrap().at;
    let scope = sim.machine.scope_of(at);
    assert_eq!(scope.get("row_index"), Some(&json!(1)));
    assert_eq!(scope.get("cell"), Some(&json!("c")));
    sim.complete("rows[1]/cells[0]/put", json!(3));
    assert_eq!(sim.settle(), ["finish succeeded"]);
    assert_eq!(
        sim.machine.scope().get("table"),
        Some(&json!([
            {"row_out": [{"stored": 1}, {"stored": 2}]},
            {"row_out": [{"stored": 3}]},
        ]))
    );
}

#[test]
fn a_foreach_that_goes_on_after_failing_lets_its_other_elements_finish_and_reads_null() {
    let text = WORKFLOW.replace(
        "    output: reservations",
        "    output: reservations\n    on_failure: continue",
    );
    let mut sim = Sim::new(&text, items(3));
    sim.settle();
    sim.fail("reserve_all[0]/reserve");
    assert_eq!(
        sim.settle(),
        ["reserve_all[2]/reserve"],
        "no halt: the loop goes on"
    );
    sim.complete("reserve_all[1]/reserve", json!({"id": "r-1"}));
    sim.complete("reserve_all[2]/reserve", json!({"id": "r-2"}));
    // `ship` reads element 0's output, now null, and fails to render
    // only at call time: the machine calls it.
    assert_eq!(sim.settle(), ["ship"]);
    let step = sim.machine.state().step("reserve_all").unwrap();
    assert_eq!(step.phase, Phase::Failed);
    assert!(
        step.error
            .as_deref()
            .unwrap()
            .contains("reserve_all[0]/reserve")
    );
    assert_eq!(sim.machine.scope().get("reservations"), Some(&Value::Null));
}
