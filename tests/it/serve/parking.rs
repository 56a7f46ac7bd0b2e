//! Waiting runs put aside in `maestro serve --state-dir`: a run whose steps
//! all wait holds no run slot, no actor and no events in memory, only its
//! journal; a signal, its wake-up time or a cancel takes it up again.

use std::time::Duration;

use maestro::runtime::RunEvent;
use serde_json::{Value, json};

use super::process::ServeProcess;
use crate::journal::StateDir;
use crate::support::ServiceProcess;

const WORKFLOW: &str = "examples/workflows/account_approval.yaml";
const LIMIT: Duration = Duration::from_secs(30);

fn serve(web: &ServiceProcess, dir: &StateDir) -> ServeProcess {
    let args = [
        "--workflows",
        WORKFLOW,
        "--state-dir",
        dir.arg(),
        "--max-running",
        "1",
    ];
    ServeProcess::try_spawn(std::slice::from_ref(web), &args)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

fn input(name: &str) -> Value {
    json!({"email": format!("{name}@example.com"), "name": name})
}

async fn signal(server: &ServeProcess, run: &str, by: &str) -> u16 {
    let url = server.url(&format!("/v1/runs/{run}/signals/manager_approval"));
    let payload = json!({"payload": {"approved": true, "by": by}});
    let response = server
        .client
        .post(url)
        .json(&payload)
        .send()
        .await
        .expect("POST");
    response.status().as_u16()
}

#[tokio::test]
async fn waiting_runs_give_up_their_slot_and_a_signal_takes_each_up_again() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("parking");
    let server = serve(&web, &dir);
    // One run slot, three runs: each reaches its wait only because the
    // one before gave its slot up while waiting.
    let mut runs = Vec::new();
    for name in ["ana", "bo", "cy"] {
        runs.push(server.submit("account_approval", &input(name)).await);
    }
    for run in &runs {
        server
            .wait_step(run, "manager_approval", "waiting", LIMIT)
            .await;
    }
    for run in &runs {
        let parked = dir.events(run).await;
        assert!(
            parked
                .iter()
                .any(|e| matches!(e, RunEvent::RunParked { until: Some(_) })),
            "parked until the wait's timeout: {parked:?}"
        );
    }
    for (run, by) in runs.iter().zip(["x", "y", "z"]) {
        assert_eq!(signal(&server, run, by).await, 202);
    }
    for (run, by) in runs.iter().zip(["x", "y", "z"]) {
        let report = server.wait_final(run, LIMIT).await;
        assert_eq!(report["status"], "succeeded", "{report}");
        assert_eq!(report["output"]["approved_by"], by);
    }
    assert_eq!(web.calls_to("POST /accounts/{id}/activate").len(), 3);
    // Each took its signal once, resumed from the journal.
    for run in &runs {
        let all = dir.events(run).await;
        let taken = all
            .iter()
            .filter(|e| matches!(e, RunEvent::SignalReceived { .. }))
            .count();
        assert_eq!(taken, 1, "{all:?}");
        assert!(all.iter().any(|e| matches!(e, RunEvent::RunResumed)));
    }
}

#[tokio::test]
async fn cancelling_a_parked_run_takes_it_up_and_undoes_what_it_did() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("parking-cancel");
    let server = serve(&web, &dir);
    let run = server.submit("account_approval", &input("dee")).await;
    server
        .wait_step(&run, "manager_approval", "waiting", LIMIT)
        .await;
    // Parked: the listing and the run's page still say it runs.
    let (status, view) = server.get(&format!("/v1/runs/{run}")).await;
    assert_eq!((status, view["status"].as_str()), (200, Some("running")));
    let (status, _) = server.delete(&format!("/v1/runs/{run}")).await;
    assert_eq!(status, 202);
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "cancelled", "{report}");
    assert_eq!(web.calls_to("DELETE /accounts/{id}").len(), 1);
    let all = dir.events(&run).await;
    let parks = all
        .iter()
        .filter(|e| matches!(e, RunEvent::RunParked { .. }))
        .count();
    assert_eq!(parks, 1, "parked while it waited, once: {all:?}");
}
