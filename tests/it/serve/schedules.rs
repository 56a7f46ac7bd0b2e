//! Schedules fired by a real `maestro serve`: `every: 1s`, so a few seconds
//! show several ticks, each bounded by a deadline. Runs call a port where
//! nothing answers, or a listener that never replies, so none needs another
//! process.

use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::journal::StateDir;
use crate::serve::process::ServeProcess;

/// How long a test waits for the ticks it needs, at most.
const DEADLINE: Duration = Duration::from_secs(30);

/// A workflow `ticker` calling `endpoint` with one step of `timeout`, on
/// `every: 1s` with `overlap`; written in `dir`.
pub fn ticker(dir: &StateDir, endpoint: &str, timeout: &str, overlap: &str) -> String {
    std::fs::create_dir_all(dir.arg()).expect("a folder for the workflow");
    let path = format!("{}/ticker.yaml", dir.arg());
    let yaml = format!(
        "name: ticker\nservices:\n  api:\n    type: http\n    endpoint: \"{endpoint}\"\n    \
         retry: {{attempts: 1}}\n    timeout: {timeout}\nsteps:\n  - id: call\n    service: api\n    \
         method: \"POST /tick\"\n    input: {{report: \"{{{{ .input.report }}}}\"}}\n\
         schedules:\n  - every: 1s\n    input: {{report: daily}}\n    overlap: {overlap}\n"
    );
    std::fs::write(&path, yaml).expect("write the workflow");
    path
}

/// The runs of `ticker`, oldest first, once there are at least `count`.
pub async fn wait_runs(server: &ServeProcess, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (status, body) = server.get("/v1/runs?workflow=ticker&limit=1000").await;
        assert_eq!(status, 200, "{body}");
        let mut runs = body["runs"].as_array().cloned().unwrap_or_default();
        if runs.len() >= count {
            runs.reverse();
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "{} scheduled runs after {DEADLINE:?}, not {count}: {}",
            runs.len(),
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn submitted(run: &Value) -> SystemTime {
    humantime::parse_rfc3339(run["submitted_at"].as_str().expect("submitted_at")).expect("RFC 3339")
}

/// Runs started less than half a tick apart: one tick fired twice.
pub fn twins(runs: &[Value]) -> Vec<(String, String)> {
    runs.windows(2)
        .filter(|pair| {
            let gap = submitted(&pair[1])
                .duration_since(submitted(&pair[0]))
                .unwrap_or_default();
            gap < Duration::from_millis(500)
        })
        .map(|pair| (pair[0].to_string(), pair[1].to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_starts_one_run_per_tick_and_lists_its_times() {
    let files = StateDir::new("sched-files");
    let state = StateDir::new("sched-state");
    let workflow = ticker(&files, "http://127.0.0.1:9", "1s", "skip");
    let server =
        ServeProcess::try_spawn(&[], &["--workflows", &workflow, "--state-dir", state.arg()])
            .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"));
    let runs = wait_runs(&server, 3).await;
    assert!(twins(&runs).is_empty(), "{:?}", twins(&runs));
    // Each run got the schedule's input, as the journal keeps it.
    let db = rusqlite::Connection::open_with_flags(
        format!("{}/runs.db", state.arg()),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("the journal opens");
    let input: String = db
        .query_row(
            "SELECT input FROM runs WHERE run_id = ?1",
            [runs[0]["run_id"].as_str().unwrap()],
            |row| row.get(0),
        )
        .expect("the run is journaled");
    assert_eq!(input, r#"{"report":"daily"}"#);

    let (status, body) = server.get("/v1/schedules").await;
    assert_eq!(status, 200, "{body}");
    let s = &body["schedules"][0];
    assert_eq!(s["workflow"], "ticker", "{body}");
    assert_eq!(s["index"], 0);
    assert_eq!(s["expression"], "every 1s");
    assert_eq!(s["timezone"], "UTC");
    assert_eq!(s["overlap"], "skip");
    assert_eq!(s["catch_up"], true);
    let next = humantime::parse_rfc3339(s["next_fire"].as_str().expect("next")).unwrap();
    let last = humantime::parse_rfc3339(s["last_fire"].as_str().expect("last")).unwrap();
    assert!(next > last, "{body}");
    assert_eq!(
        next.duration_since(last).unwrap(),
        Duration::from_secs(1),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_skip_starts_no_run_while_the_previous_goes_on() {
    // Accepts connections and never answers: each run takes its 3s timeout.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let files = StateDir::new("sched-overlap");
    let workflow = ticker(&files, &endpoint, "3s", "skip");
    let server = ServeProcess::try_spawn(&[], &["--workflows", &workflow])
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"));
    // Two runs: the second began once the first ended, ticks in between
    // were skipped.
    let runs = wait_runs(&server, 2).await;
    server
        .wait_final(runs[0]["run_id"].as_str().unwrap(), DEADLINE)
        .await;
    let gap = submitted(&runs[1])
        .duration_since(submitted(&runs[0]))
        .unwrap();
    assert!(
        gap >= Duration::from_secs(3),
        "the second run began {gap:?} after the first"
    );
    let (_, body) = server.get("/v1/runs?workflow=ticker&status=running").await;
    let running = body["runs"].as_array().map_or(0, Vec::len);
    assert!(running <= 1, "{running} scheduled runs at once: {body}");
    drop(silent);
}
