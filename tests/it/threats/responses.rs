//! Greedy services: a body over `max_response_bytes`, declared or streamed
//! without end, and a gRPC message over it. The attempt fails permanently,
//! naming the limit and the service, and nothing of the answer reaches the
//! report or the journal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::IntervalStream;

use maestro::resilience::{BreakerConfig, RetryPolicy};
use maestro::transport::{CallRequest, CallTarget, FailureClass, Transport};
use maestro::workflow::{DEFAULT_MAX_RESPONSE_BYTES, HttpService, Service, ServiceKind};

use super::{Scratch, contains, maestro_async, serve};
use crate::transport::grpc_server::{self, Reflection};

/// The body the greedy routes repeat: easy to find in a journal.
const MARKER: &str = "GREEDY-ANSWER-";
/// Bytes per chunk of the endless stream.
const CHUNK: usize = 64 * 1024;

/// How far the endless stream got, seen from the server.
#[derive(Default)]
struct Stream {
    chunks: AtomicUsize,
    /// Set when the server dropped the stream: the client hung up.
    dropped: AtomicBool,
}

/// Counts a dropped stream.
struct OnDrop(Arc<Stream>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.dropped.store(true, Ordering::SeqCst);
    }
}

/// `POST /big`: 6 MiB with its length declared. `POST /endless`: 64 KiB
/// every 5 ms, chunked, for as long as the client reads (bounded at 10,000
/// chunks, far beyond any limit here).
fn greedy_app(stream: Arc<Stream>) -> Router {
    let big = MARKER.repeat(6 * 1024 * 1024 / MARKER.len());
    Router::new()
        .route("/big", post(move || async move { big }))
        .route(
            "/failing",
            post(|| async {
                let ticks = IntervalStream::new(tokio::time::interval(Duration::from_millis(5)));
                let body = ticks.take(10_000).map(|_| {
                    Ok::<_, std::convert::Infallible>(Bytes::from(
                        MARKER.repeat(CHUNK / MARKER.len()),
                    ))
                });
                (StatusCode::INTERNAL_SERVER_ERROR, Body::from_stream(body))
            }),
        )
        .route(
            "/endless",
            post(move || async move {
                let guard = OnDrop(stream.clone());
                let ticks = IntervalStream::new(tokio::time::interval(Duration::from_millis(5)));
                let body = ticks.take(10_000).map(move |_| {
                    let _ = &guard;
                    stream.chunks.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, std::convert::Infallible>(Bytes::from(
                        MARKER.repeat(CHUNK / MARKER.len()),
                    ))
                });
                Body::from_stream(body)
            }),
        )
}

fn workflow(name: &str, service: &str, extra: &str, method: &str) -> String {
    format!(
        "name: {name}\nservices:\n  {service}:\n    type: http\n    endpoint: \"${{GREEDY_URL}}\"\n{extra}steps:\n  - id: fetch\n    service: {service}\n    method: \"{method}\"\n    output: answer\n"
    )
}

/// Run `file` with a journal in `state/`; the report and the run's events.
async fn run(scratch: &Scratch, file: &str, input: &str, env: &[(&str, &str)]) -> (Value, Value) {
    let state = scratch.0.join("state");
    let state = state.to_str().unwrap();
    let args = [
        "execute",
        file,
        "--input",
        input,
        "--output",
        "json",
        "--state-dir",
        state,
    ];
    let exit = maestro_async(&scratch.0, &args, env).await;
    assert_eq!(
        exit.code, 1,
        "a failed run with nothing to undo\n{}",
        exit.stderr
    );
    let report = exit.json();
    let run_id = report["run_id"].as_str().expect("a run id").to_string();
    let show = ["runs", "show", &run_id, "--state-dir", state, "--json"];
    let shown = maestro_async(&scratch.0, &show, env).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    (report, shown.json()["events"].clone())
}

/// The step failed once, permanently, with `message`, and no event holds
/// an output.
fn failed_permanently(report: &Value, events: &Value, message: &str) {
    let step = &report["steps"][0];
    assert_eq!(step["outcome"], "failed", "{report}");
    assert_eq!(
        step["attempts"], 1,
        "a permanent failure is not retried: {report}"
    );
    assert_eq!(step["error"], message, "{report}");
    let events = events.as_array().expect("events");
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e.to_string().contains("attempt_failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert!(
        failed[0].to_string().contains("\"permanent\""),
        "{failed:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.to_string().contains("step_completed")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_body_over_the_default_limit_fails_permanently_and_is_never_journaled() {
    let url = serve(greedy_app(Arc::default())).await;
    let scratch = Scratch::new("greedy-big");
    scratch.write("big.yaml", &workflow("big", "hoarder", "", "POST /big"));
    let env = [("GREEDY_URL", url.as_str())];
    let (report, events) = run(&scratch, "big.yaml", "{}", &env).await;
    failed_permanently(
        &report,
        &events,
        "response larger than max_response_bytes (4 MiB) of service `hoarder`",
    );
    let journal = scratch.bytes_under("state");
    assert!(!contains(&journal, MARKER), "the body reached the journal");
    assert!(
        journal.len() < 1024 * 1024,
        "the journal holds {} bytes for one failed step",
        journal.len()
    );
    assert!(!contains(report.to_string().as_bytes(), MARKER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_stream_ends_at_the_limit_not_at_the_timeout() {
    let stream = Arc::new(Stream::default());
    let url = serve(greedy_app(stream.clone())).await;
    let scratch = Scratch::new("greedy-endless");
    // The default limit; one attempt of at most 5 s.
    let extra = "    timeout: 5s\n    retry: {attempts: 1}\n";
    let yaml = workflow("endless", "firehose", extra, "POST /endless");
    scratch.write("endless.yaml", &yaml);
    let env = [("GREEDY_URL", url.as_str())];
    let (report, events) = run(&scratch, "endless.yaml", "{}", &env).await;
    // Before any cap the stream was read until the 5 s timeout, an unknown
    // outcome; now it ends as soon as the limit is passed.
    failed_permanently(
        &report,
        &events,
        "response larger than max_response_bytes (4 MiB) of service `firehose`",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stream.dropped.load(Ordering::SeqCst) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        stream.dropped.load(Ordering::SeqCst),
        "the client never hung up"
    );
    let sent = stream.chunks.load(Ordering::SeqCst) * CHUNK;
    assert!(
        sent < 128 * CHUNK,
        "{sent} bytes streamed for a 4 MiB limit"
    );
    assert!(!contains(&scratch.bytes_under("state"), MARKER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_message_over_the_limit_fails_permanently() {
    let url = grpc_server::start(Reflection::V1).await;
    let scratch = Scratch::new("greedy-grpc");
    let yaml = "name: echo\nservices:\n  orders:\n    type: grpc\n    endpoint: \"${ORDERS_URL}\"\n    max_response_bytes: 64KiB\nsteps:\n  - id: fetch\n    service: orders\n    method: test.orders.Orders/Place\n    input: {order_id: \"{{ .input.id }}\"}\n    output: answer\n";
    scratch.write("echo.yaml", yaml);
    // The service echoes the order id: 100 KiB in, 100 KiB out.
    let input = serde_json::json!({ "id": "G".repeat(100 * 1024) }).to_string();
    let env = [("ORDERS_URL", url.as_str())];
    let (report, events) = run(&scratch, "echo.yaml", &input, &env).await;
    failed_permanently(
        &report,
        &events,
        "response larger than max_response_bytes (64 KiB) of service `orders`",
    );
}

#[tokio::test]
async fn an_endless_error_body_is_cut_and_its_status_still_decides() {
    let url = serve(greedy_app(Arc::default())).await;
    let service = Service {
        name: "flaky".into(),
        kind: ServiceKind::Http(HttpService {
            endpoint: url.parse().unwrap(),
            headers: vec![],
        }),
        timeout: None,
        retry: RetryPolicy::default(),
        circuit_breaker: BreakerConfig::default(),
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        concurrency: None,
        rate: None,
    };
    let mut transport = Transport::new(&service).unwrap();
    let call = CallRequest {
        target: CallTarget::Http {
            verb: http::Method::POST,
            path: "/failing".into(),
        },
        body: serde_json::json!({}).into(),
        headers: vec![].into(),
        idempotency_key: "run:fetch".into(),
        run_id: "run".into(),
        step_id: "fetch".into(),
        timeout: Duration::from_secs(5),
        trace: None,
    };
    let err = transport.call(call).await.unwrap_err();
    // Read until the timeout before; now 16 KiB are enough for the message.
    assert_eq!(err.class, FailureClass::Unknown, "{}", err.message);
    assert!(
        err.message
            .starts_with("HTTP 500 Internal Server Error: GREEDY-ANSWER-"),
        "{}",
        err.message
    );
}
