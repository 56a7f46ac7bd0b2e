//! Compensation order: a failure at each position of a workflow undoes
//! exactly the steps that completed, newest first, each undo carrying data
//! of earlier steps; in a parallel group, finished siblings are undone and
//! the one in flight is cancelled and undone too; an undo that keeps failing
//! is retried, reported, and does not stop the others.

use maestro::runtime::RunStatus;
use maestro::runtime::report::StepOutcome;
use serde_json::{Value, json};

use super::{execute, load, run, start};
use crate::support::{CallRecord, Fault, ServiceProcess};

/// Steps of the workflows below that create something: (step, route of the
/// create call, id field of its answer, path of its undo without the id).
const CREATES: [(&str, &str, &str, &str); 3] = [
    (
        "create_account",
        "POST /accounts",
        "account_id",
        "/accounts",
    ),
    (
        "provision_storage",
        "POST /storage/buckets",
        "bucket_id",
        "/storage/buckets",
    ),
    (
        "crm_entry",
        "POST /crm/contacts",
        "contact_id",
        "/crm/contacts",
    ),
];

const SEQUENCE: &str = r#"
name: saga_sequence
services:
  web:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: 3, initial_interval: 50ms}
steps:
  - id: create_account
    service: web
    method: "POST /accounts"
    input: {email: "ada@example.com", name: Ada}
    output: account
    compensate:
      method: "DELETE /accounts/{{ .account.account_id }}"
  - id: provision_storage
    service: web
    method: "POST /storage/buckets"
    input: {account_id: "{{ .account.account_id }}"}
    output: storage
    compensate:
      method: "DELETE /storage/buckets/{{ .storage.bucket_id }}"
      headers: {X-Account-Id: "{{ .account.account_id }}"}
  - id: send_email
    service: web
    method: "POST /emails"
    input: {to: "ada@example.com", template: welcome, account_id: "{{ .account.account_id }}"}
  - id: crm_entry
    service: web
    method: "POST /crm/contacts"
    input: {account_id: "{{ .account.account_id }}", email: "ada@example.com"}
    output: contact
    compensate:
      method: "DELETE /crm/contacts/{{ .contact.contact_id }}"
      headers: {X-Account-Id: "{{ .account.account_id }}"}
  - id: activate_account
    service: web
    method: "POST /accounts/{{ .account.account_id }}/activate"
"#;

/// The route of each step of [`SEQUENCE`], in order.
const ROUTES: [(&str, &str); 5] = [
    ("create_account", "POST /accounts"),
    ("provision_storage", "POST /storage/buckets"),
    ("send_email", "POST /emails"),
    ("crm_entry", "POST /crm/contacts"),
    ("activate_account", "POST /accounts/{id}/activate"),
];

/// The undo path each created thing should get: its route and the id the
/// service answered with.
fn undo_path(calls: &[CallRecord], step: &str) -> String {
    let (_, route, field, path) = CREATES
        .iter()
        .find(|c| c.0 == step)
        .expect("a step that creates something");
    let created = calls
        .iter()
        .find(|c| c.is(route) && c.ok)
        .unwrap_or_else(|| panic!("{route} succeeded: {calls:#?}"));
    let id = created.response.as_ref().expect("an answer")[field].clone();
    format!("{path}/{}", id.as_str().expect("a string id"))
}

fn account_id(calls: &[CallRecord]) -> Value {
    calls
        .iter()
        .find(|c| c.is("POST /accounts"))
        .and_then(|c| c.response.clone())
        .map(|r| r["account_id"].clone())
        .expect("the account was created")
}

fn deletes(calls: &[CallRecord]) -> Vec<&CallRecord> {
    calls
        .iter()
        .filter(|c| c.method.starts_with("DELETE"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_each_position_undoes_the_completed_steps_newest_first() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let workflow = load(SEQUENCE, &[&web]);
    let runtime = start(&workflow).await;
    for (position, (failing, route)) in ROUTES.iter().enumerate() {
        web.clear_calls();
        web.set_fault(Fault::fail(route, 1, "400"));
        let report = run(&runtime, &workflow, json!({})).await;
        assert_eq!(
            report.status,
            RunStatus::Compensated,
            "{failing}: {report:#?}"
        );
        assert_eq!(report.steps[position].outcome, StepOutcome::Failed);
        assert_eq!(report.steps[position].attempts, 1, "a 400 is not retried");

        let expected: Vec<&str> = ROUTES[..position]
            .iter()
            .rev()
            .map(|(step, _)| *step)
            .filter(|step| CREATES.iter().any(|c| c.0 == *step))
            .collect();
        let undone: Vec<&str> = report
            .compensations
            .iter()
            .map(|c| c.step.as_str())
            .collect();
        assert_eq!(undone, expected, "failing at {failing}");
        assert!(report.compensations.iter().all(|c| c.ok && c.attempts == 1));

        let calls = web.calls();
        let paths: Vec<&str> = deletes(&calls).iter().map(|c| c.path.as_str()).collect();
        let wanted: Vec<String> = expected.iter().map(|s| undo_path(&calls, s)).collect();
        assert_eq!(
            paths, wanted,
            "failing at {failing}: the service saw these undos"
        );
        for delete in deletes(&calls)
            .iter()
            .filter(|c| !c.path.starts_with("/accounts"))
        {
            assert_eq!(
                json!(delete.headers.get("x-account-id")),
                account_id(&calls),
                "the undo of a later step carries step 1's account id"
            );
        }
    }
}

const PARALLEL: &str = r#"
name: saga_parallel
services:
  web:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: 1}
steps:
  - id: create_account
    service: web
    method: "POST /accounts"
    input: {email: "ada@example.com", name: Ada}
    output: account
    compensate:
      method: "DELETE /accounts/{{ .account.account_id }}"
  - parallel:
      - id: provision_storage
        service: web
        method: "POST /storage/buckets"
        input: {account_id: "{{ .account.account_id }}"}
        output: storage
        compensate:
          method: "DELETE /storage/buckets/{{ .storage.bucket_id }}"
      - id: crm_entry
        service: web
        method: "POST /crm/contacts"
        input: {account_id: "{{ .account.account_id }}", email: "ada@example.com"}
        output: contact
        compensate:
          method: "DELETE /crm/contacts"
          input: {account_id: "{{ .account.account_id }}"}
      - id: send_email
        service: web
        method: "POST /emails"
        input: {to: "ada@example.com", template: welcome, account_id: "{{ .account.account_id }}"}
  - id: activate_account
    service: web
    method: "POST /accounts/{{ .account.account_id }}/activate"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_a_parallel_group_undoes_finished_and_in_flight_siblings() {
    let web = ServiceProcess::spawn("web_http", &[]);
    // The contact call hangs; the e-mail fails once storage had time to end.
    web.set_fault(Fault::delay("POST /crm/contacts", 8000).times(1));
    web.set_fault(Fault {
        delay_ms: 500,
        delay_next: Some(1),
        ..Fault::fail("POST /emails", 1, "400")
    });
    let workflow = load(PARALLEL, &[&web]);
    let runtime = start(&workflow).await;
    let report = run(&runtime, &workflow, json!({})).await;
    assert_eq!(report.status, RunStatus::Compensated, "{report:#?}");
    let outcomes: Vec<(&str, StepOutcome, bool)> = report
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.outcome, s.outcome_unknown))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("create_account", StepOutcome::Compensated, false),
            ("provision_storage", StepOutcome::Compensated, false),
            ("crm_entry", StepOutcome::Compensated, true),
            ("send_email", StepOutcome::Failed, false),
            ("activate_account", StepOutcome::NotRun, false),
        ]
    );
    let undone: Vec<&str> = report
        .compensations
        .iter()
        .map(|c| c.step.as_str())
        .collect();
    assert_eq!(undone, ["crm_entry", "provision_storage", "create_account"]);

    let calls = web.calls();
    let contact = calls
        .iter()
        .find(|c| c.is("POST /crm/contacts"))
        .expect("sent");
    assert_eq!(
        contact.outcome, "cancelled",
        "the in-flight sibling was cancelled"
    );
    let paths: Vec<String> = deletes(&calls).iter().map(|c| c.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/crm/contacts".to_owned(),
            undo_path(&calls, "provision_storage"),
            undo_path(&calls, "create_account"),
        ]
    );
    let by_account = deletes(&calls)[0];
    assert_eq!(json!(by_account.headers.get("x-account-id")), Value::Null);
    assert!(by_account.ok, "{by_account:#?}");
}

#[test]
fn a_compensation_that_keeps_failing_is_retried_reported_and_the_others_still_run() {
    let web = ServiceProcess::spawn("web_http", &[]);
    // The last step fails; of the three undos, the contact's fails once
    // then works, and the bucket's always fails.
    web.set_fault(Fault::fail("POST /accounts/{id}/activate", 1, "400"));
    web.set_fault(Fault::fail("DELETE /crm/contacts/{id}", 1, "503"));
    web.set_fault(Fault::fail("DELETE /storage/buckets/{id}", 100, "503"));
    let run = execute(
        SEQUENCE,
        "compensation-fails",
        &["--output", "json"],
        &[&web],
    );
    assert_eq!(run.code, 3, "stderr:\n{}", run.stderr);
    let report = run.json();
    assert_eq!(report["status"], "compensation_failed");
    let undone = crate::support::compensations(&report);
    assert_eq!(
        undone,
        [
            ("crm_entry", true, 2),
            ("provision_storage", false, 3),
            ("create_account", true, 1),
        ],
        "retried per the service's policy (3 attempts), newest first"
    );
    assert!(
        run.stderr.contains("NOT undone: provision_storage"),
        "{}",
        run.stderr
    );

    let calls = web.calls();
    let order: Vec<&str> = deletes(&calls).iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        order,
        [
            "DELETE /crm/contacts/{id}",
            "DELETE /crm/contacts/{id}",
            "DELETE /storage/buckets/{id}",
            "DELETE /storage/buckets/{id}",
            "DELETE /storage/buckets/{id}",
            "DELETE /accounts/{id}",
        ]
    );
    let keys: Vec<&str> = deletes(&calls)[..2]
        .iter()
        .map(|c| c.idempotency_key.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(keys[0], keys[1], "one key for every attempt of an undo");
    assert!(keys[0].ends_with(":crm_entry:compensate"), "{}", keys[0]);
}
