//! Workflow, service and step timeouts: whichever is smallest cancels the
//! call in flight (the service logs it as cancelled), the step's outcome is
//! unknown so it is compensated, and so are the steps before it.

use maestro::runtime::RunStatus;
use maestro::runtime::report::StepOutcome;
use serde_json::{Value, json};

use super::{execute, load, run, start};
use crate::support::{Fault, ServiceProcess};

/// `{workflow}`, `{service}` and `{step}` are replaced by each case's
/// timeouts. The contact call is made to hang; its undo deletes by account,
/// since a create that timed out gave no contact id.
const WORKFLOW: &str = r#"
name: timeouts
timeout: {workflow}
services:
  accounts:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
  crm:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    timeout: {service}
    retry: {attempts: 1}
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
    timeout: {step}
    input: {account_id: "{{ .account.account_id }}", email: "ada@example.com"}
    output: contact
    compensate:
      method: "DELETE /crm/contacts"
      input: {account_id: "{{ .account.account_id }}"}
"#;

fn workflow(workflow: &str, service: &str, step: &str) -> String {
    WORKFLOW
        .replace("{workflow}", workflow)
        .replace("{service}", service)
        .replace("{step}", step)
}

/// What the service saw: the contact call cancelled by its caller, then the
/// two undo calls, newest first, both for the account step 1 created.
fn assert_cancelled_and_undone(web: &ServiceProcess) {
    let calls = web.calls();
    let account = calls
        .iter()
        .find(|c| c.is("POST /accounts"))
        .and_then(|c| c.response.as_ref())
        .map(|r| r["account_id"].clone())
        .expect("the account was created");
    let contact = calls
        .iter()
        .find(|c| c.is("POST /crm/contacts"))
        .expect("the contact call reached the service");
    assert_eq!(contact.outcome, "cancelled", "{contact:#?}");
    let undo: Vec<(&str, &str)> = calls
        .iter()
        .filter(|c| c.method.starts_with("DELETE"))
        .map(|c| (c.method.as_str(), c.path.as_str()))
        .collect();
    let account_path = format!("/accounts/{}", account.as_str().unwrap_or_default());
    assert_eq!(
        undo,
        [
            ("DELETE /crm/contacts", "/crm/contacts"),
            ("DELETE /accounts/{id}", account_path.as_str()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smallest_of_service_and_step_timeout_cancels_the_call_and_compensates() {
    let web = ServiceProcess::spawn("web_http", &[]);
    // Service timeout smallest, then the step's.
    for (service, step) in [("700ms", "5s"), ("5s", "700ms")] {
        web.clear_calls();
        web.set_fault(Fault::delay("POST /crm/contacts", 8000).times(1));
        let workflow = load(&workflow("30s", service, step), &[&web]);
        let runtime = start(&workflow).await;
        let report = run(&runtime, &workflow, json!({})).await;
        assert_eq!(report.status, RunStatus::Compensated, "{report:#?}");
        let error = report.error.clone().unwrap_or_default();
        assert!(
            error.contains("no answer within 700ms"),
            "the 700ms timeout fired ({service} / {step}): {error}"
        );
        let contact = &report.steps[1];
        assert!(contact.outcome_unknown, "{contact:#?}");
        assert_eq!(contact.outcome, StepOutcome::Compensated);
        assert_eq!(report.steps[0].outcome, StepOutcome::Compensated);
        let undone: Vec<&str> = report
            .compensations
            .iter()
            .map(|c| c.step.as_str())
            .collect();
        assert_eq!(undone, ["crm_entry", "create_account"]);
        assert_cancelled_and_undone(&web);
        runtime.shutdown().await;
    }
}

#[test]
fn a_workflow_timeout_cancels_the_call_compensates_and_exits_4() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::delay("POST /crm/contacts", 8000).times(1));
    let yaml = workflow("1s", "5s", "4s");
    let run = execute(&yaml, "workflow-timeout", &["--output", "json"], &[&web]);
    assert_eq!(run.code, 4, "stderr:\n{}", run.stderr);
    let report: Value = run.json();
    assert_eq!(report["status"], "timed_out");
    assert_eq!(report["error"], "workflow timed out after 1s");
    assert_eq!(report["steps"][1]["outcome"], "compensated");
    assert_eq!(report["steps"][1]["outcome_unknown"], true);
    let undone: Vec<&str> = report["compensations"]
        .as_array()
        .expect("compensations")
        .iter()
        .map(|c| c["step"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(undone, ["crm_entry", "create_account"]);
    assert_cancelled_and_undone(&web);
}
