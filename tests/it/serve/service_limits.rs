//! A service's `concurrency` and `rate` under `maestro serve`: held across
//! the runs of every request, and shown by `GET /v1/services` and
//! `/metrics`.

use serde_json::{Value, json};

use super::process::ServeProcess;
use crate::support::{Fault, ServiceProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_all_requests_share_the_limit_and_the_server_shows_its_waits() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::delay("POST /enrich", 20));
    let workflows = ["--workflows", "examples/workflows/paced_enrichment.yaml"];
    let server = ServeProcess::try_spawn(std::slice::from_ref(&web), &workflows)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"));
    let url = server.url("/v1/workflows/paced_enrichment/runs?wait=true");
    let runs: Vec<_> = (0..30)
        .map(|i| {
            let (client, url) = (server.client.clone(), url.clone());
            tokio::spawn(async move {
                let body = json!({ "input": { "customer_id": format!("cust_{i}") } });
                let response = client.post(url).json(&body).send().await?;
                response.json::<Value>().await
            })
        })
        .collect();
    for run in runs {
        let run = run.await.expect("task").expect("a finished run");
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    assert!(web.peak_active() <= 5, "peak {}", web.peak_active());

    let (_, listed) = server.get("/v1/services").await;
    let partner = listed["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "partner_api"))
        .unwrap_or_else(|| panic!("partner_api listed: {listed}"));
    let limits = &partner["limits"];
    assert_eq!(limits["concurrency"], 5, "{partner}");
    assert_eq!(limits["rate"], "50/s", "{partner}");
    assert_eq!(limits["queued"], 0, "{partner}");
    assert!(limits["waits"].as_u64().unwrap_or(0) >= 1, "{partner}");
    assert!(
        limits["wait_seconds"].as_f64().unwrap_or(0.0) > 0.0,
        "{partner}"
    );

    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The endpoint as the server shows it, from any of the service's samples.
    let labels = text
        .lines()
        .find_map(|l| l.strip_prefix("maestro_service_actor_up{"))
        .and_then(|l| l.split_once('}'))
        .map(|(labels, _)| labels.to_string())
        .filter(|labels| labels.starts_with("service=\"partner_api\""))
        .unwrap_or_else(|| panic!("partner_api in {text}"));
    assert!(
        text.contains(&format!("maestro_service_limit_queued{{{labels}}} 0\n")),
        "{text}"
    );
    for family in [
        "maestro_service_limit_waits_total",
        "maestro_service_limit_wait_seconds_total",
    ] {
        let sample = format!("{family}{{{labels}}} ");
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(&sample))
            .unwrap_or_else(|| panic!("no {sample} in {text}"));
        assert!(value.parse::<f64>().unwrap() > 0.0, "{sample}{value}");
    }
}
