//! `sleep`, `sleep_until` and `wait` steps: decoded into their kind, and
//! every misuse named at its line and column.

use std::time::Duration;

use crate::workflow::load_str;
use crate::workflow::model::{Action, Sleep};

const HEAD: &str =
    "name: t\nservices:\n  api:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\nsteps:\n";

/// `line:column: path: message` of every diagnostic.
fn problems(steps: &str) -> Vec<String> {
    let yaml = format!("{HEAD}{steps}");
    let diagnostics = load_str(&yaml, "w.yaml", &|_: &str| None).expect_err("expected problems");
    diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}: {}", d.line, d.column, d.path, d.message))
        .collect()
}

#[test]
fn each_kind_decodes_with_what_it_reads() {
    let steps = "  - id: wait\n    wait: approval.v2\n    timeout: 1h\n    output: decision\n  \
                 - id: nap\n    sleep: 90s\n  \
                 - id: later\n    sleep_until: \"{{ .decision.at }}\"\n  \
                 - id: fixed\n    sleep_until: \"2026-12-04T10:00:00+01:00\"\n";
    let yaml = format!("{HEAD}{steps}");
    let w = load_str(&yaml, "w.yaml", &|_: &str| None).expect("valid");
    let actions: Vec<&Action> = w.all_steps().map(|s| &s.action).collect();
    assert!(
        matches!(actions[0], Action::Wait(w) if w.signal == "approval.v2" && w.timeout == Some(Duration::from_secs(3600)))
    );
    assert!(matches!(actions[1], Action::Sleep(Sleep::For(d)) if d.as_secs() == 90));
    assert!(
        matches!(actions[2], Action::Sleep(Sleep::Until(t)) if t.source() == "{{ .decision.at }}")
    );
    assert_eq!(
        w.all_steps().map(|s| s.label()).collect::<Vec<_>>()[..2],
        ["wait approval.v2", "sleep 1m 30s"]
    );
}

#[test]
fn a_step_of_one_kind_takes_no_field_of_another() {
    let steps = "  - id: a\n    sleep: 1s\n    wait: go\n  \
                 - id: b\n    wait: go\n    service: api\n    method: \"POST /x\"\n  \
                 - id: c\n    sleep: 1s\n    timeout: 2s\n    output: nothing\n";
    assert_eq!(
        problems(steps),
        [
            "9:5: steps[0].wait: a step cannot hold both `sleep` and `wait`",
            "12:5: steps[1].service: a `wait` step calls no service: `service` has no place here",
            "13:5: steps[1].method: a `wait` step calls no service: `method` has no place here",
            "16:5: steps[2].timeout: a `sleep` step ends when it is time: it takes no `timeout`",
            "17:5: steps[2].output: a `sleep` step has no output",
        ]
    );
}

#[test]
fn bad_times_names_and_reads_are_located() {
    let steps = "  - id: a\n    sleep_until: \"next tuesday\"\n  \
                 - id: b\n    wait: \"needs/escaping\"\n  \
                 - id: c\n    sleep: -5s\n  \
                 - id: d\n    sleep_until: \"{{ .later.at }}\"\n  \
                 - id: e\n    wait: go\n    output: later\n";
    let found = problems(steps);
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        found[0].starts_with("8:18: steps[0].sleep_until: `next tuesday` is not an RFC 3339 time")
    );
    assert_eq!(
        found[1],
        "10:11: steps[1].wait: signal name `needs/escaping` cannot be sent"
    );
    assert!(found[2].starts_with("12:12: steps[2].sleep: `-5s` is negative"));
    assert!(
        found[3].starts_with("14:18: steps[3].sleep_until: `.later.at` comes from step `e`"),
        "{found:?}"
    );
}
