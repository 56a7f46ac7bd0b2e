//! What steps read besides earlier outputs, against the example HTTP
//! service: `.run`'s id, workflow and start, `??` defaults for input that
//! was not given, and the null left by a step let fail (`on_failure`).

use maestro::runtime::RunStatus;
use maestro::runtime::report::StepOutcome;
use serde_json::json;

use super::{execute, load, run, start};
use crate::support::{Fault, ServiceProcess};

const NOTIFY: &str = r#"
name: notify_run
services:
  web:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
steps:
  - id: notify
    service: web
    method: "POST /emails"
    headers:
      x-run: "{{ .run.id }}"
      x-started: "{{ .run.workflow }} started {{ .run.started_at }}"
    input:
      to: "{{ .input.email ?? 'ops@example.com' }}"
      template: "{{ .input.template ?? .input.default_template ?? 'welcome' }}"
      account_id: "{{ .run.id }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_read_the_run_and_fall_back_on_defaults() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let workflow = load(NOTIFY, &[&web]);
    let runtime = start(&workflow).await;

    let report = run(&runtime, &workflow, json!({"template": null})).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:#?}");
    let given = run(
        &runtime,
        &workflow,
        json!({"email": "ada@example.com", "template": "password_reset"}),
    )
    .await;
    assert_eq!(given.status, RunStatus::Succeeded, "{given:#?}");

    let calls = web.calls_to("POST /emails");
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let (first, second) = (&calls[0], &calls[1]);
    assert_eq!(first.request["to"], "ops@example.com");
    assert_eq!(first.request["template"], "welcome");
    assert_eq!(first.request["account_id"], report.run_id.as_str());
    assert_eq!(second.request["to"], "ada@example.com");
    assert_eq!(second.request["template"], "password_reset");
    assert_eq!(first.headers.get("x-run"), Some(&report.run_id));
    assert_eq!(first.run_id.as_ref(), Some(&report.run_id));
    let subject = first.headers.get("x-started").cloned().unwrap_or_default();
    let started = subject
        .strip_prefix("notify_run started ")
        .unwrap_or_default();
    assert!(
        humantime::parse_rfc3339(started).is_ok(),
        "the run's start in RFC 3339: {subject}"
    );
}

const GOES_ON: &str = r#"
name: goes_on
services:
  web:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: 2, initial_interval: 10ms}
steps:
  - id: enrich
    service: web
    method: "POST /enrich"
    input: {id: "customer-1"}
    output: enriched
    on_failure: continue
  - id: notify
    service: web
    method: "POST /emails"
    input:
      to: "ops@example.com"
      template: "welcome"
      account_id: "{{ .enriched.region ?? 'unknown' }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_let_fail_is_retried_recorded_and_read_as_null() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::fail("POST /enrich", 2, "503"));
    let workflow = load(GOES_ON, &[&web]);
    let runtime = start(&workflow).await;

    let report = run(&runtime, &workflow, json!({})).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:#?}");
    assert_eq!(report.steps[0].outcome, StepOutcome::FailedContinued);
    assert_eq!(report.steps[0].attempts, 2, "its retries ran as usual");
    assert!(
        report.steps[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("503")
    );
    assert_eq!(report.steps[1].outcome, StepOutcome::Ok);
    assert!(report.compensations.is_empty());
    assert_eq!(report.output, Some(json!({"enriched": null})));
    let sent = web.calls_to("POST /emails");
    assert_eq!(sent[0].request["account_id"], "unknown");
    let summary = serde_json::to_value(&report).expect("serializes");
    assert_eq!(summary["steps"][0]["outcome"], "failed_continued");
}

#[test]
fn the_timeline_says_the_run_goes_on_past_a_step_let_fail() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::fail("POST /enrich", 2, "503"));
    let run = execute(GOES_ON, "goes_on", &[], &[&web]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("✗ enrich"))
        .unwrap_or_else(|| panic!("no row for enrich:\n{}", run.stderr));
    assert!(line.contains("failed, run goes on"), "{line}");
    assert!(run.stderr.contains("run succeeded"), "{}", run.stderr);
}
