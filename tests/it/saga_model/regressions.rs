//! Workflows the model once caught the runtime out on, kept as plain tests
//! (proptest's saved seeds are replayed too, but only as long as the
//! generators stay the same).

use super::Bench;
use super::plan::{Node, Plan, StepPlan, Undo};
use super::service::Answer::{self, Busy, Hang, Ok, Reject};

fn step(id: &str, answers: &[Answer], attempts: u32, undo: Option<&[Answer]>) -> StepPlan {
    StepPlan {
        id: id.into(),
        answers: answers.to_vec(),
        attempts,
        gate: None,
        undo: undo.map(|answers| Undo {
            answers: answers.to_vec(),
            reads_output: false,
        }),
    }
}

/// A step stopped because its sibling failed ended `failed` ("service actor
/// restarted during the call") when the abandoned call's reply arrived
/// before the cancellation was noticed, and with attempts left it could
/// even start another one after the run had stopped. The race is narrow:
/// the workflow runs many times.
#[test]
fn siblings_stopped_by_a_failure_are_cancelled_never_failed() {
    let plan = Plan {
        nodes: vec![
            Node {
                parallel: false,
                steps: vec![step("s1", &[Ok], 1, Some(&[Ok]))],
            },
            Node {
                parallel: true,
                steps: vec![
                    step("s2", &[Busy], 4, Some(&[Ok])),
                    step("s3", &[Hang], 1, Some(&[Ok])),
                    step("s4", &[Busy, Reject], 2, Some(&[Ok])),
                    step("s5", &[Hang, Ok], 2, Some(&[Busy, Ok])),
                    step("s6", &[Busy], 4, None),
                ],
            },
        ],
    };
    let bench = Bench::new();
    let failures: Vec<String> = (0..60).filter_map(|_| bench.check(&plan).err()).collect();
    bench.report("cancelled siblings");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
