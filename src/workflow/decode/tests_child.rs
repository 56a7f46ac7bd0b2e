//! `workflow` steps: the child file loaded and validated with its parent,
//! its services merged, and every problem (a missing or invalid child, a
//! cycle, a clash of services) reported where the parent names the child.

use std::path::PathBuf;

use crate::workflow::model::{Action, Node, SubWorkflow, Workflow};
use crate::workflow::{Diagnostic, Diagnostics, load_file};

/// A folder of workflow files, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("maestro-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (file, text) in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Folder(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    fn load(&self, file: &str) -> Result<Workflow, Diagnostics> {
        load_file(self.path(file))
    }

    /// `file:line:column: path: message`, the file relative to the folder.
    fn problems(&self, file: &str) -> Vec<String> {
        let diagnostics = self.load(file).expect_err("expected problems");
        diagnostics.iter().map(|d| self.short(d)).collect()
    }

    fn short(&self, d: &Diagnostic) -> String {
        let file = d.file.strip_prefix(&self.0).unwrap_or(&d.file);
        let message = d.message.replace(&self.0.display().to_string(), "DIR");
        format!(
            "{}:{}:{}: {}: {}",
            file.display(),
            d.line,
            d.column,
            d.path,
            message
        )
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn http(name: &str, port: u16) -> String {
    format!("  {name}:\n    type: http\n    endpoint: \"http://127.0.0.1:{port}\"\n")
}

/// A workflow of one service and the given steps (a step starts on line
/// 4 + 3 × services).
fn workflow(services: &[(&str, u16)], steps: &str) -> String {
    let services: String = services.iter().map(|(n, p)| http(n, *p)).collect();
    format!("name: w\nservices:\n{services}steps:\n{steps}")
}

fn child_of(step: &crate::workflow::model::Step) -> &SubWorkflow {
    match &step.action {
        Action::Workflow(child) => child,
        other => panic!("expected a child workflow, got {other:?}"),
    }
}

const PAYMENT: &str = r#"name: payment
input_schema: {type: object, required: [amount]}
services:
  pay:
    type: http
    endpoint: "http://127.0.0.1:7002"
  api:
    type: http
    endpoint: "http://127.0.0.1:7001"
schedules:
  - every: 1h
    input: {amount: 1}
steps:
  - id: charge
    service: pay
    method: "POST /charge"
    input: {amount: "{{ .input.amount }}", run: "{{ .run.id }}"}
    output: receipt
output: {id: "{{ .receipt.id }}"}
"#;

#[test]
fn a_child_is_loaded_with_its_parent_and_brings_its_services() {
    let parent = workflow(
        &[("api", 7001)],
        "  - id: pay\n    workflow: payment.yaml\n    input: {amount: \"{{ .input.total }}\"}\n    \
         output: payment\n  - id: after\n    service: api\n    method: \"POST /done/{{ .payment.id }}\"\n",
    );
    let folder = Folder::new(
        "child-loaded",
        &[("checkout.yaml", &parent), ("payment.yaml", PAYMENT)],
    );
    let w = folder
        .load("checkout.yaml")
        .unwrap_or_else(|d| panic!("{d}"));
    let names: Vec<&str> = w.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["api", "pay"],
        "the child's services join, each name once"
    );
    let step = w.all_steps().next().unwrap();
    let child = child_of(step);
    assert_eq!(child.path, "payment.yaml");
    assert_eq!(child.workflow.name, "payment");
    assert_eq!(child.workflow.source, folder.path("payment.yaml"));
    assert!(
        child.workflow.schedules.is_empty(),
        "a child's schedules are not the parent's"
    );
    assert!(child.workflow.input_schema.is_some());
    assert_eq!(step.label(), "workflow payment.yaml");
    let deep: Vec<&str> = w.deep_steps().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(deep, ["pay", "charge", "after"]);
    let alone = folder
        .load("payment.yaml")
        .expect("the child is valid alone");
    assert_eq!(alone.schedules.len(), 1, "alone, it keeps its schedules");
}

#[test]
fn a_child_in_a_loop_reads_its_own_input_not_the_loops_element() {
    let parent = workflow(
        &[],
        "  - id: each\n    foreach: \"{{ .input.orders }}\"\n    steps:\n      - id: pay\n        \
         workflow: sub/payment.yaml\n        input: {amount: \"{{ .item.total }}\", n: \"{{ .item_index }}\"}\n",
    );
    let child = PAYMENT.replace("{{ .run.id }}", "{{ .item }}");
    let folder = Folder::new(
        "child-loop",
        &[("p.yaml", &parent), ("sub/payment.yaml", &child)],
    );
    assert_eq!(
        folder.problems("p.yaml"),
        [
            "p.yaml:8:19: steps[0].steps[0].workflow: workflow `sub/payment.yaml` is invalid: 1 problem",
            "sub/payment.yaml:17:49: steps[0].input.run: `.item`: no step outputs `item`",
        ]
    );
    let folder = Folder::new(
        "child-loop-ok",
        &[("p.yaml", &parent), ("sub/payment.yaml", PAYMENT)],
    );
    let w = folder.load("p.yaml").unwrap_or_else(|d| panic!("{d}"));
    let Action::Foreach(each) = &w.all_steps().next().unwrap().action else {
        panic!("expected a loop")
    };
    let Node::Step(pay) = &each.body[0] else {
        panic!("expected a step")
    };
    assert_eq!(child_of(pay).workflow.name, "payment");
    assert_eq!(
        w.services.len(),
        2,
        "services of a child in a body join too"
    );
}

#[test]
fn a_cycle_is_refused_naming_the_chain() {
    let a = workflow(&[], "  - id: to_b\n    workflow: b.yaml\n");
    let b = workflow(&[], "  - id: to_a\n    workflow: a.yaml\n");
    let own = workflow(&[], "  - id: again\n    workflow: self.yaml\n");
    let folder = Folder::new(
        "child-cycle",
        &[("a.yaml", &a), ("b.yaml", &b), ("self.yaml", &own)],
    );
    let found = folder.problems("a.yaml");
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        found[0],
        "a.yaml:5:15: steps[0].workflow: workflow `b.yaml` is invalid: 1 problem"
    );
    assert_eq!(
        found[1],
        "b.yaml:5:15: steps[0].workflow: workflow `a.yaml` uses itself: \
         DIR/a.yaml → DIR/b.yaml → DIR/a.yaml"
    );
    assert_eq!(
        folder.problems("self.yaml"),
        [
            "self.yaml:5:15: steps[0].workflow: workflow `self.yaml` uses itself: DIR/self.yaml → DIR/self.yaml"
        ]
    );
}

#[test]
fn a_missing_outside_or_invalid_child_is_reported_where_it_is_named() {
    let parent = workflow(
        &[],
        "  - id: gone\n    workflow: nothere.yaml\n  - id: out\n    workflow: ../x.yaml\n  \
         - id: bad\n    workflow: bad.yaml\n  - id: bad_again\n    workflow: ./bad.yaml\n",
    );
    let bad = "name: bad\nsteps:\n  - id: x\n    sleep: soon\n";
    let folder = Folder::new("child-missing", &[("p.yaml", &parent), ("bad.yaml", bad)]);
    assert_eq!(
        folder.problems("p.yaml"),
        [
            "p.yaml:5:15: steps[0].workflow: `nothere.yaml` does not exist (looked for `DIR/nothere.yaml`)",
            "p.yaml:7:15: steps[1].workflow: `../x.yaml` is outside the workflow's folder",
            "p.yaml:9:15: steps[2].workflow: workflow `bad.yaml` is invalid: 1 problem",
            "p.yaml:11:15: steps[3].workflow: workflow `./bad.yaml` is invalid (its problems are listed once)",
            "bad.yaml:4:12: steps[0].sleep: `soon` is not a duration: expected number at 0",
        ]
    );
}

#[test]
fn a_service_declared_twice_must_be_the_same_service() {
    let parent = workflow(
        &[("api", 7001), ("pay", 9999)],
        "  - id: pay\n    workflow: payment.yaml\n",
    );
    let folder = Folder::new(
        "child-clash",
        &[("p.yaml", &parent), ("payment.yaml", PAYMENT)],
    );
    assert_eq!(
        folder.problems("p.yaml"),
        [
            "p.yaml:11:15: steps[0].workflow: service `pay` of `DIR/payment.yaml` \
             (http at http://127.0.0.1:7002/) is not the one `DIR/p.yaml` declares \
             (http at http://127.0.0.1:9999/)"
        ]
    );
}

#[test]
fn a_workflow_step_takes_input_and_no_field_of_a_call() {
    let parent = workflow(
        &[("api", 7001)],
        "  - id: pay\n    workflow: payment.yaml\n    service: api\n    timeout: 5s\n    as: x\n    \
         input: {amount: \"{{ .later }}\"}\n  - id: after\n    service: api\n    method: \"POST /x\"\n    \
         output: later\n",
    );
    let folder = Folder::new(
        "child-fields",
        &[("p.yaml", &parent), ("payment.yaml", PAYMENT)],
    );
    assert_eq!(
        folder.problems("p.yaml"),
        [
            "p.yaml:9:5: steps[0].service: a `workflow` step calls no service: `service` has no place here",
            "p.yaml:10:5: steps[0].timeout: a `workflow` step takes no `timeout`",
            "p.yaml:11:5: steps[0].as: `as` belongs to a `foreach` step",
        ]
    );
    let parent = parent.replace("    service: api\n    timeout: 5s\n    as: x\n", "");
    let folder = Folder::new(
        "child-reads",
        &[("p.yaml", &parent), ("payment.yaml", PAYMENT)],
    );
    assert_eq!(
        folder.problems("p.yaml"),
        [
            "p.yaml:9:21: steps[0].input.amount: `.later` comes from step `after` (line 10), which runs later"
        ]
    );
}
