//! One service's circuit breaker seen from outside: it opens after the
//! configured run of transient failures, rejects without reaching the
//! service, lets one probe through after the reset timeout, and ignores
//! permanent errors; a compensation it rejects waits for that probe.

use std::time::Duration;

use maestro::runtime::RunStatus;
use serde_json::json;

use super::{breaker, load, run, start};
use crate::faults::Saga;
use crate::support::{Fault, ServiceProcess};

/// Long: the test moves the clock past it rather than wait for it.
const RESET: Duration = Duration::from_secs(60);

/// Move the runtime's clock past the breaker's reset timeout, at once.
async fn past_the_reset() {
    tokio::time::pause();
    tokio::time::advance(RESET + Duration::from_millis(1)).await;
    tokio::time::resume();
}

const WORKFLOW: &str = r#"
name: breaker
services:
  api:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: 1}
    circuit_breaker: {failure_threshold: 3, reset_timeout: 60s}
steps:
  - id: enrich
    service: api
    method: "POST /enrich"
    input: {id: "customer-1"}
    output: enriched
"#;

// One thread: only a current-thread runtime's clock can be moved.
#[tokio::test]
async fn the_breaker_opens_rejects_probes_and_closes() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let workflow = load(WORKFLOW, &[&web]);
    let runtime = start(&workflow).await;
    let enrich = || web.calls_to("POST /enrich").len();

    web.set_fault(Fault::fail("POST /enrich", 3, "503"));
    for failures in 1..=3 {
        let report = run(&runtime, &workflow, json!({})).await;
        assert_eq!(report.status, RunStatus::Compensated, "{report:#?}");
        let expected = if failures < 3 { "closed" } else { "open" };
        assert_eq!(breaker(&runtime, "api").await, expected, "after {failures}");
    }
    assert_eq!(enrich(), 3);

    // Open: rejected at once, nothing reaches the service.
    let report = run(&runtime, &workflow, json!({})).await;
    assert_eq!(report.status, RunStatus::Compensated);
    let error = report.steps[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("circuit open"), "{error}");
    assert_eq!(report.steps[0].attempts, 0, "{report:#?}");
    assert_eq!(enrich(), 3, "an open circuit sends nothing");

    // After the reset timeout one probe goes out; it fails: open again.
    past_the_reset().await;
    web.set_fault(Fault::fail("POST /enrich", 1, "503"));
    let report = run(&runtime, &workflow, json!({})).await;
    assert_eq!(report.status, RunStatus::Compensated);
    assert_eq!(enrich(), 4, "the probe reached the service");
    assert_eq!(breaker(&runtime, "api").await, "open");
    let report = run(&runtime, &workflow, json!({})).await;
    assert!(report.error.unwrap_or_default().contains("circuit open"));
    assert_eq!(enrich(), 4);

    // The next probe succeeds: closed, and calls flow again.
    past_the_reset().await;
    let report = run(&runtime, &workflow, json!({})).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:#?}");
    assert_eq!(breaker(&runtime, "api").await, "closed");
    let report = run(&runtime, &workflow, json!({})).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(enrich(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_do_not_open_the_breaker() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let workflow = load(WORKFLOW, &[&web]);
    let runtime = start(&workflow).await;

    // Twice the threshold of 400s, with transient failures around them:
    // only consecutive transient failures count.
    web.set_fault(Fault::fail("POST /enrich", 2, "503"));
    for _ in 0..2 {
        run(&runtime, &workflow, json!({})).await;
    }
    web.clear_faults();
    web.set_fault(Fault::fail("POST /enrich", 6, "400"));
    for _ in 0..6 {
        let report = run(&runtime, &workflow, json!({})).await;
        assert_eq!(report.status, RunStatus::Compensated);
        assert_eq!(report.steps[0].attempts, 1, "a 400 is not retried");
        assert_eq!(breaker(&runtime, "api").await, "closed");
    }
    assert_eq!(web.calls_to("POST /enrich").len(), 8, "every call was sent");
    // Two transient failures before the 400s still count: the third opens.
    web.set_fault(Fault::fail("POST /enrich", 1, "503"));
    run(&runtime, &workflow, json!({})).await;
    assert_eq!(breaker(&runtime, "api").await, "open");
}

/// The `crm` breaker's reset timeout below.
const UNDO_RESET: Duration = Duration::from_millis(200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compensation_behind_an_open_breaker_waits_for_the_probe() {
    let web = ServiceProcess::spawn("web_http", &[]);
    // The contact call fails with a 500 (outcome unknown), which opens the
    // breaker of `crm` (threshold 1); its undo goes to that same service.
    web.set_fault(Fault::fail("POST /crm/contacts", 1, "500"));
    let workflow = Saga {
        name: "undo_behind_open_breaker",
        crm: r#"endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: 1}
    circuit_breaker: {failure_threshold: 1, reset_timeout: 200ms}"#,
        ..Saga::default()
    }
    .load(&[&web]);
    let runtime = start(&workflow).await;
    let report = run(&runtime, &workflow, json!({})).await;
    assert_eq!(report.status, RunStatus::Compensated, "{report:#?}");
    let undone: Vec<(&str, bool)> = report
        .compensations
        .iter()
        .map(|c| (c.step.as_str(), c.ok))
        .collect();
    assert_eq!(undone, [("crm_entry", true), ("create_account", true)]);
    // The undo went out once the reset timeout had passed, as the probe
    // that closed the circuit again.
    let failed = &web.calls_to("POST /crm/contacts")[0];
    let undo = web.calls_to("DELETE /crm/contacts");
    assert_eq!(undo.len(), 1, "{undo:#?}");
    assert!(undo[0].start_us >= failed.end_us + UNDO_RESET.as_micros() as u64);
    assert_eq!(breaker(&runtime, "crm").await, "closed");
}
