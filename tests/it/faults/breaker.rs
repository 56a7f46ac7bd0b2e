//! Rows 1 and 3, where the circuit breaker is the promise: a service down
//! from the start is retried until the breaker opens, then left alone
//! (not one call reaches it while open, even once it is back); a service
//! failing every second call is absorbed by retries without the breaker
//! ever opening.

use std::sync::Arc;

use maestro::runtime::{RunEvent, TransitionCounts};
use maestro::transport::FailureClass;

use super::{Saga, Tally, jobs, scale};
use crate::runtime::{breaker, load, start, transitions};
use crate::support::ServiceProcess;

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_down_from_the_start_opens_the_breaker_and_gets_no_call_while_open() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let port = free_port();
    let services = format!(
        r#"  mailer:
    type: http
    endpoint: "http://127.0.0.1:{port}"
    retry: {{attempts: 3, initial_interval: 20ms}}
    circuit_breaker: {{failure_threshold: 5, reset_timeout: 60s}}"#
    );
    let workflow = Saga {
        name: "service_down",
        services: &services,
        steps: r#"  - id: welcome_email
    service: mailer
    method: "POST /emails"
    input: {to: "ada@example.com", template: welcome, account_id: "{{ .account.account_id }}"}"#,
        ..Saga::default()
    }
    .load(&[&web]);
    let runtime = Arc::new(start(&workflow).await);
    let mut tally = Tally::new("1 service down from the start (connection refused)");
    let n = scale(10, 100);
    let email = |ending: &super::Ending| ending.step("welcome_email").clone();

    // One run alone: three refused attempts, all retryable; still closed.
    let first = &tally.run(&runtime, jobs(&workflow, 1), 1).await[0];
    assert_eq!(first.status(), "compensated", "{first:#?}");
    assert_eq!(email(first)["attempts"], 3);
    let refused: Vec<FailureClass> = first
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::AttemptFailed {
                step, class, error, ..
            } if step == "welcome_email" => {
                assert!(error.contains("cannot connect"), "{error}");
                Some(*class)
            }
            _ => None,
        })
        .collect();
    assert_eq!(refused, [FailureClass::Retryable; 3]);
    assert_eq!(breaker(&runtime, "mailer").await, "closed");

    // Together: two more failures open it (threshold 5). A run that is not
    // rejected made all 3 attempts, two of them failing before the breaker
    // opened, so at most one run of the batch escapes rejection.
    let batch = tally.run(&runtime, jobs(&workflow, n), n).await;
    assert!(
        batch.iter().all(|e| e.status() == "compensated"),
        "{batch:#?}"
    );
    let rejected = batch
        .iter()
        .filter(|e| {
            email(e)["error"]
                .as_str()
                .unwrap_or_default()
                .contains("circuit open")
        })
        .count();
    assert!(
        rejected + 1 >= n,
        "only {rejected} of {n} runs rejected: {batch:#?}"
    );
    assert_eq!(breaker(&runtime, "mailer").await, "open");
    let opened = TransitionCounts {
        opened: 1,
        ..TransitionCounts::default()
    };
    assert_eq!(transitions(&runtime, "mailer").await, opened);

    // The service comes up on that port; the breaker is open: not a call.
    let back = ServiceProcess::spawn("web_http", &["--port", &port.to_string()]);
    let batch = tally.run(&runtime, jobs(&workflow, n), n).await;
    for ending in batch {
        assert_eq!(ending.status(), "compensated");
        let step = email(ending);
        assert_eq!(step["attempts"], 0, "{step}");
        assert!(
            step["error"]
                .as_str()
                .unwrap_or_default()
                .contains("circuit open")
        );
    }
    assert!(back.calls().is_empty(), "{:#?}", back.calls());
    assert_eq!(transitions(&runtime, "mailer").await, opened);

    // A fresh runtime, whose breaker is closed, does reach it.
    let fresh = Arc::new(start(&workflow).await);
    let control = &tally.run(&fresh, jobs(&workflow, 1), 1).await[0];
    assert_eq!(control.status(), "succeeded", "{control:#?}");
    assert_eq!(back.calls_to("POST /emails").len(), 1);
    println!(
        "  measured: 1 run retried 3 times, then {rejected} of {n} runs rejected by the open \
         breaker; 0 calls reached the service while open"
    );
    tally.check(&[&web, &back]);
}

const FLAPPING: &str = r#"
name: flapping
services:
  fast:
    type: grpc
    endpoint: "${MAESTRO_CORE_GRPC}"
    retry: {attempts: 3, initial_interval: 20ms}
    # Opens on two failures in a row: alternate failures must never reach it.
    circuit_breaker: {failure_threshold: 2, reset_timeout: 60s}
steps:
  - id: process
    service: fast
    method: Process
    input: {data: "flapping"}
    output: processed
  - id: analyze
    service: fast
    method: Analyze
    input: {content: "{{ .processed.result }}"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_service_is_absorbed_by_retries_and_the_breaker_stays_closed() {
    // Every second call to the process fails UNAVAILABLE.
    let core = ServiceProcess::spawn("core_grpc", &["--fail-rate", "0.5"]);
    let workflow = load(FLAPPING, &[&core]);
    let runtime = Arc::new(start(&workflow).await);
    let mut tally = Tally::new("3 flapping service (fails 1 call in 2)");
    let n = scale(20, 200);
    // One run at a time, so that "every second call" is every second
    // attempt of this workflow.
    let batch = tally.run(&runtime, jobs(&workflow, n), 1).await;
    let mut retried = 0;
    for ending in batch {
        assert_eq!(ending.status(), "succeeded", "{ending:#?}");
        for step in ["process", "analyze"] {
            let attempts = ending.step(step)["attempts"].as_u64().unwrap_or(0);
            assert!((1..=2).contains(&attempts), "{step}: {ending:#?}");
            retried += usize::from(attempts == 2);
        }
    }
    let calls = core.calls();
    let failed = calls.iter().filter(|c| c.outcome == "UNAVAILABLE").count();
    assert_eq!(failed, calls.len() / 2, "half the calls fail");
    assert_eq!(retried, failed, "each failure is absorbed by one retry");
    assert_eq!(breaker(&runtime, "fast").await, "closed");
    assert_eq!(
        transitions(&runtime, "fast").await,
        TransitionCounts::default()
    );
    println!(
        "  measured: {} calls, {failed} failed, {retried} steps retried once, 0 breaker transitions",
        calls.len()
    );
    tally.check(&[&core]);
}
