//! Generated workflows: steps in order and in parallel groups, each with a
//! scripted answer per attempt, a retry budget, maybe a `when` gate and
//! maybe a compensation with its own script; written out as workflow YAML.

use std::fmt::Write;

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::service::Answer;

/// Attempts a compensation gets: the service's retry policy.
pub const UNDO_ATTEMPTS: u32 = 3;
/// The timeout of a step whose script hangs: the only wait a case pays.
const HANG_TIMEOUT: &str = "400ms";
/// Hanging attempts in one workflow, at most: each costs [`HANG_TIMEOUT`].
const MAX_HANGS: usize = 2;

#[derive(Debug, Clone)]
pub struct Undo {
    pub answers: Vec<Answer>,
    /// The compensation's input reads its step's output, which a step
    /// with an unknown outcome does not have.
    pub reads_output: bool,
}

#[derive(Debug, Clone)]
pub struct StepPlan {
    pub id: String,
    pub answers: Vec<Answer>,
    pub attempts: u32,
    /// `when` reads the input: `Some(false)` skips the step.
    pub gate: Option<bool>,
    pub undo: Option<Undo>,
}

impl StepPlan {
    pub fn skipped(&self) -> bool {
        self.gate == Some(false)
    }

    fn hangs(&self) -> bool {
        self.answers.contains(&Answer::Hang)
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub parallel: bool,
    pub steps: Vec<StepPlan>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: Vec<Node>,
}

fn answer(weights: [u32; 6]) -> impl Strategy<Value = Answer> {
    const ALL: [Answer; 6] = [
        Answer::Ok,
        Answer::Busy,
        Answer::Reject,
        Answer::Crash,
        Answer::Hang,
        Answer::Cut,
    ];
    // Only answers with a weight: shrinking must not reach the others.
    let options: Vec<(u32, Just<Answer>)> = weights
        .into_iter()
        .zip(ALL)
        .filter(|(w, _)| *w > 0)
        .map(|(w, a)| (w, Just(a)))
        .collect();
    prop::strategy::Union::new_weighted(options)
}

/// A few failures that may pass, then how the step ends (usually well).
fn script(failures: [u32; 6], last: [u32; 6]) -> impl Strategy<Value = Vec<Answer>> {
    let prefix = prop_oneof![
        3 => Just(Vec::new()),
        2 => prop::collection::vec(answer(failures), 1..=3),
    ];
    (prefix, answer(last)).prop_map(|(mut answers, last)| {
        answers.push(last);
        answers
    })
}

fn undo() -> impl Strategy<Value = Undo> {
    (
        script([0, 3, 0, 1, 0, 0], [12, 1, 1, 0, 0, 0]),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(answers, reads_output)| Undo {
            answers,
            reads_output,
        })
}

fn step() -> impl Strategy<Value = StepPlan> {
    (
        script([0, 4, 0, 2, 1, 1], [16, 1, 1, 1, 0, 1]),
        1u32..=4,
        prop_oneof![6 => Just(None), 1 => Just(Some(true)), 1 => Just(Some(false))],
        prop::option::weighted(0.75, undo()),
    )
        .prop_map(|(answers, attempts, gate, undo)| StepPlan {
            id: String::new(),
            answers,
            attempts,
            gate,
            undo,
        })
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![
        3 => step().prop_map(|s| Node { parallel: false, steps: vec![s] }),
        2 => prop::collection::vec(step(), 1..=3).prop_map(|steps| Node { parallel: true, steps }),
    ]
}

/// Workflows of one to five nodes; ids `s1`, `s2`, ... in file order.
pub fn plan() -> impl Strategy<Value = Plan> {
    prop::collection::vec(node(), 1..=5).prop_map(|mut nodes| {
        let mut hangs = 0;
        for (n, step) in nodes.iter_mut().flat_map(|n| &mut n.steps).enumerate() {
            step.id = format!("s{}", n + 1);
            for answer in &mut step.answers {
                if *answer == Answer::Hang {
                    hangs += 1;
                    if hangs > MAX_HANGS {
                        *answer = Answer::Crash;
                    }
                }
            }
        }
        Plan { nodes }
    })
}

fn answers_yaml(answers: &[Answer]) -> String {
    let names: Vec<String> = answers
        .iter()
        .map(|a| {
            serde_json::to_value(a)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    format!("[{}]", names.join(", "))
}

impl Plan {
    pub fn steps(&self) -> impl Iterator<Item = &StepPlan> {
        self.nodes.iter().flat_map(|n| &n.steps)
    }

    pub fn step(&self, id: &str) -> &StepPlan {
        self.steps().find(|s| s.id == id).expect("a planned step")
    }

    /// The run's input: the value of each `when` gate.
    pub fn input(&self) -> Value {
        let mut input = Map::new();
        for step in self.steps() {
            if let Some(open) = step.gate {
                input.insert(format!("run_{}", step.id), Value::Bool(open));
            }
        }
        Value::Object(input)
    }

    pub fn yaml(&self, endpoint: &str) -> String {
        let mut out = format!(
            "name: saga_model\ncompensation_timeout: 30s\nservices:\n  ledger:\n    type: http\n    \
             endpoint: \"{endpoint}\"\n    retry: {{attempts: {UNDO_ATTEMPTS}, backoff: constant, \
             initial_interval: 1ms, jitter: 0}}\n    \
             circuit_breaker: {{failure_threshold: 1000000, reset_timeout: 1s}}\nsteps:\n"
        );
        for node in &self.nodes {
            let indent = if node.parallel {
                out.push_str("  - parallel:\n");
                "      "
            } else {
                "  "
            };
            for step in &node.steps {
                write_step(&mut out, indent, step);
            }
        }
        out
    }
}

fn write_step(out: &mut String, indent: &str, step: &StepPlan) {
    let id = &step.id;
    let mut lines = vec![
        format!("- id: {id}"),
        "  service: ledger".into(),
        format!("  method: \"POST /do/{id}\""),
        format!("  retry: {{attempts: {}}}", step.attempts),
        format!("  input: {{answers: {}}}", answers_yaml(&step.answers)),
        format!("  output: out_{id}"),
    ];
    if step.hangs() {
        lines.push(format!("  timeout: {HANG_TIMEOUT}"));
    }
    if step.gate.is_some() {
        lines.push(format!("  when: \"{{{{ .input.run_{id} }}}}\""));
    }
    if let Some(undo) = &step.undo {
        lines.push("  compensate:".into());
        lines.push(format!("    method: \"POST /undo/{id}\""));
        let of = if undo.reads_output {
            format!(", of: \"{{{{ .out_{id}.id }}}}\"")
        } else {
            String::new()
        };
        lines.push(format!(
            "    input: {{answers: {}{of}}}",
            answers_yaml(&undo.answers)
        ));
    }
    for line in lines {
        let _ = writeln!(out, "{indent}{line}");
    }
}
