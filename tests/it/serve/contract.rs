//! The API contract a client relies on: documented error codes (422 is
//! `invalid_input`), `Idempotency-Key` on submissions, `GET /v1/runs/{id}`
//! with `?wait=` answering once the run ended, `GET /v1/workflows/{name}`,
//! each in the OpenAPI document.

use std::time::Duration;

use serde_json::{Value, json};

use super::process::{ServeProcess, process};
use crate::support::{Fault, ServiceProcess};

const RUNS: &str = "/v1/workflows/loan_processing/runs";

/// `maestro serve` with the one process `loan_processing` calls.
fn core() -> Vec<ServiceProcess> {
    vec![ServiceProcess::spawn("core_grpc", &[])]
}

async fn submit_with_key(server: &ServeProcess, key: &str, input: Value) -> (u16, Value, bool) {
    let response = server
        .client
        .post(server.url(RUNS))
        .header("idempotency-key", key)
        .json(&json!({ "input": input }))
        .send()
        .await
        .expect("POST");
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"), replayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_use_documented_codes_and_422_is_invalid_input() {
    let server = ServeProcess::spawn(&core(), &[]);
    let (status, body) = server.post(RUNS, &json!({"input": [1, 2]})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    let (_, doc) = server.get("/openapi.json").await;
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    let codes: Vec<&str> = codes
        .as_array()
        .expect("an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for code in [
        "invalid_input",
        "bad_request",
        "not_found",
        "idempotency_key_reused",
        "too_many_runs",
    ] {
        assert!(codes.contains(&code), "{code} is not documented: {codes:?}");
    }
    let (status, body) = server.get("/v1/workflows/nope").await;
    assert_eq!(status, 404);
    assert!(codes.contains(&body["error"]["code"].as_str().unwrap_or_default()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_starts_one_run() {
    let fleet = core();
    let server = ServeProcess::spawn(&fleet, &[]);
    let (status, first, replayed) = submit_with_key(&server, "order-42", json!({"n": 1})).await;
    assert_eq!((status, replayed), (202, false), "{first}");
    let (status, again, replayed) = submit_with_key(&server, "order-42", json!({"n": 1})).await;
    assert_eq!((status, replayed), (202, true), "{again}");
    assert_eq!(again["run_id"], first["run_id"]);
    let (status, reused, _) = submit_with_key(&server, "order-42", json!({"n": 2})).await;
    assert_eq!(
        (status, reused["error"]["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );
    let (status, other, _) = submit_with_key(&server, "order-43", json!({"n": 1})).await;
    assert_eq!(status, 202, "{other}");
    assert_ne!(other["run_id"], first["run_id"]);
    let id = first["run_id"].as_str().expect("an id");
    server.wait_final(id, Duration::from_secs(30)).await;
    let starts = process(&fleet, "core_grpc")
        .calls_to("VerifyIdentity")
        .iter()
        .filter(|c| {
            c.idempotency_key
                .as_deref()
                .is_some_and(|k| k.starts_with(id))
        })
        .count();
    assert_eq!(starts, 1, "the replayed submission started nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_run_with_wait_answers_once_the_run_has_ended() {
    let fleet = core();
    // Slow enough that a GET without waiting would find it running.
    process(&fleet, "core_grpc").set_fault(Fault::delay("GenerateContract", 300));
    let server = ServeProcess::spawn(&fleet, &[]);
    let id = server.submit("loan_processing", &json!({})).await;
    let (status, run) = server.get(&format!("/v1/runs/{id}?wait=30s")).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    let (status, body) = server.get(&format!("/v1/runs/{id}?wait=soon")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_workflow_is_read_by_name_and_all_of_it_is_documented() {
    let server = ServeProcess::spawn(&core(), &[]);
    let (status, workflow) = server.get("/v1/workflows/loan_processing").await;
    assert_eq!(status, 200, "{workflow}");
    assert_eq!(workflow["name"], "loan_processing");
    assert!(
        workflow["graph"]
            .as_str()
            .is_some_and(|g| g.contains("flowchart TD")),
        "{workflow}"
    );
    let (_, doc) = server.get("/openapi.json").await;
    let paths = &doc["paths"];
    assert!(
        paths["/v1/workflows/{name}"]["get"].is_object(),
        "GET /v1/workflows/{{name}}"
    );
    let names = |op: &Value| -> Vec<String> {
        op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(names(&paths["/v1/runs/{id}"]["get"]).contains(&"wait".to_owned()));
    let submit = &paths["/v1/workflows/{name}/runs"]["post"];
    assert!(
        names(submit).contains(&"Idempotency-Key".to_owned()),
        "{submit}"
    );
    assert!(submit["responses"]["409"].is_object(), "{submit}");
}
