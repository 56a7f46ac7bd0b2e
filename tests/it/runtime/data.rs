//! What templates read besides steps' outputs, against the example HTTP
//! service: `.run`'s id, workflow and start, and `??` defaults for input
//! that was not given.

use maestro::runtime::RunStatus;
use serde_json::json;

use super::{load, run, start};
use crate::support::ServiceProcess;

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
