//! `GET /v1/runs?since=&until=&id_prefix=`: the time range and the id
//! prefix filter the runs in memory and, after a restart, the journal's.

use serde_json::{Value, json};

use super::process::ServeProcess;
use crate::journal::StateDir;

fn ids(page: &Value) -> Vec<String> {
    let runs = page["runs"].as_array().cloned().unwrap_or_default();
    runs.iter()
        .map(|r| r["run_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn list(server: &ServeProcess, query: &str) -> Vec<String> {
    let (status, page) = server.get(&format!("/v1/runs?{query}")).await;
    assert_eq!(status, 200, "{query}: {page}");
    ids(&page)
}

#[tokio::test]
async fn runs_are_listed_by_time_range_and_id_prefix_from_memory_and_journal() {
    let dir = StateDir::new("filters");
    let server = ServeProcess::unreachable(64 * 1024, &["--state-dir", dir.arg()]);
    let mut runs = Vec::new();
    for _ in 0..3 {
        let id = server.submit("unreachable", &json!({})).await;
        let run = server
            .wait_final(&id, std::time::Duration::from_secs(30))
            .await;
        runs.push((id, run["submitted_at"].as_str().unwrap().to_owned()));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (first, second, third) = (&runs[0], &runs[1], &runs[2]);
    let check = |server: ServeProcess| async move {
        let since = list(&server, &format!("since={}", second.1)).await;
        assert_eq!(since, [third.0.clone(), second.0.clone()]);
        let until = list(&server, &format!("until={}", second.1)).await;
        assert_eq!(until, std::slice::from_ref(&first.0));
        let prefix = list(&server, &format!("id_prefix={}", &third.0)).await;
        assert_eq!(prefix, std::slice::from_ref(&third.0));
        let (status, body) = server.get("/v1/runs?since=yesterday").await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`since`")
        );
        server
    };
    let mut server = check(server).await;
    // From the journal alone after a restart.
    server.terminate(std::time::Duration::from_secs(30));
    let server = ServeProcess::unreachable(64 * 1024, &["--state-dir", dir.arg()]);
    check(server).await;
}
