//! `workflow:` steps in `maestro serve`, against the example HTTP service:
//! a child runs inside its parent's run (one run id, its steps named
//! `first/create`), its output is the step's, its effects join the
//! parent's saga, a child inside a loop runs once per element, and the
//! child file can be started by itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use maestro::runtime::RunEvent;
use serde_json::{Value, json};

use super::process::ServeProcess;
use crate::journal::StateDir;
use crate::support::{Fault, ServiceProcess, compensations};

const LIMIT: Duration = Duration::from_secs(60);

const CHILD: &str = r#"
name: open_account
input_schema:
  type: object
  required: [email]
  properties:
    email: {type: string}
    name: {type: string, default: "someone"}
services:
  accounts:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP:-http://127.0.0.1:7102}"
    timeout: 5s
steps:
  - id: create
    service: accounts
    method: "POST /accounts"
    input: {email: "{{ .input.email }}", name: "{{ .input.name }}"}
    output: account
    compensate: {method: "DELETE /accounts/{{ .account.account_id }}"}
output:
  account_id: "{{ .account.account_id }}"
  name: "{{ .account.name }}"
"#;

const PARENT: &str = r#"
name: two_accounts
services:
  accounts:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP:-http://127.0.0.1:7102}"
    timeout: 5s
steps:
  - id: first
    workflow: open_account.yaml
    input: {email: "{{ .input.first }}"}
    output: first
  - id: second
    workflow: open_account.yaml
    input: {email: "{{ .input.second }}", name: "second"}
    output: second
  - id: welcome
    service: accounts
    method: "POST /emails"
    input: {to: "{{ .input.first }}", template: "welcome", account_id: "{{ .first.account_id }}"}
"#;

const LOOP: &str = r#"
name: many_accounts
steps:
  - id: all
    foreach: "{{ .input.emails }}"
    concurrency: 2
    steps:
      - id: open
        workflow: open_account.yaml
        input: {email: "{{ .item }}"}
        output: opened
    output: accounts
"#;

/// The three workflows in a folder of their own, for `--workflows`.
fn folder(dir: &StateDir) -> PathBuf {
    let path = dir.path().join("workflows");
    std::fs::create_dir_all(&path).expect("a folder");
    for (name, text) in [
        ("open_account.yaml", CHILD),
        ("two_accounts.yaml", PARENT),
        ("many_accounts.yaml", LOOP),
    ] {
        std::fs::write(path.join(name), text).expect("write a workflow");
    }
    path
}

fn serve(web: &ServiceProcess, workflows: &Path) -> ServeProcess {
    serve_with(web, workflows, &[])
}

fn serve_with(web: &ServiceProcess, workflows: &Path, args: &[&str]) -> ServeProcess {
    let mut all = vec!["--workflows", workflows.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    ServeProcess::try_spawn(std::slice::from_ref(web), &all)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

fn step_ids(report: &Value) -> Vec<&str> {
    let steps = report["steps"].as_array().expect("steps");
    steps.iter().map(|s| s["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_child_runs_inside_its_parents_run_and_its_output_is_the_steps() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("children-ok");
    let server = serve(&web, &folder(&dir));
    let input = json!({"first": "a@example.com", "second": "b@example.com"});
    let run = server.submit("two_accounts", &input).await;
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(
        step_ids(&report),
        [
            "first",
            "first/create",
            "second",
            "second/create",
            "welcome"
        ]
    );
    // The child's input got its schema's default, and its output block.
    assert_eq!(report["output"]["first"]["name"], "someone");
    assert_eq!(report["output"]["second"]["name"], "second");
    let created = web.calls_to("POST /accounts");
    let keys: Vec<&str> = created
        .iter()
        .filter_map(|c| c.idempotency_key.as_deref())
        .collect();
    assert_eq!(
        keys,
        [
            format!("{run}:first/create"),
            format!("{run}:second/create")
        ]
    );
    let email = &web.calls_to("POST /emails")[0];
    assert_eq!(
        email.request["account_id"],
        report["output"]["first"]["account_id"]
    );

    // The child file is a workflow of its own too.
    let alone = server
        .submit("open_account", &json!({"email": "c@example.com"}))
        .await;
    let report = server.wait_final(&alone, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(step_ids(&report), ["create"]);
}

#[tokio::test]
async fn a_failure_after_the_children_undoes_their_steps_newest_first() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::fail("POST /emails", 10, "500"));
    let dir = StateDir::new("children-undo");
    let server = serve(&web, &folder(&dir));
    let input = json!({"first": "a@example.com", "second": "b@example.com"});
    let run = server.submit("two_accounts", &input).await;
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "compensated", "{report}");
    let undone: Vec<&str> = compensations(&report).iter().map(|c| c.0).collect();
    assert_eq!(undone, ["second/create", "first/create"]);
    assert_eq!(web.calls_to("DELETE /accounts/{id}").len(), 2);
}

#[tokio::test]
async fn a_child_input_its_schema_refuses_fails_the_step_before_any_call() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("children-refused");
    let server = serve(&web, &folder(&dir));
    // `second` is missing: the child's `email` renders as null.
    let run = server
        .submit(
            "two_accounts",
            &json!({"first": "a@example.com", "second": null}),
        )
        .await;
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "compensated", "{report}");
    let second = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "second")
        .expect("the step");
    assert_eq!(second["outcome"], "failed");
    let error = second["error"].as_str().unwrap();
    assert!(
        error.contains("open_account.yaml") && error.contains("/email"),
        "{error}"
    );
    assert_eq!(
        web.calls_to("POST /accounts").len(),
        1,
        "only the first child called"
    );
    assert_eq!(undone_count(&report), 1);
}

fn undone_count(report: &Value) -> usize {
    compensations(report).len()
}

#[tokio::test]
async fn a_child_inside_a_loop_runs_once_per_element() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("children-loop");
    let server = serve(&web, &folder(&dir));
    let emails: Vec<String> = (0..4).map(|i| format!("p{i}@example.com")).collect();
    let run = server
        .submit("many_accounts", &json!({ "emails": emails }))
        .await;
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let ids = step_ids(&report);
    assert_eq!(ids[..3], ["all", "all[0]/open", "all[0]/open/create"]);
    assert_eq!(ids.len(), 1 + 4 * 2);
    let accounts = report["output"]["accounts"].as_array().expect("a list");
    assert_eq!(accounts.len(), 4);
    assert!(
        accounts
            .iter()
            .all(|a| a["opened"]["account_id"].is_string())
    );
    assert_eq!(web.calls_to("POST /accounts").len(), 4);
}

#[tokio::test]
async fn killed_inside_a_child_a_run_finishes_with_nothing_repeated() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::delay("POST /accounts", 400));
    let dir = StateDir::new("children-kill");
    let workflows = folder(&dir);
    let mut server = serve_with(&web, &workflows, &["--state-dir", dir.arg()]);
    let input = json!({"first": "a@example.com", "second": "b@example.com"});
    let run = server.submit("two_accounts", &input).await;
    server
        .wait_step(&run, "second/create", "running", LIMIT)
        .await;
    server.kill();

    let server = serve_with(&web, &workflows, &["--state-dir", dir.arg()]);
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let applied = web
        .calls_to("POST /accounts")
        .iter()
        .filter(|c| c.ok && !c.replayed)
        .count();
    assert_eq!(applied, 2, "each child's account created once");
    let events = dir.events(&run).await;
    let children = events
        .iter()
        .filter(|e| matches!(e, RunEvent::WorkflowStarted { .. }))
        .count();
    assert_eq!(children, 2, "each child began once, its input journaled");
}
