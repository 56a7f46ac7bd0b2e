//! `GET /v1/events` against a real `maestro serve` and the example HTTP
//! service: events as they happen, filtered by workflow or run (history
//! first), behind the token, not cut by the connection's timeouts.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::process::ServeProcess;
use crate::support::{ServiceProcess, example_file};

const TOKEN: &str = "events-token-0123456789";
const LIMIT: Duration = Duration::from_secs(20);

/// A Server-Sent Events stream read a chunk at a time.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
}

impl SseReader {
    pub async fn open(request: reqwest::RequestBuilder) -> SseReader {
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"].to_str().unwrap_or("");
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        SseReader {
            response,
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event (`event` field, `data` as JSON), waiting at most until
    /// `deadline`; `None` past it or when the stream ends.
    pub async fn next(&mut self, deadline: Instant) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut kind, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some((kind, serde_json::from_str(&data).expect("data is JSON")));
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .ok()?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.ok()??));
        }
    }

    /// Events until one of run `run_id` named `last` (included), in order.
    pub async fn until(&mut self, run_id: &str, last: &str) -> Vec<(String, Value)> {
        let deadline = Instant::now() + LIMIT;
        let mut seen = Vec::new();
        while let Some((kind, data)) = self.next(deadline).await {
            let done = data["run_id"] == run_id && data["event"] == last;
            seen.push((kind, data));
            if done {
                return seen;
            }
        }
        panic!("no `{last}` of {run_id} within {LIMIT:?}; saw {seen:?}");
    }
}

fn serve(web: &ServiceProcess, extra: &[&str]) -> ServeProcess {
    let mut args = vec![
        "--workflows",
        "examples/workflows/user_onboarding.yaml",
        "tests/fixtures/unreachable.yaml",
    ];
    args.extend_from_slice(extra);
    ServeProcess::try_spawn(std::slice::from_ref(web), &args)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

fn onboarding() -> Value {
    let text = std::fs::read_to_string(example_file("inputs/onboarding_premium.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn names(events: &[(String, Value)], run_id: &str) -> Vec<String> {
    let of_run = events.iter().filter(|(_, d)| d["run_id"] == run_id);
    of_run
        .map(|(_, d)| d["event"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_as_runs_go_filtered_by_workflow_and_by_run() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let server = serve(&web, &[]);
    let stream = |query: &str| server.client.get(server.url(&format!("/v1/events{query}")));
    let mut all = SseReader::open(stream("")).await;
    let mut onboarding_only = SseReader::open(stream("?workflow=user_onboarding")).await;

    let failed = server.submit("unreachable", &json!({})).await;
    let ok = server.submit("user_onboarding", &onboarding()).await;

    let everything = all.until(&ok, "run_finished").await;
    let mut everything = everything;
    if !names(&everything, &failed).contains(&"run_finished".to_string()) {
        everything.extend(all.until(&failed, "run_finished").await);
    }
    let seen = names(&everything, &ok);
    assert_eq!(
        seen.first().map(String::as_str),
        Some("run_started"),
        "{seen:?}"
    );
    assert!(seen.contains(&"attempt_started".into()), "{seen:?}");
    assert!(seen.contains(&"step_completed".into()), "{seen:?}");
    let step = everything
        .iter()
        .find(|(_, d)| d["event"] == "step_completed")
        .unwrap();
    assert_eq!(step.0, "step", "a step's event is named so");
    assert_eq!(everything[0].0, "run");
    assert!(
        names(&everything, &failed).contains(&"compensation_started".into())
            || names(&everything, &failed).contains(&"step_failed".into())
    );

    let filtered = onboarding_only.until(&ok, "run_finished").await;
    assert!(
        filtered
            .iter()
            .all(|(_, d)| d["workflow"] == "user_onboarding"),
        "{filtered:?}"
    );
    assert_eq!(
        names(&filtered, &ok),
        seen,
        "the same events, in the same order"
    );

    // A finished run's stream starts with its history, in order, places 0..n.
    let mut one = SseReader::open(stream(&format!("?run={ok}"))).await;
    let history = one.until(&ok, "run_finished").await;
    assert_eq!(names(&history, &ok), seen);
    let places: Vec<u64> = history
        .iter()
        .map(|(_, d)| d["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(places, (0..history.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        history[0].1["input"]["plan"], "premium",
        "the input, as started"
    );

    let (status, body) = server.get("/v1/events?run=no-such-run").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get("/v1/events?other=1").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_wants_the_token_and_outlives_the_header_timeout() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let server = serve(&web, &["--token", TOKEN, "--header-timeout", "1s"]);
    let bare = server
        .client
        .get(server.url("/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    let wrong = server
        .client
        .get(server.url("/v1/events"))
        .bearer_auth("x".repeat(24));
    assert_eq!(wrong.send().await.unwrap().status(), 401);

    // The console's pages hold no data: a browser opens them without it.
    for page in [
        "/",
        "/runs/any",
        "/workflows",
        "/services",
        "/docs",
        "/console/api.js",
    ] {
        let response = server.client.get(server.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
    }
    let graph = server
        .client
        .get(server.url("/v1/workflows/unreachable/graph.svg"));
    assert_eq!(
        graph.send().await.unwrap().status(),
        401,
        "a workflow is data"
    );

    let events = server
        .client
        .get(server.url("/v1/events"))
        .bearer_auth(TOKEN);
    let mut stream = SseReader::open(events).await;
    // Quiet for longer than the header timeout: the stream stays open.
    let quiet = stream
        .next(Instant::now() + Duration::from_millis(1500))
        .await;
    assert!(quiet.is_none(), "{quiet:?}");
    let submitted = server
        .client
        .post(server.url("/v1/workflows/unreachable/runs"))
        .bearer_auth(TOKEN)
        .json(&json!({"input": {}}))
        .send()
        .await
        .unwrap();
    let run: Value = submitted.json().await.unwrap();
    let run_id = run["run_id"].as_str().expect("accepted");
    let seen = stream.until(run_id, "run_finished").await;
    assert_eq!(
        names(&seen, run_id).first().map(String::as_str),
        Some("run_started")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_runs_history_comes_from_the_journal_once_it_finished() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = crate::journal::StateDir::new("events");
    let server = serve(&web, &["--state-dir", dir.arg()]);
    let run = server.submit("user_onboarding", &onboarding()).await;
    let view = server.wait_final(&run, LIMIT).await;
    assert_eq!(view["status"], "succeeded", "{view}");
    // Memory keeps the report alone now: the history is read back.
    let stream = server
        .client
        .get(server.url(&format!("/v1/events?run={run}")));
    let mut one = SseReader::open(stream).await;
    let history = one.until(&run, "run_finished").await;
    let seen = names(&history, &run);
    assert_eq!(
        seen.first().map(String::as_str),
        Some("run_started"),
        "{seen:?}"
    );
    assert!(seen.contains(&"step_completed".into()), "{seen:?}");
    let places: Vec<u64> = history
        .iter()
        .map(|(_, d)| d["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(places, (0..history.len() as u64).collect::<Vec<_>>());
    assert!(
        history
            .iter()
            .all(|(_, d)| d["workflow"] == "user_onboarding")
    );
}

/// Without a journal, only the most recent finished runs keep their events
/// in memory: an older one's stream has no history, its report stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_journal_only_recent_finished_runs_keep_their_history() {
    let server = ServeProcess::try_spawn(&[], &["--workflows", "tests/fixtures/unreachable.yaml"])
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"));
    let kept = maestro::server::runs::HISTORIES_KEPT;
    let mut ids = Vec::with_capacity(kept + 2);
    for i in 0..kept + 2 {
        ids.push(server.submit("unreachable", &json!({"i": i})).await);
    }
    for id in &ids {
        server.wait_final(id, LIMIT).await;
    }
    let stream = |run: &str| {
        server
            .client
            .get(server.url(&format!("/v1/events?run={run}")))
    };

    let newest = ids.last().expect("runs");
    let mut recent = SseReader::open(stream(newest)).await;
    let history = recent.until(newest, "run_finished").await;
    assert_eq!(history[0].1["event"], "run_started");

    let mut oldest = SseReader::open(stream(&ids[0])).await;
    let quiet = Instant::now() + Duration::from_millis(300);
    assert!(oldest.next(quiet).await.is_none(), "no history is kept");
    let (status, report) = server.get(&format!("/v1/runs/{}", ids[0])).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "compensated");
}
