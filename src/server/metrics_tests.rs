//! What `/metrics` shows of finished runs, and its format.

use super::*;
use crate::runtime::report::{CompensationRecord, StepRecord};

#[test]
fn histogram_buckets_are_cumulative() {
    let mut h = Histogram::default();
    h.observe(Duration::from_micros(500));
    h.observe(Duration::from_millis(30));
    h.observe(Duration::from_secs(120));
    let mut out = String::new();
    h.write(&mut out, "x", "w=\"a\"");
    assert!(out.contains("x_bucket{w=\"a\",le=\"0.001\"} 1\n"), "{out}");
    assert!(out.contains("x_bucket{w=\"a\",le=\"0.05\"} 2\n"), "{out}");
    assert!(out.contains("x_bucket{w=\"a\",le=\"60\"} 2\n"), "{out}");
    assert!(out.contains("x_bucket{w=\"a\",le=\"+Inf\"} 3\n"), "{out}");
    assert!(out.contains("x_count{w=\"a\"} 3\n"), "{out}");
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

fn report(workflow: &str, status: RunStatus, steps: &[(&str, &str, u32)]) -> RunReport {
    let step = |&(id, service, attempts): &(&str, &str, u32)| StepRecord {
        id: id.into(),
        service: service.into(),
        method: "POST /x".into(),
        outcome: StepOutcome::Ok,
        attempts,
        request: None,
        duration: Duration::from_millis(3),
        error: None,
        outcome_unknown: false,
    };
    RunReport {
        run_id: "r".into(),
        workflow: workflow.into(),
        retry_of: None,
        status,
        output: None,
        error: None,
        duration: Duration::from_millis(20),
        steps: steps.iter().map(step).collect(),
        compensations: Vec::new(),
    }
}

#[test]
fn finished_runs_are_counted_by_workflow_status_service_and_step() {
    let metrics = Metrics::default();
    let mut failed = report("b", RunStatus::Compensated, &[("pay", "bank", 3)]);
    failed.compensations.push(CompensationRecord {
        step: "pay".into(),
        ok: true,
        attempts: 1,
        request: None,
        error: None,
    });
    metrics.run_finished(&failed);
    metrics.run_finished(&report("b", RunStatus::Succeeded, &[("pay", "bank", 1)]));
    let steps = [("ship", "post", 1), ("idle", "post", 0)];
    metrics.run_finished(&report("a", RunStatus::Succeeded, &steps));
    let text = metrics.render(RunGauges::default(), &[]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let runs: Vec<&str> = (lines.iter().copied())
        .filter(|l| l.starts_with("maestro_runs_total"))
        .collect();
    assert_eq!(
        runs,
        [
            r#"maestro_runs_total{workflow="a",status="succeeded"} 1"#,
            r#"maestro_runs_total{workflow="b",status="succeeded"} 1"#,
            r#"maestro_runs_total{workflow="b",status="compensated"} 1"#,
        ]
    );
    for line in [
        r#"maestro_attempts_total{service="bank"} 4"#,
        r#"maestro_attempts_total{service="post"} 1"#,
        r#"maestro_retries_total{service="bank"} 2"#,
        r#"maestro_retries_total{service="post"} 0"#,
        r#"maestro_compensations_total{workflow="b",outcome="ok"} 1"#,
        r#"maestro_run_duration_seconds_count{workflow="b"} 2"#,
        r#"maestro_step_duration_seconds_count{workflow="b",step="pay"} 2"#,
        r#"maestro_step_duration_seconds_count{workflow="a",step="ship"} 1"#,
    ] {
        assert!(lines.contains(&line), "{line} missing from\n{text}");
    }
    assert!(!text.contains(r#"step="idle""#), "{text}");
}

#[test]
fn every_sample_line_follows_its_type_header() {
    let metrics = Metrics::default();
    let text = metrics.render(
        RunGauges {
            running: 2,
            queued: 1,
        },
        &[],
    );
    let mut declared = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            declared.push(rest.split(' ').next().unwrap().to_string());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                declared.iter().any(|d| name.starts_with(d.as_str())),
                "{name} has no TYPE line"
            );
        }
    }
    assert!(text.contains("maestro_runs_in_flight 2\n"));
    assert!(text.contains("maestro_runs_queued 1\n"));
}
