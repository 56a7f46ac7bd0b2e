use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;
use crate::resilience::FailureClass;
use crate::run::HaltReason;

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

fn rec(ms: u64, event: RunEvent) -> Recorded {
    Recorded { at: at(ms), event }
}

fn started(step: &str, attempt: u32) -> RunEvent {
    RunEvent::AttemptStarted {
        step: step.into(),
        attempt,
        idempotency_key: "k".into(),
        request: None,
    }
}

fn names(spans: &[SpanRecord]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn attr<'a>(span: &'a SpanRecord, key: &str) -> Option<&'a opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// A run that fails its second step and undoes its first.
fn compensated_run() -> Vec<Recorded> {
    vec![
        rec(
            0,
            RunEvent::RunStarted {
                run_id: "r1".into(),
                workflow: "order".into(),
                input: json!({}).into(),
                traceparent: None,
                retry_of: None,
            },
        ),
        rec(1, started("charge", 1)),
        rec(
            5,
            RunEvent::StepCompleted {
                step: "charge".into(),
                attempts: 1,
                output: json!({}).into(),
            },
        ),
        rec(6, started("ship", 1)),
        rec(
            7,
            RunEvent::AttemptFailed {
                step: "ship".into(),
                attempt: 1,
                class: FailureClass::Permanent,
                error: "HTTP 400".into(),
            },
        ),
        rec(
            8,
            RunEvent::StepFailed {
                step: "ship".into(),
                attempts: 1,
                error: "HTTP 400".into(),
                outcome_unknown: false,
            },
        ),
        rec(
            8,
            RunEvent::RunHalted {
                reason: HaltReason::Failed {
                    step: "ship".into(),
                    error: "HTTP 400".into(),
                },
            },
        ),
        rec(
            9,
            RunEvent::CompensationStarted {
                step: "charge".into(),
                attempt: 1,
                request: None,
            },
        ),
        rec(
            12,
            RunEvent::CompensationCompleted {
                step: "charge".into(),
                attempts: 1,
            },
        ),
        rec(
            13,
            RunEvent::RunFinished {
                status: RunStatus::Compensated,
                output: None,
                error: Some("step `ship` failed: HTTP 400".into()),
            },
        ),
    ]
}

#[test]
fn a_run_becomes_a_root_with_its_steps_and_compensations_beneath() {
    let trace = RunTrace::new("r1", None);
    let mut fold = SpanFold::new(trace.clone(), "order", "r1");
    let spans: Vec<SpanRecord> = compensated_run()
        .iter()
        .flat_map(|r| fold.apply(r))
        .collect();
    assert_eq!(
        names(&spans),
        ["step charge", "step ship", "compensate charge", "run order"]
    );
    let root = &spans[3];
    assert_eq!((root.span_id, root.parent), (trace.root, None));
    assert_eq!((root.start, root.end), (at(0), at(13)));
    assert_eq!(
        attr(root, "maestro.run.status").unwrap().as_str(),
        "compensated"
    );
    assert_eq!(attr(root, "maestro.run_id").unwrap().as_str(), "r1");
    assert!(root.error.as_deref().unwrap().contains("ship"));
    for span in &spans[..3] {
        assert_eq!(span.parent, Some((trace.root, false)), "{}", span.name);
        assert_eq!(span.trace_id, trace.trace_id);
    }
    assert_eq!(spans[0].span_id, trace.step("charge"));
    assert_eq!(
        (spans[0].start, spans[0].end, spans[0].error.as_deref()),
        (at(1), at(5), None)
    );
    assert_eq!(spans[1].error.as_deref(), Some("HTTP 400"));
    assert_eq!(spans[2].span_id, trace.compensation("charge"));
}

#[test]
fn a_callers_span_is_the_remote_parent_of_the_root() {
    let caller = crate::telemetry::TraceParent::parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    .unwrap();
    let mut fold = SpanFold::new(RunTrace::new("r1", Some(&caller)), "order", "r1");
    let spans: Vec<SpanRecord> = compensated_run()
        .iter()
        .flat_map(|r| fold.apply(r))
        .collect();
    let root = spans.last().unwrap();
    assert_eq!(root.trace_id, caller.trace_id);
    assert_eq!(root.parent, Some((caller.parent_id, true)));
}

#[test]
fn a_resumed_run_closes_what_the_stopped_process_left_open_under_the_same_ids() {
    let trace = RunTrace::new("r1", None);
    let events = compensated_run();
    // The process stopped while `ship` was in flight.
    let past = &events[..4];
    let observer = TraceObserver::new(SpanFold::new(trace.clone(), "order", "r1"), past, None);
    let mut fold = observer.fold.into_inner().unwrap();
    let spans = fold.apply(&rec(20, RunEvent::RunResumed));
    assert_eq!(names(&spans), ["attempt ship"]);
    let call = trace.call("ship", 1, false);
    assert_eq!(
        (spans[0].span_id, spans[0].parent),
        (call.span, Some((call.parent, false)))
    );
    assert_eq!((spans[0].start, spans[0].end), (at(6), at(20)));
    assert!(spans[0].error.is_some());
    let rest: Vec<SpanRecord> = events[4..].iter().flat_map(|r| fold.apply(r)).collect();
    assert_eq!(
        names(&rest),
        ["step ship", "compensate charge", "run order"]
    );
    // The root starts where the first process started the run.
    assert_eq!(rest[2].start, at(0));
    assert_eq!(rest[0].start, at(6));
}
