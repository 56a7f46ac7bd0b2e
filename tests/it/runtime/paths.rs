//! Templated HTTP paths under hostile input: a value from the run's data is
//! one encoded path segment (or query component) and cannot reach another
//! route of the service; the report and the journal show what was sent.

use std::sync::Arc;

use maestro::journal::{self, StateSpec, SyncMode};
use maestro::runtime::{RunEvent, RunOptions, RunStatus};
use serde_json::json;

use super::{load, start};
use crate::journal::StateDir;
use crate::support::ServiceProcess;

const ACTIVATE: &str = r#"
name: path_injection
services:
  web:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
steps:
  - id: activate
    service: web
    method: "POST /accounts/{{ .input.id }}/activate?note={{ .input.note }}"
    input: {}
"#;

/// What the hostile id would have reached, had it been sent raw.
const HOSTILE_ID: &str = "../../storage/buckets?confirm=yes#";
const SENT_PATH: &str = "/accounts/..%2F..%2Fstorage%2Fbuckets%3Fconfirm%3Dyes%23/activate";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_value_stays_in_its_segment_and_the_journal_shows_the_sent_path() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let workflow = load(ACTIVATE, &[&web]);
    let state = StateDir::new("paths");
    let spec = StateSpec::Dir {
        path: state.path().to_path_buf(),
        sync: SyncMode::Normal,
    };
    let journal = journal::open(&spec).await.expect("the journal opens");
    let runtime = start(&workflow).await.with_journal(Arc::clone(&journal));

    let input = json!({"id": HOSTILE_ID, "note": "a&admin=true"});
    let report = runtime
        .execute(workflow.clone(), input, RunOptions::default())
        .await
        .expect("the run reports");

    let calls = web.calls();
    assert_eq!(
        calls.len(),
        1,
        "one call, to the templated route: {calls:#?}"
    );
    assert_eq!(calls[0].method, "POST /accounts/{id}/activate");
    assert_eq!(calls[0].path, SENT_PATH);
    assert!(!calls.iter().any(|c| c.method.contains("buckets")));

    let sent = format!("POST {SENT_PATH}?note=a%26admin%3Dtrue");
    assert_eq!(report.steps[0].request.as_deref(), Some(sent.as_str()));
    let stored = journal
        .load(&report.run_id)
        .await
        .expect("readable")
        .expect("journaled");
    let requests: Vec<_> = stored
        .events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::AttemptStarted { request, .. } => request.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(requests, vec![sent]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_would_climb_or_empty_a_segment_fails_the_step_unsent() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let workflow = load(ACTIVATE, &[&web]);
    let runtime = start(&workflow).await;
    for id in ["..", ".", ""] {
        let input = json!({"id": id, "note": "x"});
        let report = runtime
            .execute(workflow.clone(), input, RunOptions::default())
            .await
            .expect("the run reports");
        assert_eq!(report.status, RunStatus::Compensated, "{report:#?}");
        let error = report.steps[0].error.as_deref().unwrap_or_default();
        assert!(error.starts_with("path could not be rendered"), "{error}");
        assert!(error.contains("would change the path"), "{error}");
        assert_eq!(report.steps[0].attempts, 0);
    }
    assert!(web.calls().is_empty(), "{:#?}", web.calls());
}
