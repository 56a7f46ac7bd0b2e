//! `wait` and `sleep` steps in `maestro serve`, against the example HTTP
//! service: a signal sent over the API ends a wait (sent early, it is kept;
//! sent twice with one key, it counts once), and a run killed with -9 while
//! it waits or sleeps resumes from the journal with nothing repeated.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use maestro::runtime::RunEvent;
use serde_json::{Value, json};

use super::process::ServeProcess;
use crate::journal::StateDir;
use crate::support::{Fault, ServiceProcess};

const WORKFLOW: &str = "examples/workflows/account_approval.yaml";
const LIMIT: Duration = Duration::from_secs(30);

fn input() -> Value {
    json!({"email": "ana@example.com", "name": "Ana", "plan": "free"})
}

fn serve(web: &ServiceProcess, args: &[&str]) -> ServeProcess {
    let mut all = vec!["--workflows", WORKFLOW];
    all.extend_from_slice(args);
    ServeProcess::try_spawn(std::slice::from_ref(web), &all)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

/// POST a signal, with an `Idempotency-Key` when given.
async fn signal(
    server: &ServeProcess,
    run: &str,
    payload: Value,
    key: Option<&str>,
) -> (u16, Value) {
    let url = server.url(&format!("/v1/runs/{run}/signals/manager_approval"));
    let mut request = server.client.post(url).json(&json!({ "payload": payload }));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn approved() -> Value {
    json!({"approved": true, "by": "ana"})
}

/// Calls to `method` the service applied: answered ok, not replayed.
fn applied(web: &ServiceProcess, method: &str) -> usize {
    let calls = web.calls_to(method);
    calls.iter().filter(|c| c.ok && !c.replayed).count()
}

#[tokio::test]
async fn a_signal_ends_the_wait_once_even_sent_twice() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let server = serve(&web, &[]);
    let run = server.submit("account_approval", &input()).await;
    server
        .wait_step(&run, "manager_approval", "waiting", LIMIT)
        .await;
    assert_eq!(applied(&web, "POST /accounts/{id}/activate"), 0);

    let (status, first) = signal(&server, &run, approved(), Some("decision-1")).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["id"], "manager_approval:decision-1");
    let (status, again) = signal(&server, &run, approved(), Some("decision-1")).await;
    assert_eq!((status, &again["id"]), (202, &first["id"]), "{again}");

    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["output"]["approved_by"], "ana");
    assert_eq!(report["output"]["status"], "active");
    assert_eq!(applied(&web, "POST /accounts/{id}/activate"), 1);
    let outcomes: Vec<(&str, &str)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert!(
        outcomes.contains(&("manager_approval", "ok")),
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&("cool_off", "ok")), "{outcomes:?}");

    // Once the run has ended, a signal has nowhere to go.
    let (status, body) = signal(&server, &run, approved(), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("finished"))
    );
    let (status, _) = signal(&server, "no-such-run", approved(), None).await;
    assert_eq!(status, 404);
    let bad = server.url(&format!("/v1/runs/{run}/signals/not%20a%20name"));
    let response = server
        .client
        .post(bad)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn a_signal_sent_before_the_wait_is_kept_for_it() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::delay("POST /accounts", 500));
    let server = serve(&web, &[]);
    let run = server.submit("account_approval", &input()).await;
    server
        .wait_step(&run, "create_account", "running", LIMIT)
        .await;
    let refused = json!({"approved": false, "by": "bob"});
    let (status, body) = signal(&server, &run, refused, None).await;
    assert_eq!(status, 202, "{body}");

    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["output"]["approved_by"], "bob");
    assert_eq!(report["output"]["status"], "pending");
    assert_eq!(applied(&web, "POST /accounts/{id}/activate"), 0);
}

#[tokio::test]
async fn killed_while_waiting_a_run_waits_again_and_repeats_nothing() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("wait-kill");
    let mut server = serve(&web, &["--state-dir", dir.arg()]);
    let run = server.submit("account_approval", &input()).await;
    server
        .wait_step(&run, "manager_approval", "waiting", LIMIT)
        .await;
    server.kill();

    let server = serve(&web, &["--state-dir", dir.arg()]);
    server
        .wait_step(&run, "manager_approval", "waiting", LIMIT)
        .await;
    let (status, body) = signal(&server, &run, approved(), Some("k")).await;
    assert_eq!(status, 202, "{body}");
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(applied(&web, "POST /accounts"), 1);
    assert_eq!(applied(&web, "POST /accounts/{id}/activate"), 1);
    let events = dir.events(&run).await;
    let waits = events
        .iter()
        .filter(|e| matches!(e, RunEvent::WaitStarted { .. }))
        .count();
    assert_eq!(waits, 1, "the wait began once: {events:?}");
}

#[tokio::test]
async fn killed_while_sleeping_a_run_wakes_at_the_journaled_time() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("sleep-kill");
    let mut server = serve(&web, &["--state-dir", dir.arg()]);
    // The welcome e-mail waits for a time a few seconds ahead.
    let at = SystemTime::now() + Duration::from_secs(3);
    let welcome_at = humantime::format_rfc3339_millis(at).to_string();
    let mut input = input();
    input["welcome_at"] = json!(welcome_at);
    let run = server.submit("account_approval", &input).await;
    server
        .wait_step(&run, "manager_approval", "waiting", LIMIT)
        .await;
    let (status, _) = signal(&server, &run, approved(), None).await;
    assert_eq!(status, 202);
    server
        .wait_step(&run, "welcome_time", "waiting", LIMIT)
        .await;
    server.kill();

    let server = serve(&web, &["--state-dir", dir.arg()]);
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let events = dir.events(&run).await;
    let timers: Vec<SystemTime> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::TimerStarted { step, until } if step == "welcome_time" => Some(*until),
            _ => None,
        })
        .collect();
    assert_eq!(timers.len(), 1, "the sleep began once: {events:?}");
    // The e-mail left at the journaled time, not before, and once.
    let emails = web.calls_to("POST /emails");
    assert_eq!(emails.len(), 1, "{emails:?}");
    let until_us = timers[0].duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
    assert!(emails[0].start_us >= until_us, "sent before its time");
    assert_eq!(applied(&web, "POST /accounts"), 1);
}

#[tokio::test]
async fn without_a_journal_a_signal_for_a_queued_run_is_kept_until_it_starts() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let server = serve(&web, &["--max-running", "1"]);
    let first = server.submit("account_approval", &input()).await;
    server
        .wait_step(&first, "manager_approval", "waiting", LIMIT)
        .await;
    // The only slot is taken: the second run is queued, and keeps its
    // signal in memory.
    let second = server.submit("account_approval", &input()).await;
    let (_, view) = server.get(&format!("/v1/runs/{second}")).await;
    assert_eq!(view["status"], "queued", "{view}");
    let refused = json!({"approved": false, "by": "early"});
    let (status, body) = signal(&server, &second, refused, None).await;
    assert_eq!(status, 202, "{body}");

    let (status, _) = signal(&server, &first, approved(), None).await;
    assert_eq!(status, 202);
    let report = server.wait_final(&second, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["output"]["approved_by"], "early");
}
