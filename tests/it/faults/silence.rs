//! Rows 2 and 7, where no answer comes: a service slower than its timeout
//! has each attempt cancelled, the workflow's deadline is kept and the
//! step, whose outcome is unknown, is compensated; a blackhole (accepts,
//! never answers) costs a timeout per attempt and leaves no socket, file
//! descriptor or task behind.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use maestro::runtime::{Recorded, RunEvent};
use maestro::workflow::DEFAULT_POOL_SIZE;

use super::net::{Blackhole, connections_to, open_fds};
use super::{Saga, Tally, jobs, scale, spread};
use crate::runtime::start;
use crate::support::{Fault, ServiceProcess};

/// Each attempt's overshoot: how long it lasted beyond its budget, the
/// smaller of `per_attempt` and what was left before `deadline` (from the
/// run's start).
fn overshoots(
    events: &[Recorded],
    step: &str,
    per_attempt: Duration,
    deadline: Option<Duration>,
) -> Vec<Duration> {
    let started = events.first().map_or(SystemTime::UNIX_EPOCH, |e| e.at);
    let mut out = Vec::new();
    let mut attempt_at = None;
    for recorded in events {
        match &recorded.event {
            RunEvent::AttemptStarted { step: s, .. } if s == step => attempt_at = Some(recorded.at),
            RunEvent::AttemptFailed { step: s, .. }
            | RunEvent::StepFailed { step: s, .. }
            | RunEvent::StepCancelled { step: s, .. }
                if s == step =>
            {
                let Some(at) = attempt_at.take() else {
                    continue;
                };
                let left = deadline.map_or(per_attempt, |d| {
                    (started + d).duration_since(at).unwrap_or_default()
                });
                let took = recorded.at.duration_since(at).unwrap_or_default();
                out.push(took.saturating_sub(per_attempt.min(left)));
            }
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_service_is_cancelled_the_deadline_kept_and_the_step_compensated() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::delay("POST /crm/contacts", 5_000));
    let workflow = Saga {
        name: "slow",
        top: "timeout: 1s",
        // Every run's attempts time out together: the breaker is set out of
        // reach, this row is about each call's timeout and the deadline.
        crm: r#"endpoint: "${MAESTRO_WEB_HTTP}"
    timeout: 300ms
    retry: {attempts: 5, initial_interval: 50ms}
    circuit_breaker: {failure_threshold: 1000}"#,
        ..Saga::default()
    }
    .load(&[&web]);
    let runtime = Arc::new(start(&workflow).await);
    let mut tally = Tally::new("2 slow service beyond its timeout");
    let n = scale(8, 60);
    let batch = tally.run(&runtime, jobs(&workflow, n), n).await;
    let (mut per_attempt, mut past_deadline) = (Vec::new(), Vec::new());
    for ending in batch {
        // Three or so attempts of 300 ms, then the 1 s deadline: timed out;
        // or, when the next retry could not fit before the deadline, failed
        // just before it (the report says which).
        let report = ending.report().expect("final");
        let deadline = report["error"]
            .as_str()
            .is_some_and(|e| e.contains("deadline reached"));
        let status = ending.status();
        assert!(
            status == "timed_out" || status == "compensated" && deadline,
            "{report}"
        );
        let step = ending.step("crm_entry");
        assert_eq!(step["outcome"], "compensated", "{step}");
        assert_eq!(step["outcome_unknown"], true, "{step}");
        assert!(step["attempts"].as_u64() >= Some(2), "{step}");
        let events = ending.events();
        let second = Duration::from_secs(1);
        per_attempt.extend(overshoots(
            events,
            "crm_entry",
            Duration::from_millis(300),
            Some(second),
        ));
        let started = events[0].at;
        let ended = events
            .iter()
            .rfind(|e| matches!(&e.event, RunEvent::StepFailed { step, .. } | RunEvent::StepCancelled { step, .. } if step == "crm_entry"))
            .expect("the step ended");
        past_deadline.push(
            ended
                .at
                .duration_since(started + second)
                .unwrap_or_default(),
        );
    }
    // Every attempt that reached the service was abandoned by its caller.
    super::settle(&web);
    let contacts = web.calls_to("POST /crm/contacts");
    assert!(contacts.len() >= 2 * n, "{}", contacts.len());
    assert!(
        contacts.iter().all(|c| c.outcome == "cancelled"),
        "{contacts:#?}"
    );
    println!(
        "  measured: attempt overshoot beyond its budget: {}",
        spread(per_attempt)
    );
    println!(
        "  measured: step end past the 1s workflow deadline: {}",
        spread(past_deadline)
    );
    tally.check(&[&web]);
}

/// What a batch may add after a warm-up batch like it: the HTTP pools to
/// `web_http` keep idle keep-alive connections (up to 128 per host), each a
/// socket and a task, and this batch may happen to need one or two more at
/// once than the warm-up did.
const FD_SLACK: usize = 4;
const TASK_SLACK: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_costs_a_timeout_and_leaks_nothing() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let hole = Blackhole::start().await;
    // The breakers are out of reach, so that every attempt does meet the
    // blackhole (and opens a connection to it).
    let services = format!(
        r#"  hole_http:
    type: http
    endpoint: "http://{addr}"
    timeout: 300ms
    retry: {{attempts: 2, initial_interval: 20ms}}
    circuit_breaker: {{failure_threshold: 1000}}
  hole_grpc:
    type: grpc
    endpoint: "{addr}"
    timeout: 300ms
    retry: {{attempts: 2, initial_interval: 20ms}}
    circuit_breaker: {{failure_threshold: 1000}}"#,
        addr = hole.addr
    );
    let workflow = Saga {
        name: "blackhole",
        services: &services,
        steps: r#"  - parallel:
      - id: notify
        service: hole_http
        method: "POST /emails"
        input: {to: "ada@example.com"}
      - id: score
        service: hole_grpc
        method: Process
        input: {data: x}"#,
        ..Saga::default()
    }
    .load(&[&web]);
    let runtime = Arc::new(start(&workflow).await);
    let mut tally = Tally::new("7 blackhole (accepts, never answers)");
    let n = scale(10, 100);
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };

    // First, what stays open by design: runs one at a time fill the gRPC
    // pool (each attempt takes the next of its 5 connections; 3 runs make 6
    // attempts), and a batch like the measured one fills the HTTP pools
    // to `web_http` with idle keep-alive connections. The next batch must
    // add nothing.
    tally.run(&runtime, jobs(&workflow, 3), 1).await;
    tally.run(&runtime, jobs(&workflow, n), n).await;
    let settled = settle_hole(&hole).await;
    // Connections kept alive to the example service (the compensations go
    // there) are a pool, not a leak: each holds a descriptor and a task, and
    // a batch may need a few more at once than the one before it did.
    let pool_before = connections_to(web.addr.port());
    let (fds_before, tasks_before) = (open_fds(), alive());
    let batch = tally.run(&runtime, jobs(&workflow, n), n).await;
    let mut per_attempt = Vec::new();
    for ending in batch {
        assert_eq!(ending.status(), "compensated", "{ending:#?}");
        for step in ["notify", "score"] {
            let record = ending.step(step);
            assert_eq!(record["attempts"], 2, "{record}");
            per_attempt.extend(overshoots(
                ending.events(),
                step,
                Duration::from_millis(300),
                None,
            ));
        }
    }
    let (h2_open, http_open) = settle_hole(&hole).await;
    let (fds_after, tasks_after) = (open_fds(), alive());
    let pool_after = connections_to(web.addr.port());
    let pooled = pool_after.saturating_sub(pool_before);
    println!(
        "  measured: attempt overshoot beyond 300ms: {}; connections accepted {}, still open: \
         {h2_open} gRPC, {http_open} HTTP (before the batch {settled:?}); fds {fds_before} -> \
         {fds_after}; tasks {tasks_before} -> {tasks_after}; kept alive to web_http {pool_before} -> {pool_after}",
        spread(per_attempt),
        hole.accepted()
    );
    // The gRPC pool keeps its connections (5 by default) and reuses them;
    // every HTTP connection whose call timed out is closed.
    assert_eq!(http_open, 0, "HTTP connections to the blackhole left open");
    assert!(h2_open <= DEFAULT_POOL_SIZE, "{h2_open} gRPC connections");
    assert_eq!(
        settled.0, DEFAULT_POOL_SIZE,
        "the pool is full before the batch"
    );
    assert!(
        tasks_after <= tasks_before + pooled + TASK_SLACK,
        "tasks {tasks_before} -> {tasks_after} ({pooled} more connections pooled)"
    );
    // With one test per process (nextest), every descriptor is this test's.
    if std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|m| m == "process-per-test") {
        assert!(
            fds_after <= fds_before + pooled + FD_SLACK,
            "fds {fds_before} -> {fds_after} ({pooled} more connections pooled)"
        );
    }
    tally.check(&[&web]);
}

/// Waits (at most 5 s) for the callers' HTTP connections to the blackhole
/// to close, then returns how many gRPC and HTTP ones are still open.
async fn settle_hole(hole: &Blackhole) -> (usize, usize) {
    for _ in 0..50 {
        if hole.open().1 == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let closed sockets and finished tasks be reaped.
    tokio::time::sleep(Duration::from_millis(200)).await;
    hole.open()
}
