//! Rows 4 and 5, where the service answers with an error: a 503 or
//! UNAVAILABLE with Retry-After is retried no sooner than asked; a 400 or
//! INVALID_ARGUMENT is called exactly once, leaves the breaker alone and
//! starts the compensations at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use maestro::runtime::{RunEvent, TransitionCounts};

use super::{Saga, Tally, jobs, mixed, scale, spread, when};
use crate::runtime::{breaker, load, start, transitions};
use crate::support::{CallRecord, ServiceProcess};

/// What both services ask for.
const RETRY_AFTER: Duration = Duration::from_secs(1);

const RETRY_AFTER_FLOW: &str = r#"
name: retry_after
services:
  api:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: 3, initial_interval: 20ms}
    # Every run's first attempt fails at once; this row is about the wait,
    # not about the breaker opening on a burst of 503s.
    circuit_breaker: {failure_threshold: 1000}
  fast:
    type: grpc
    endpoint: "${MAESTRO_CORE_GRPC}"
    retry: {attempts: 3, initial_interval: 20ms}
    circuit_breaker: {failure_threshold: 1000}
steps:
  - id: enrich
    service: api
    method: "POST /enrich"
    input:
      id: customer-1
      chaos: {fail_times: 1, code: "503", retry_after_s: 1}
  - id: process
    service: fast
    method: Process
    input:
      data: "retry after"
      chaos: {fail_times: 1, code: UNAVAILABLE, retry_after_s: 1}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_by_http_and_grpc_retries() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let workflow = load(RETRY_AFTER_FLOW, &[&web, &core]);
    let runtime = Arc::new(start(&workflow).await);
    let mut tally = Tally::new("4 503 / UNAVAILABLE with Retry-After");
    let n = scale(8, 60);
    let batch = tally.run(&runtime, jobs(&workflow, n), n).await;
    let mut waited = Vec::new();
    for ending in batch {
        assert_eq!(ending.status(), "succeeded", "{ending:#?}");
        for step in ["enrich", "process"] {
            assert_eq!(ending.step(step)["attempts"], 2, "{ending:#?}");
        }
        // Maestro's side: from the failure to the next attempt.
        let events = ending.events();
        for step in ["enrich", "process"] {
            let failed = when(
                events,
                |e| matches!(e, RunEvent::AttemptFailed { step: s, .. } if s == step),
            );
            let again = when(
                events,
                |e| matches!(e, RunEvent::AttemptStarted { step: s, attempt: 2, .. } if s == step),
            );
            if let (Some(failed), Some(again)) = (failed, again) {
                waited.push(again.duration_since(failed).unwrap_or_default());
            }
        }
    }
    // The services' side: the retry arrived after the refusal left plus the
    // pause asked for (both instants on the service's clock).
    let mut gaps = Vec::new();
    for calls in [web.calls_to("POST /enrich"), core.calls_to("Process")] {
        let mut by_key: BTreeMap<String, Vec<CallRecord>> = BTreeMap::new();
        for call in calls {
            by_key
                .entry(call.idempotency_key.clone().expect("a key"))
                .or_default()
                .push(call);
        }
        assert_eq!(by_key.len(), n);
        for (key, calls) in by_key {
            let outcomes: Vec<&str> = calls.iter().map(|c| c.outcome.as_str()).collect();
            assert!(
                matches!(outcomes[..], ["503" | "UNAVAILABLE", "ok"]),
                "{key}: {outcomes:?}"
            );
            let asked = calls[0].end_us + RETRY_AFTER.as_micros() as u64;
            assert!(
                calls[1].start_us >= asked,
                "{key}: the retry arrived {}µs before the Retry-After ran out",
                asked - calls[1].start_us
            );
            gaps.push(Duration::from_micros(calls[1].start_us - calls[0].end_us));
        }
    }
    println!(
        "  measured: Retry-After 1s; refusal to retry at the service: {}",
        spread(gaps)
    );
    println!(
        "  measured: failure to next attempt in Maestro: {}",
        spread(waited)
    );
    tally.check(&[&web, &core]);
}

/// The saga with a third step that the service always refuses as invalid.
fn refused(
    name: &str,
    services: &str,
    step: &str,
    processes: &[&ServiceProcess],
) -> Arc<maestro::workflow::Workflow> {
    Saga {
        name,
        services,
        steps: step,
        ..Saga::default()
    }
    .load(processes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_request_is_sent_once_and_compensated_at_once() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let http = refused(
        "bad_request_http",
        r#"  api:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: 3, initial_interval: 20ms}"#,
        r#"  - id: invalid
    service: api
    method: "POST /enrich"
    input: {id: customer-1, chaos: {fail_times: 1000, code: "400"}}"#,
        &[&web],
    );
    let grpc = refused(
        "bad_request_grpc",
        r#"  fast:
    type: grpc
    endpoint: "${MAESTRO_CORE_GRPC}"
    retry: {attempts: 3, initial_interval: 20ms}"#,
        r#"  - id: invalid
    service: fast
    method: Process
    input: {data: x, chaos: {fail_times: 1000, code: INVALID_ARGUMENT}}"#,
        &[&web, &core],
    );
    let services: Vec<_> = http
        .services
        .iter()
        .chain(&grpc.services)
        .cloned()
        .collect();
    let runtime = Arc::new(
        maestro::runtime::Runtime::start(&services)
            .await
            .expect("service actors start"),
    );
    let mut tally = Tally::new("5 400 / INVALID_ARGUMENT");
    let n = scale(10, 100);
    let batch = tally.run(&runtime, mixed(&[&http, &grpc], n), n).await;
    let mut to_undo = Vec::new();
    for ending in batch {
        assert_eq!(ending.status(), "compensated", "{ending:#?}");
        let step = ending.step("invalid");
        assert_eq!(
            (step["attempts"].as_u64(), step["outcome"].as_str()),
            (Some(1), Some("failed"))
        );
        assert_eq!(ending.undone(), ["crm_entry", "create_account"]);
        // At once: the run halts, and the very next event is the first
        // compensation's attempt.
        let events = ending.events();
        let failed = events
            .iter()
            .position(
                |e| matches!(&e.event, RunEvent::StepFailed { step, .. } if step == "invalid"),
            )
            .expect("the step failed");
        assert!(
            matches!(&events[failed + 1].event, RunEvent::RunHalted { .. }),
            "{:?}",
            events[failed + 1]
        );
        let next = &events[failed + 2];
        assert!(
            matches!(&next.event, RunEvent::CompensationStarted { step, attempt: 1, .. } if step == "crm_entry"),
            "{next:?}"
        );
        to_undo.push(
            next.at
                .duration_since(events[failed].at)
                .unwrap_or_default(),
        );
    }
    assert_eq!(
        web.calls_to("POST /enrich").len(),
        n.div_ceil(2),
        "one call per run"
    );
    assert_eq!(core.calls_to("Process").len(), n / 2, "one call per run");
    for service in ["api", "fast"] {
        assert_eq!(breaker(&runtime, service).await, "closed");
        let untouched = TransitionCounts::default();
        assert_eq!(transitions(&runtime, service).await, untouched, "{service}");
    }
    println!(
        "  measured: failure to first compensation: {}",
        spread(to_undo)
    );
    tally.check(&[&web, &core]);
}
