//! Signals with PostgreSQL replicas: a signal sent over the API of a
//! replica that does not drive the run, and one posted with `maestro
//! signal --state URL`, both reach the run through the journal's inbox.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::TestDb;
use crate::serve::process::ServeProcess;
use crate::support::ServiceProcess;

const WORKFLOW: &str = "examples/workflows/account_approval.yaml";
const LIMIT: Duration = Duration::from_secs(30);

fn replica(web: &ServiceProcess, url: &str) -> ServeProcess {
    let args = ["--workflows", WORKFLOW, "--state", url];
    ServeProcess::try_spawn(std::slice::from_ref(web), &args)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

#[tokio::test]
async fn signals_reach_a_run_through_the_journal_from_anywhere() {
    let db = TestDb::create().await;
    let web = ServiceProcess::spawn("web_http", &[]);
    let (a, b) = (replica(&web, &db.url), replica(&web, &db.url));
    let input = json!({"email": "ana@example.com", "name": "Ana"});

    // Sent to the replica that does not drive the run.
    let first = a.submit("account_approval", &input).await;
    a.wait_step(&first, "manager_approval", "waiting", LIMIT)
        .await;
    let path = format!("/v1/runs/{first}/signals/manager_approval");
    let (status, body) = b
        .post(&path, &json!({"payload": {"approved": true, "by": "b"}}))
        .await;
    assert_eq!(status, 202, "{body}");
    let report = a.wait_final(&first, LIMIT).await;
    assert_eq!(report["output"]["approved_by"], "b", "{report}");

    // Posted from the command line.
    let second = a.submit("account_approval", &input).await;
    a.wait_step(&second, "manager_approval", "waiting", LIMIT)
        .await;
    let sent = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["signal", &second, "manager_approval"])
        .args([
            "--payload",
            r#"{"approved": true, "by": "cli"}"#,
            "--state",
            &db.url,
        ])
        .output()
        .expect("maestro signal runs");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let report = a.wait_final(&second, LIMIT).await;
    assert_eq!(report["output"]["approved_by"], "cli", "{report}");
    // Taken out of the inbox once journaled with the runs.
    assert_eq!(db.count("SELECT count(*) FROM maestro_signals").await, 0);
}
