//! `foreach` in `maestro serve`, against the example HTTP service: each
//! element called with its own idempotency key, at most `concurrency` at
//! once; a later failure undoing every element newest first; and a run
//! killed with -9 halfway through a loop finishing with nothing repeated.

use std::path::PathBuf;
use std::time::Duration;

use maestro::runtime::RunEvent;
use serde_json::{Value, json};

use super::process::ServeProcess;
use crate::journal::StateDir;
use crate::support::{Fault, ServiceProcess, compensations};

const LIMIT: Duration = Duration::from_secs(60);

const WORKFLOW: &str = r#"
name: open_accounts
services:
  accounts:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP:-http://127.0.0.1:7102}"
    timeout: 5s
    retry: {attempts: 2, initial_interval: 50ms}
steps:
  - id: open_all
    foreach: "{{ .input.people }}"
    as: person
    concurrency: 3
    steps:
      - id: open
        service: accounts
        method: "POST /accounts"
        input: {email: "{{ .person.email }}", name: "{{ .person.name }}-{{ .person_index }}"}
        output: account
        compensate: {method: "DELETE /accounts/{{ .account.account_id }}"}
    output: opened
  - id: welcome
    service: accounts
    method: "POST /emails"
    input: {to: "{{ .input.people[0].email }}", template: "welcome", account_id: "{{ .opened[0].account.account_id }}"}
"#;

/// The workflow in a folder of its own, for `--workflows`.
fn workflow_file(dir: &StateDir) -> PathBuf {
    std::fs::create_dir_all(dir.path()).expect("a folder");
    let path = dir.path().join("open_accounts.yaml");
    std::fs::write(&path, WORKFLOW).expect("write the workflow");
    path
}

fn serve(web: &ServiceProcess, file: &std::path::Path, args: &[&str]) -> ServeProcess {
    let mut all = vec!["--workflows", file.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    ServeProcess::try_spawn(std::slice::from_ref(web), &all)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

fn people(n: usize) -> Value {
    let people: Vec<Value> = (0..n)
        .map(|i| json!({"email": format!("p{i}@example.com"), "name": format!("p{i}")}))
        .collect();
    json!({ "people": people })
}

/// Accounts the service created: answered ok, not replayed.
fn opened(web: &ServiceProcess) -> Vec<crate::support::CallRecord> {
    let calls = web.calls_to("POST /accounts");
    calls.into_iter().filter(|c| c.ok && !c.replayed).collect()
}

#[tokio::test]
async fn each_element_is_called_once_with_its_own_key_and_the_output_keeps_the_order() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::delay("POST /accounts", 50));
    let dir = StateDir::new("foreach-ok");
    let server = serve(&web, &workflow_file(&dir), &[]);
    let run = server.submit("open_accounts", &people(7)).await;
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");

    let calls = opened(&web);
    assert_eq!(calls.len(), 7);
    let mut keys: Vec<String> = calls
        .iter()
        .filter_map(|c| c.idempotency_key.clone())
        .collect();
    keys.sort();
    let expected: Vec<String> = (0..7)
        .map(|i| format!("{run}:open_all[{i}]/open"))
        .collect();
    assert_eq!(keys, expected);
    assert!(
        web.peak_active() <= 3,
        "at most 3 at once: {}",
        web.peak_active()
    );
    assert!(web.peak_active() >= 2, "elements ran side by side");

    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(steps[0], "open_all");
    assert_eq!(steps[1], "open_all[0]/open");
    assert_eq!(steps[7], "open_all[6]/open");
    assert_eq!(steps[8], "welcome");
    // Each element's name carries its position: the list kept its order.
    for call in &calls {
        let name = call.request["name"].as_str().unwrap();
        let position: usize = name.rsplit('-').next().unwrap().parse().unwrap();
        assert_eq!(call.request["email"], format!("p{position}@example.com"));
    }
    let welcome = &web.calls_to("POST /emails")[0];
    let first_account = calls
        .iter()
        .find(|c| c.request["name"] == "p0-0")
        .and_then(|c| c.response.clone())
        .expect("element 0 answered");
    assert_eq!(welcome.request["account_id"], first_account["account_id"]);
}

#[tokio::test]
async fn a_failure_after_the_loop_undoes_every_element_newest_first() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::fail("POST /emails", 10, "500"));
    let dir = StateDir::new("foreach-undo");
    let server = serve(&web, &workflow_file(&dir), &["--state-dir", dir.arg()]);
    let run = server.submit("open_accounts", &people(5)).await;
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "compensated", "{report}");

    // Undone in the reverse of the order the run saw the accounts created.
    let events = dir.events(&run).await;
    let created: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::StepCompleted { step, output, .. } if step.starts_with("open_all[") => {
                output["account_id"].as_str().map(str::to_owned)
            }
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 5);
    let mut deleted = web.calls_to("DELETE /accounts/{id}");
    deleted.sort_by_key(|c| c.start_us);
    let deleted: Vec<String> = deleted
        .iter()
        .map(|c| c.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(deleted, newest_first);
    assert_eq!(compensations(&report).len(), 5);
}

#[tokio::test]
async fn killed_halfway_through_a_loop_a_run_finishes_with_nothing_repeated() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::delay("POST /accounts", 300));
    let dir = StateDir::new("foreach-kill");
    let file = workflow_file(&dir);
    let mut server = serve(&web, &file, &["--state-dir", dir.arg()]);
    let run = server.submit("open_accounts", &people(9)).await;
    // Some elements ended, others are in flight.
    server
        .wait_step(&run, "open_all[2]/open", "ok", LIMIT)
        .await;
    server.kill();
    let done_before = opened(&web).len();
    assert!(done_before < 9, "killed halfway: {done_before} done");

    let server = serve(&web, &file, &["--state-dir", dir.arg()]);
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    // Every element's account was created once: a call the killed process
    // had in flight is sent again with its key and answered from the
    // service's store.
    let calls = opened(&web);
    let mut keys: Vec<String> = calls
        .iter()
        .filter_map(|c| c.idempotency_key.clone())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(calls.len(), 9, "no account created twice");
    assert_eq!(keys.len(), 9);
    let output = report["output"]["opened"].as_array().expect("a list");
    assert_eq!(output.len(), 9);
    assert!(
        output
            .iter()
            .all(|e| e["account"]["account_id"].is_string())
    );
    let events = dir.events(&run).await;
    let loops = events
        .iter()
        .filter(|e| matches!(e, RunEvent::ForeachStarted { .. }))
        .count();
    assert_eq!(loops, 1, "the loop began once, its list journaled");
}
