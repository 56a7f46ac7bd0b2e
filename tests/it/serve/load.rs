//! Many runs at once: 200 concurrent runs with parallel steps, cancellation
//! that compensates, admission limits and eviction. Actors killed under
//! load and SIGTERM with runs in flight are rows of the fault matrix
//! (`faults::serve`, `faults::drain`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::process::{ServeProcess, fleet, order_input, process};
use crate::support::Fault;

/// Submit `n` runs of loan_processing at once, each waiting for its end.
fn waiting_runs(
    server: &ServeProcess,
    n: usize,
) -> Vec<tokio::task::JoinHandle<reqwest::Result<Value>>> {
    (0..n)
        .map(|_| {
            let (client, url) = (
                server.client.clone(),
                server.url("/v1/workflows/loan_processing/runs?wait=true"),
            );
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .json(&json!({ "input": {} }))
                    .send()
                    .await?;
                response.json::<Value>().await
            })
        })
        .collect()
}

/// How many runs ended in each status.
fn tally(runs: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for run in runs {
        *out.entry(run["status"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_runs_with_parallel_steps_all_succeed() {
    let fleet = fleet();
    let server = ServeProcess::spawn(&fleet, &[]);
    let tasks = waiting_runs(&server, 200);
    let mut runs = Vec::new();
    for task in tasks {
        runs.push(task.await.expect("task").expect("a finished run"));
    }
    assert_eq!(
        tally(&runs),
        BTreeMap::from([("succeeded".to_string(), 200)])
    );
    // Each run made its own calls: 200 distinct credit checks reached the service.
    let core = process(&fleet, "core_grpc");
    let keys: std::collections::BTreeSet<String> = core
        .calls_to("GetCreditScore")
        .into_iter()
        .filter_map(|c| c.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 200);
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("maestro_runs_total{workflow=\"loan_processing\",status=\"succeeded\"} 200")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_stops_it_and_compensates_newest_first() {
    let fleet = fleet();
    let commerce = process(&fleet, "commerce_grpc");
    commerce.set_fault(Fault::delay("Commit", 3_000));
    let server = ServeProcess::spawn(&fleet, &[]);
    let id = server.submit("order_checkout", &order_input()).await;

    server
        .wait_step(&id, "commit_inventory", "running", Duration::from_secs(20))
        .await;
    let (status, body) = server.delete(&format!("/v1/runs/{id}")).await;
    assert_eq!(status, 202, "{body}");
    let run = server.wait_final(&id, Duration::from_secs(20)).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    let undone: Vec<&str> = run["compensations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        undone,
        ["create_shipment", "charge_payment", "reserve_inventory"]
    );
    let calls: Vec<String> = commerce
        .calls()
        .into_iter()
        .filter(|c| {
            ["CancelShipment", "Refund", "Release"]
                .iter()
                .any(|m| c.is(m))
        })
        .map(|c| c.method)
        .collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls[0].ends_with("CancelShipment")
            && calls[1].ends_with("Refund")
            && calls[2].ends_with("Release"),
        "{calls:?}"
    );
    // Cancelling again is a conflict, not a second compensation.
    assert_eq!(server.delete(&format!("/v1/runs/{id}")).await.0, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_run_and_queue_limits_submissions_get_429() {
    let fleet = fleet();
    // Long enough that the first run still holds the only slot when the
    // second is looked at, on a loaded machine too.
    process(&fleet, "core_grpc").set_fault(Fault::delay("VerifyIdentity", 4_000));
    let server = ServeProcess::spawn(&fleet, &["--max-running", "1", "--max-queued", "1"]);
    let first = server.submit("loan_processing", &json!({})).await;
    let second = server.submit("loan_processing", &json!({})).await;
    let (status, body) = server
        .post(
            "/v1/workflows/loan_processing/runs",
            &json!({ "input": {} }),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_runs");
    let (_, queued) = server.get(&format!("/v1/runs/{second}")).await;
    assert_eq!(queued["status"], "queued");
    // A queued run can be cancelled before it starts.
    assert_eq!(server.delete(&format!("/v1/runs/{second}")).await.0, 202);
    let second = server.wait_final(&second, Duration::from_secs(10)).await;
    assert_eq!(second["status"], "cancelled");
    assert!(
        second["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "not_run")
    );
    let first = server.wait_final(&first, Duration::from_secs(30)).await;
    assert_eq!(first["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_runs_are_evicted_oldest_first_past_the_bound() {
    let fleet = fleet();
    let server = ServeProcess::spawn(&fleet, &["--keep-finished", "2"]);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, run) = server
            .post(
                "/v1/workflows/loan_processing/runs?wait=true",
                &json!({ "input": {} }),
            )
            .await;
        assert_eq!(status, 200, "{run}");
        ids.push(run["run_id"].as_str().unwrap().to_string());
    }
    assert_eq!(server.get(&format!("/v1/runs/{}", ids[0])).await.0, 404);
    for id in &ids[1..] {
        assert_eq!(server.get(&format!("/v1/runs/{id}")).await.0, 200);
    }
    let (_, list) = server.get("/v1/runs").await;
    assert_eq!(list["runs"].as_array().unwrap().len(), 2);
}
