//! `schedules:` decoded: each problem at its line and column, every entry's
//! defaults filled in.

use std::time::Duration;

use crate::workflow::load_str;
use crate::workflow::schedule::{Cadence, Overlap};

const HEAD: &str = "name: t\nservices:\n  api:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\nsteps:\n  - id: a\n    service: api\n    method: \"POST /a\"\n";

fn problems(yaml: &str) -> Vec<String> {
    let diagnostics = load_str(yaml, "w.yaml", &|_: &str| None).expect_err("expected problems");
    diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}: {}", d.line, d.column, d.path, d.message))
        .collect()
}

#[test]
fn schedules_decode_with_their_defaults() {
    let yaml = format!(
        "{HEAD}schedules:\n  - cron: \"*/5 * * * *\"\n    timezone: Europe/Paris\n    input: {{report: daily}}\n    overlap: cancel_previous\n    catch_up: false\n  - every: 10m\n"
    );
    let workflow = load_str(&yaml, "w.yaml", &|_: &str| None).expect("valid");
    let [cron, every] = &workflow.schedules[..] else {
        panic!("two schedules: {:?}", workflow.schedules);
    };
    assert!(
        matches!(&cron.cadence, Cadence::Cron { expression, .. } if expression == "*/5 * * * *")
    );
    assert_eq!(cron.timezone.name, "Europe/Paris");
    assert_eq!(cron.input["report"], "daily");
    assert_eq!(cron.overlap, Overlap::CancelPrevious);
    assert!(!cron.catch_up);
    assert!(matches!(every.cadence, Cadence::Every(d) if d == Duration::from_secs(600)));
    assert_eq!(every.timezone.name, "UTC");
    assert!(every.input.is_empty());
    assert_eq!(every.overlap, Overlap::Skip);
    assert!(every.catch_up);
}

#[test]
fn every_wrong_schedule_field_is_reported_where_it_is() {
    let yaml = format!(
        "{HEAD}schedules:\n  - cron: \"*/5 * * * * *\"\n    timezone: Mars/Olympus\n    input: [1]\n    overlap: skipp\n    catch_up: \"yes\"\n  - every: 100ms\n  - every: 1m\n    cron: \"* * * * *\"\n  - input: {{}}\n  - every: 1m\n    timezone: UTC\n"
    );
    assert_eq!(
        problems(&yaml),
        [
            "11:11: schedules[0].cron: `*/5 * * * * *` has 6 fields; a cron expression has \
             five: minute, hour, day of month, month, day of week",
            "12:15: schedules[0].timezone: `Mars/Olympus` is not a time zone of the IANA database",
            "13:12: schedules[0].input: schedules[0].input must be a mapping, as a run's input \
             is a JSON object; found an array",
            "14:14: schedules[0].overlap: unknown overlap `skipp`",
            "15:15: schedules[0].catch_up: expected `true` or `false`, found the string `yes`",
            "16:12: schedules[1].every: `every` must be at least 1s and a whole number of \
             milliseconds",
            "17:12: schedules[2].every: a schedule has `cron` or `every`, not both",
            "19:5: schedules[3]: missing field `cron` or `every`",
            "21:15: schedules[4].timezone: `timezone` applies to `cron` only",
        ]
    );
}

#[test]
fn schedules_must_be_a_list() {
    let yaml = format!("{HEAD}schedules:\n  cron: \"* * * * *\"\n");
    assert_eq!(
        problems(&yaml),
        ["11:3: schedules: expected a list of schedules, found a mapping"]
    );
}

#[test]
fn a_schedule_input_is_checked_against_input_schema_and_gets_its_defaults() {
    let schema = "input_schema:\n  type: object\n  required: [report]\n  properties:\n    report: {type: string}\n    format: {type: string, default: pdf}\n";
    let ok = format!("{HEAD}{schema}schedules:\n  - every: 1h\n    input: {{report: daily}}\n");
    let workflow = load_str(&ok, "w.yaml", &|_: &str| None).expect("valid");
    assert_eq!(workflow.schedules[0].input["format"], "pdf");
    let bad = format!(
        "{HEAD}{schema}schedules:\n  - every: 1h\n    input: {{report: 7}}\n  - every: 2h\n"
    );
    let found = problems(&bad);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("18:12: schedules[0].input: `input_schema` refuses it at `/report`"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("19:5: schedules[1].input: `input_schema` refuses it at ``"),
        "{found:?}"
    );
}
