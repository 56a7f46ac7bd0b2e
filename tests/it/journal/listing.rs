//! `GET /v1/runs` after a restart lists the journaled runs with those in
//! memory, a page at a time: every run exactly once, newest first; a cursor
//! no page gave is refused. `maestro runs list` pages the same way.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::StateDir;
use crate::serve::process::ServeProcess;

/// The fixture's runs end at once: no service needed.
fn serve(dir: &StateDir) -> ServeProcess {
    let args = [
        "--workflows",
        "tests/fixtures/unreachable.yaml",
        "--state-dir",
        dir.arg(),
    ];
    ServeProcess::try_spawn(&[], &args)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

/// Submit `n` runs, each to its end; their ids.
async fn finished_runs(server: &ServeProcess, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = server.submit("unreachable", &json!({ "n": i })).await;
        server.wait_final(&id, Duration::from_secs(30)).await;
        ids.push(id);
    }
    ids
}

/// Every page of `/v1/runs?limit=LIMIT`: the ids in the order listed, and
/// how many pages.
async fn walk(server: &ServeProcess, limit: usize) -> (Vec<String>, usize) {
    let (mut ids, mut pages) = (Vec::new(), 0);
    let mut path = format!("/v1/runs?limit={limit}");
    loop {
        let (code, page) = server.get(&path).await;
        assert_eq!(code, 200, "{path}: {page}");
        let runs = page["runs"].as_array().expect("runs");
        assert!(runs.len() <= limit, "{page}");
        ids.extend(
            runs.iter()
                .map(|r| r["run_id"].as_str().unwrap().to_string()),
        );
        pages += 1;
        assert!(pages <= 20, "the pages never end: {ids:?}");
        match &page["next_cursor"] {
            Value::String(cursor) => path = format!("/v1/runs?limit={limit}&cursor={cursor}"),
            Value::Null => return (ids, pages),
            other => panic!("next_cursor is {other}"),
        }
    }
}

/// Newest first: by submission time, then id.
async fn newest_first(server: &ServeProcess, ids: &[String]) -> Vec<String> {
    let mut keyed = Vec::new();
    for id in ids {
        let (code, run) = server.get(&format!("/v1/runs/{id}")).await;
        assert_eq!(code, 200, "{run}");
        keyed.push((
            run["submitted_at"].as_str().unwrap().to_string(),
            id.clone(),
        ));
    }
    keyed.sort();
    keyed.into_iter().rev().map(|(_, id)| id).collect()
}

fn runs_list(dir: &StateDir, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["runs", "list", "--state-dir", dir.arg()])
        .args(args)
        .output()
        .expect("maestro runs list");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_runs_are_listed_from_the_journal_a_page_at_a_time() {
    let dir = StateDir::new("listing");
    let first = serve(&dir);
    let mut ids = finished_runs(&first, 5).await;
    let (_, before) = first.get("/v1/runs?limit=1").await;
    assert!(before["next_cursor"].is_string(), "{before}");
    drop(first);

    let second = serve(&dir);
    ids.extend(finished_runs(&second, 1).await);
    let expected = newest_first(&second, &ids).await;
    let (listed, pages) = walk(&second, 2).await;
    assert_eq!(listed, expected, "every run once, newest first");
    assert_eq!(pages, 3);
    let (all, pages) = walk(&second, 50).await;
    assert_eq!((all, pages), (expected.clone(), 1));

    // The runs read from the journal keep their status and filters apply.
    let (_, page) = second.get("/v1/runs?workflow=unreachable&limit=50").await;
    let statuses: Vec<&str> = page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 6, "{page}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == statuses[0] && *s != "running"),
        "{page}"
    );
    let (_, none) = second.get("/v1/runs?workflow=other").await;
    assert_eq!(none["runs"], json!([]), "{none}");
    assert!(none["next_cursor"].is_null(), "{none}");

    for (path, why) in [
        ("/v1/runs?cursor=nonsense", "not one this server gave"),
        ("/v1/runs?cursor=", "empty"),
        ("/v1/runs?cursor=31323a", "names no possible run"),
        ("/v1/runs?limit=0", "at least 1"),
    ] {
        let (code, body) = second.get(path).await;
        assert_eq!(code, 400, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{path}: {body}");
    }
    let long = format!("/v1/runs?cursor={}", "ab".repeat(5000));
    let (code, body) = second.get(&long).await;
    assert_eq!(code, 400, "{body}");

    // The command line pages through the journal the same way.
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..10 {
        let mut args = vec!["--limit", "4", "--json"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let (ok, stdout, stderr) = runs_list(&dir, &args);
        assert!(ok, "{stderr}");
        for line in stdout.lines() {
            let row: Value = serde_json::from_str(line).expect("JSON");
            seen.push(row["run_id"].as_str().unwrap().to_string());
        }
        cursor = stderr
            .split("--cursor ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, expected, "maestro runs list pages");
    let (ok, _, stderr) = runs_list(&dir, &["--cursor", "nonsense"]);
    assert!(!ok && stderr.contains("invalid cursor"), "{stderr}");
}
