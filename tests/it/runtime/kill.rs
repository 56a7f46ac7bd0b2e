//! A service actor killed while one of its calls is inside the service: the
//! supervisor restarts it once, the call it held is abandoned and reported
//! as "restarted during the call" (outcome unknown), and the step is retried
//! with the same key, or compensated when it has no retry left.

use std::time::Duration;

use maestro::runtime::report::StepOutcome;
use maestro::runtime::{RunEvent, RunOptions, RunReport, RunStatus};
use maestro::transport::FailureClass;
use serde_json::json;

use super::{load, restarts_once_alive, wait_until};
use crate::support::{CallRecord, Fault, ServiceProcess};

const WORKFLOW: &str = r#"
name: kill
services:
  accounts:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
  crm:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: ATTEMPTS, initial_interval: 20ms}
steps:
  - id: create_account
    service: accounts
    method: "POST /accounts"
    input: {email: "ada@example.com", name: Ada}
    output: account
    compensate:
      method: "DELETE /accounts/{{ .account.account_id }}"
  - id: crm_entry
    service: crm
    method: "POST /crm/contacts"
    input: {account_id: "{{ .account.account_id }}", email: "ada@example.com"}
    output: contact
    compensate:
      method: "DELETE /crm/contacts"
      input: {account_id: "{{ .account.account_id }}"}
"#;

/// What a run with a killed actor left behind.
struct Killed {
    report: RunReport,
    /// The run's failed attempts: step, class and error.
    failures: Vec<(String, FailureClass, String)>,
    calls: Vec<CallRecord>,
    restarts: u32,
}

/// Runs the workflow, killing the `crm` actor while the contact call hangs
/// in the service.
async fn run_with_kill(attempts: u32) -> Killed {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::delay("POST /crm/contacts", 8000).times(1));
    let workflow = load(
        &WORKFLOW.replace("ATTEMPTS", &attempts.to_string()),
        &[&web],
    );
    let runtime = std::sync::Arc::new(super::start(&workflow).await);
    let (events, mut recorded) = tokio::sync::mpsc::unbounded_channel();
    let run = tokio::spawn({
        let (runtime, workflow) = (runtime.clone(), workflow.clone());
        let options = RunOptions {
            observer: Some(std::sync::Arc::new(events)),
            ..RunOptions::default()
        };
        async move { runtime.execute(workflow, json!({}), options).await }
    });
    wait_until("the contact call is inside the service", || {
        web.active_calls()
            .iter()
            .any(|c| c.is("POST /crm/contacts"))
    })
    .await;
    runtime.service_actor("crm").expect("registered").kill();
    let report = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the run ends instead of hanging")
        .expect("no panic")
        .expect("a report");
    let mut failures = Vec::new();
    while let Ok(event) = recorded.try_recv() {
        if let RunEvent::AttemptFailed {
            step, class, error, ..
        } = event.event
        {
            failures.push((step, class, error));
        }
    }
    Killed {
        report,
        failures,
        calls: web.calls(),
        restarts: restarts_once_alive(&runtime, "crm").await,
    }
}

/// The one failure a kill causes: unknown, since the request had left.
fn assert_killed_attempt(failures: &[(String, FailureClass, String)]) {
    let expected = (
        "crm_entry".to_owned(),
        FailureClass::Unknown,
        "crm: service actor restarted during the call".to_owned(),
    );
    assert_eq!(failures, [expected]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_actor_is_restarted_and_its_call_retried_with_the_same_key() {
    let Killed {
        report,
        failures,
        calls,
        restarts,
    } = run_with_kill(3).await;
    assert_eq!(restarts, 1, "restarted exactly once");
    assert_killed_attempt(&failures);
    assert_eq!(report.status, RunStatus::Succeeded, "{report:#?}");
    let step = &report.steps[1];
    assert_eq!(
        (step.outcome, step.attempts),
        (StepOutcome::Ok, 2),
        "{step:#?}"
    );
    let contacts: Vec<_> = calls
        .iter()
        .filter(|c| c.is("POST /crm/contacts"))
        .collect();
    let outcomes: Vec<&str> = contacts.iter().map(|c| c.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        ["cancelled", "ok"],
        "the killed actor's call was dropped"
    );
    assert_eq!(contacts[0].idempotency_key, contacts[1].idempotency_key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_actor_without_retries_left_gets_its_step_compensated() {
    let Killed {
        report,
        failures,
        calls,
        restarts,
    } = run_with_kill(1).await;
    assert_eq!(restarts, 1);
    assert_killed_attempt(&failures);
    assert_eq!(report.status, RunStatus::Compensated, "{report:#?}");
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.contains("crm: service actor restarted during the call"),
        "{error}"
    );
    let step = &report.steps[1];
    assert!(step.outcome_unknown, "{step:#?}");
    assert_eq!(step.outcome, StepOutcome::Compensated);
    let undone: Vec<&str> = report
        .compensations
        .iter()
        .map(|c| c.step.as_str())
        .collect();
    assert_eq!(undone, ["crm_entry", "create_account"]);
    assert!(report.compensations.iter().all(|c| c.ok), "{report:#?}");
    let deletes: Vec<&str> = calls
        .iter()
        .filter(|c| c.method.starts_with("DELETE"))
        .map(|c| c.method.as_str())
        .collect();
    assert_eq!(deletes, ["DELETE /crm/contacts", "DELETE /accounts/{id}"]);
}
