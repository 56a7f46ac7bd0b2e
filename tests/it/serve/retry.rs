//! `POST /v1/runs/{id}/retry` against the example HTTP service: a run that
//! ended `compensation_failed` has its failed undo tried again with the
//! same idempotency key and ends `compensated`; a compensated run starts
//! again as a new run with the same input, `retry_of` the first.

use std::time::Duration;

use serde_json::{Value, json};

use super::process::ServeProcess;
use crate::journal::StateDir;
use crate::support::{Fault, RETRIED as WORKFLOW, ServiceProcess};

const LIMIT: Duration = Duration::from_secs(30);

/// `maestro serve` of the workflow above, with `args`.
fn serve(web: &ServiceProcess, dir: &StateDir, args: &[&str]) -> ServeProcess {
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("retried.yaml");
    std::fs::write(&file, WORKFLOW).unwrap();
    let mut all = vec!["--workflows", file.to_str().unwrap()];
    all.extend_from_slice(args);
    ServeProcess::try_spawn(std::slice::from_ref(web), &all)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

fn input() -> Value {
    json!({"email": "ana@example.com"})
}

#[tokio::test]
async fn failed_compensations_are_tried_again_with_their_keys() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("retry-undo");
    let journal = dir.path().join("state");
    let server = serve(&web, &dir, &["--state-dir", journal.to_str().unwrap()]);
    web.set_fault(Fault::fail("POST /accounts/{id}/activate", 2, "503"));
    web.set_fault(Fault::fail("DELETE /accounts/{id}", 2, "503"));
    let run = server.submit("retried", &input()).await;
    let first = server.wait_final(&run, LIMIT).await;
    assert_eq!(first["status"], "compensation_failed", "{first}");

    let (status, body) = server
        .post(&format!("/v1/runs/{run}/retry"), &json!({}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["run_id"], run.as_str());
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "compensated", "{report}");
    let undo = &report["compensations"][0];
    assert_eq!(
        (undo["step"].as_str(), undo["ok"].as_bool()),
        (Some("create_account"), Some(true))
    );
    let deletes = web.calls_to("DELETE /accounts/{id}");
    assert_eq!(deletes.len(), 3, "two failed, one retried: {deletes:?}");
    let keys: Vec<_> = deletes.iter().map(|c| c.idempotency_key.clone()).collect();
    assert!(
        keys.iter()
            .all(|k| *k == Some(format!("{run}:create_account:compensate")))
    );
    // Compensated now: retried again, it starts a new run.
    let (status, body) = server
        .post(&format!("/v1/runs/{run}/retry"), &json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let again = body["run_id"].as_str().unwrap_or_default().to_owned();
    let report = server.wait_final(&again, LIMIT).await;
    assert_eq!(
        (report["status"].as_str(), report["retry_of"].as_str()),
        (Some("succeeded"), Some(run.as_str()))
    );
}

#[tokio::test]
async fn a_compensated_run_starts_again_with_its_input() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("retry-run");
    let server = serve(&web, &dir, &[]);
    web.set_fault(Fault::fail("POST /accounts/{id}/activate", 2, "503"));
    let run = server.submit("retried", &input()).await;
    let first = server.wait_final(&run, LIMIT).await;
    assert_eq!(first["status"], "compensated", "{first}");

    let (status, body) = server
        .post(&format!("/v1/runs/{run}/retry"), &json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let again = body["run_id"].as_str().expect("a new run").to_owned();
    assert_ne!(again, run);
    let report = server.wait_final(&again, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["retry_of"], run.as_str());
    let created = web.calls_to("POST /accounts");
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].request, created[1].request, "the same input");
    let (status, body) = server
        .post(&format!("/v1/runs/{again}/retry"), &json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_retryable"))
    );
    let (status, _) = server.post("/v1/runs/nope/retry", &json!({})).await;
    assert_eq!(status, 404);
}
