//! Hints for mistakes that otherwise read as something else: a compensation
//! indented as a step, a `when` on a parallel group, a negative duration.

use crate::workflow::load_str;

const HEAD: &str =
    "name: t\nservices:\n  api:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\n";

/// `line:column: path: message | hint` of every diagnostic.
fn problems(yaml: &str) -> Vec<String> {
    let diagnostics = load_str(yaml, "w.yaml", &|_: &str| None).expect_err("expected problems");
    diagnostics
        .iter()
        .map(|d| {
            let hint = d.hint.as_deref().unwrap_or("");
            format!(
                "{}:{}: {}: {} | {hint}",
                d.line, d.column, d.path, d.message
            )
        })
        .collect()
}

#[test]
fn a_compensation_indented_as_a_step_is_named_once_with_its_fix() {
    let yaml = format!(
        "{HEAD}steps:\n  - id: a\n    service: api\n    method: \"POST /a\"\n  - compensate:\n      method: \"POST /undo\"\n"
    );
    assert_eq!(
        problems(&yaml),
        [
            "10:5: steps[1]: `compensate` is read as a step of its own | indent `compensate:` \
          under the step it undoes, level with that step's `method:`"
        ]
    );
}

#[test]
fn a_when_on_a_parallel_group_points_at_its_branches() {
    let yaml = format!(
        "{HEAD}steps:\n  - when: \"{{{{ .input.x }}}}\"\n    parallel:\n      - id: a\n        service: api\n        method: \"POST /a\"\n"
    );
    assert_eq!(
        problems(&yaml),
        [
            "7:5: steps[0].when: a parallel group has no `when` | put the condition on each \
          step of the group that needs it"
        ]
    );
}

#[test]
fn a_negative_duration_is_called_negative_wherever_it_is() {
    let yaml = "name: t\ntimeout: -1s\nservices:\n  api:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\n    timeout: \" - 250ms\"\nsteps:\n  - id: a\n    service: api\n    method: \"POST /a\"\n    retry:\n      initial_interval: -2s\n";
    assert_eq!(
        problems(yaml),
        [
            "2:10: timeout: `-1s` is negative: a duration counts time forward | drop the `-`: `1s`",
            "7:14: services.api.timeout: ` - 250ms` is negative: a duration counts time \
             forward | drop the `-`: `250ms`",
            "13:25: steps[0].retry.initial_interval: `-2s` is negative: a duration counts time \
             forward | drop the `-`: `2s`",
        ]
    );
}
