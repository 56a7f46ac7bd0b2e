//! A service's `concurrency` and `rate`, held by its actor across every run
//! that shares it: the example HTTP service counts the calls it holds at
//! once and records when each one started.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use maestro::runtime::{RunOptions, RunStatus, Runtime};
use maestro::workflow::Workflow;
use serde_json::json;

use super::{load, run, start};
use crate::support::{Fault, ServiceProcess};

/// Microseconds since the Unix epoch: the clock of the services' call log.
fn now_us() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    since.as_micros() as u64
}

/// `{limit}` is replaced by the service's limit, `{top}` by fields at the
/// top of the workflow and `{step}` by fields of its one step.
const WORKFLOW: &str = r#"
name: {name}
{top}
services:
  api_service:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    {limit}
steps:
  - id: enrich
    service: api_service
    method: "POST /enrich"
    input: {id: "{{ .input.id }}"}
    output: enriched
    {step}
"#;

fn workflow(name: &str, limit: &str, top: &str, step: &str) -> String {
    WORKFLOW
        .replace("{name}", name)
        .replace("{limit}", limit)
        .replace("{top}", top)
        .replace("{step}", step)
}

/// `n` runs started at once; their statuses, counted.
async fn runs_at_once(
    runtime: &Arc<Runtime>,
    workflow: &Arc<Workflow>,
    n: usize,
) -> BTreeMap<String, usize> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (runtime, workflow) = (runtime.clone(), workflow.clone());
            tokio::spawn(
                async move { run(&runtime, &workflow, json!({ "id": format!("c{i}") })).await },
            )
        })
        .collect();
    let mut statuses = BTreeMap::new();
    for task in tasks {
        let report = task.await.expect("the run's task ends");
        *statuses.entry(format!("{:?}", report.status)).or_default() += 1;
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_takes_five_at_once_never_sees_a_sixth_under_a_thousand_runs() {
    let web = ServiceProcess::spawn("web_http", &[]);
    // Each call is held long enough that a thousand runs pile up behind it.
    web.set_fault(Fault::delay("POST /enrich", 5));
    let workflow = load(&workflow("five", "concurrency: 5", "", ""), &[&web]);
    let runtime = Arc::new(start(&workflow).await);

    let statuses = runs_at_once(&runtime, &workflow, 1000).await;

    assert_eq!(statuses, BTreeMap::from([("Succeeded".to_string(), 1000)]));
    assert_eq!(web.calls_to("POST /enrich").len(), 1000);
    assert_eq!(web.peak_active(), 5, "the service held this many at once");
    let health = runtime.health().await;
    let limits = health[0].limits.as_ref().expect("limits shown");
    assert_eq!(limits.concurrency, Some(5));
    assert_eq!(limits.rate, None);
    assert_eq!(limits.queued, 0, "nothing waits once every run ended");
    assert!(limits.waits >= 900, "{limits:?}");
    assert!(limits.wait_seconds > 0.0, "{limits:?}");
    assert_eq!(health[0].in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_spaces_the_starts_the_service_sees() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let workflow = load(&workflow("paced", "rate: 20/s", "", ""), &[&web]);
    let runtime = Arc::new(start(&workflow).await);

    let before = now_us();
    let statuses = runs_at_once(&runtime, &workflow, 12).await;

    assert_eq!(statuses, BTreeMap::from([("Succeeded".to_string(), 12)]));
    let mut starts: Vec<u64> = web
        .calls_to("POST /enrich")
        .iter()
        .map(|c| c.start_us)
        .collect();
    starts.sort_unstable();
    assert_eq!(starts.len(), 12);
    // 20/s lets a call go every 50 ms from the first: however late each
    // reaches the service, the k-th cannot start before k intervals have
    // passed since the runs began.
    let offsets: Vec<u64> = starts.iter().map(|s| s.saturating_sub(before)).collect();
    for (k, offset) in offsets.iter().enumerate() {
        assert!(*offset >= k as u64 * 50_000, "starts at {offsets:?} µs");
    }
    let health = runtime.health().await;
    let limits = health[0].limits.as_ref().expect("limits shown");
    assert_eq!(limits.rate.as_deref(), Some("20/s"));
    assert!(limits.waits >= 11, "{limits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_past_the_attempt_timeout_or_the_deadline_fails_naming_the_limit() {
    let web = ServiceProcess::spawn("web_http", &[]);
    // The first call holds the only slot for a second.
    web.set_fault(Fault::delay("POST /enrich", 1_000).times(1));
    let holder = load(&workflow("holder", "concurrency: 1", "", ""), &[&web]);
    let runtime = Arc::new(start(&holder).await);
    let held = {
        let (runtime, holder) = (runtime.clone(), holder.clone());
        tokio::spawn(async move { run(&runtime, &holder, json!({ "id": "first" })).await })
    };
    web.wait_active("POST /enrich");

    // The same service (one actor), with less time than the slot is held:
    // by the step's attempt timeout, and by the run's deadline.
    let once = "retry: {attempts: 1}";
    let step = format!("timeout: 200ms\n    {once}");
    let by_step = load(&workflow("by_step", "concurrency: 1", "", &step), &[&web]);
    let report = runtime
        .execute(by_step, json!({ "id": "second" }), RunOptions::default())
        .await
        .expect("the run reports");
    assert_eq!(report.status, RunStatus::Compensated, "{report:#?}");
    let error = report.steps[0].error.clone().unwrap_or_default();
    assert_eq!(
        error,
        "api_service: `concurrency: 1` gave no turn within the attempt's time (waited 200ms); not sent"
    );
    assert!(!report.steps[0].outcome_unknown, "{report:#?}");

    // The run's own timer and the attempt's end together: either may tell.
    let top = "timeout: 200ms";
    let by_deadline = load(
        &workflow("by_deadline", "concurrency: 1", top, once),
        &[&web],
    );
    let report = runtime
        .execute(by_deadline, json!({ "id": "third" }), RunOptions::default())
        .await
        .expect("the run reports");
    assert_eq!(report.status, RunStatus::TimedOut, "{report:#?}");
    if let Some(error) = &report.steps[0].error {
        assert!(error.contains("`concurrency: 1` gave no turn"), "{error}");
    }

    let first = tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .expect("the first run ends")
        .expect("its task");
    assert_eq!(first.status, RunStatus::Succeeded);
    assert_eq!(
        web.calls_to("POST /enrich").len(),
        1,
        "the waiting calls were never sent"
    );
}
