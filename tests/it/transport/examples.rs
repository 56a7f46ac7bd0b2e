//! Transports against the example services, run as the processes a user
//! would start: what arrives at the server (its call log), and how its
//! answers and misbehaviour are classified.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use maestro::proto::compile_files;
use maestro::resilience::{BreakerConfig, RetryPolicy};
use maestro::transport::{CallError, CallRequest, CallTarget, FailureClass, Transport};
use maestro::workflow::{
    DEFAULT_MAX_RESPONSE_BYTES, DescriptorSource, GrpcService, HttpService, Service, ServiceKind,
};
use serde_json::{Value, json};

use super::Relay;
use crate::support::{CallRecord, ServiceProcess};

fn service(name: &str, kind: ServiceKind) -> Service {
    Service {
        name: name.into(),
        kind,
        timeout: None,
        retry: RetryPolicy::default(),
        circuit_breaker: BreakerConfig::default(),
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        concurrency: None,
        rate: None,
    }
}

fn http(process: &ServiceProcess) -> Transport {
    let endpoint = process.endpoint().parse().unwrap();
    let kind = ServiceKind::Http(HttpService {
        endpoint,
        headers: vec![],
    });
    Transport::new(&service("web", kind)).unwrap()
}

fn grpc(url: &str, pool_size: usize, descriptors: DescriptorSource) -> Transport {
    let kind = ServiceKind::Grpc(GrpcService {
        endpoint: url.parse().unwrap(),
        pool_size,
        descriptors,
    });
    Transport::new(&service("grpc", kind)).unwrap()
}

fn reflection(process: &ServiceProcess, pool_size: usize) -> Transport {
    grpc(
        &format!("http://{}", process.addr),
        pool_size,
        DescriptorSource::Reflection,
    )
}

fn proto_files(names: &[&str]) -> DescriptorSource {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<PathBuf> = names
        .iter()
        .map(|n| Path::new("examples/workflows/proto").join(n))
        .collect();
    DescriptorSource::Files {
        pool: compile_files(base, &files, &[]).unwrap(),
        files,
    }
}

fn request(target: CallTarget, key: &str, body: Value) -> CallRequest {
    CallRequest {
        target,
        body: body.into(),
        headers: vec![(http::HeaderName::from_static("x-tenant"), "acme".into())].into(),
        idempotency_key: key.into(),
        run_id: "run-9".into(),
        step_id: key.into(),
        timeout: Duration::from_secs(5),
        trace: None,
    }
}

fn post(path: &str, key: &str, body: Value) -> CallRequest {
    let target = CallTarget::Http {
        verb: http::Method::POST,
        path: path.into(),
    };
    request(target, key, body)
}

fn rpc(method: &str, key: &str, body: Value) -> CallRequest {
    let target = CallTarget::Grpc {
        method: method.into(),
    };
    request(target, key, body)
}

/// The server's record of the call made with `key`, once it has finished.
fn record(process: &ServiceProcess, key: &str) -> CallRecord {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = process
            .calls()
            .into_iter()
            .find(|c| c.idempotency_key.as_deref() == Some(key));
        match found {
            Some(call) => return call,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            None => panic!("{}: no call with key {key}", process.name),
        }
    }
}

/// The distinct client addresses the calls to `method` came from: one per
/// connection.
fn peers(process: &ServiceProcess, method: &str) -> std::collections::HashSet<String> {
    process
        .calls_to(method)
        .into_iter()
        .map(|c| c.peer)
        .collect()
}

fn assert_class(err: &CallError, class: FailureClass) {
    assert_eq!(err.class, class, "{}", err.message);
}

#[tokio::test]
async fn http_json_call_arrives_with_its_ids_and_headers() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let out = http(&web)
        .call(post("/enrich", "enrich-1", json!({"id": "cust-42"})))
        .await
        .unwrap();
    assert_eq!(out["id"], "cust-42");
    assert!(out["customer_tier"].is_string(), "{out}");
    let call = record(&web, "enrich-1");
    assert_eq!(call.method, "POST /enrich");
    assert_eq!(call.request, json!({"id": "cust-42"}));
    assert_eq!(call.run_id.as_deref(), Some("run-9"));
    assert_eq!(call.step_id.as_deref(), Some("enrich-1"));
    assert_eq!(call.headers["x-tenant"], "acme");
    assert_eq!(call.headers["content-type"], "application/json");
}

#[tokio::test]
async fn http_failures_are_classified_with_retry_after() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let mut transport = http(&web);
    let chaos = |code: &str| json!({"id": "c", "chaos": {"fail_times": 1, "code": code, "retry_after_s": 2}});

    let busy = transport.call(post("/enrich", "k503", chaos("503"))).await;
    let busy = busy.unwrap_err();
    assert_class(&busy, FailureClass::Retryable);
    assert_eq!(busy.retry_after, Some(Duration::from_secs(2)));
    assert!(
        busy.message.contains("503") && busy.message.contains("injected"),
        "{}",
        busy.message
    );

    let bad = transport.call(post("/enrich", "k400", chaos("400"))).await;
    assert_class(&bad.unwrap_err(), FailureClass::Permanent);
    let domain = transport.call(post("/enrich", "k400b", json!({}))).await;
    let domain = domain.unwrap_err();
    assert_class(&domain, FailureClass::Permanent);
    assert!(
        domain.message.contains("`id` is required"),
        "{}",
        domain.message
    );
    let broken = transport.call(post("/enrich", "k500", chaos("500"))).await;
    assert_class(&broken.unwrap_err(), FailureClass::Unknown);
}

#[tokio::test]
async fn http_timeout_is_unknown() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let mut slow = post(
        "/enrich",
        "slow-1",
        json!({"id": "c", "chaos": {"delay_ms": 3000}}),
    );
    slow.timeout = Duration::from_millis(200);
    let err = http(&web).call(slow).await.unwrap_err();
    assert_class(&err, FailureClass::Unknown);
    // The call's own timeout ended it, not the answer 3 s later. The
    // connection is closed, but an HTTP/1.1 server only notices when it next
    // reads, so unlike gRPC the server's handler is not cancelled.
    assert_eq!(err.message, "no answer within 200ms");
}

#[tokio::test]
async fn grpc_by_reflection_v1_keeps_int64_and_sends_metadata() {
    let core = ServiceProcess::spawn("core_grpc", &["--reflection", "v1"]);
    let input = json!({"data": " two   words ", "sequence": 9007199254740993i64, "priority": "PRIORITY_HIGH"});
    let out = reflection(&core, 1)
        .call(rpc("Process", "p-1", input))
        .await
        .unwrap();
    assert_eq!(out["sequence"], json!(9007199254740993i64));
    assert_eq!(out["priority"], "PRIORITY_HIGH");
    assert_eq!(out["result"], "two words");
    assert_eq!(out["words"], 2);
    let call = record(&core, "p-1");
    assert_eq!(call.request["sequence"], json!(9007199254740993i64));
    assert_eq!(call.run_id.as_deref(), Some("run-9"));
    assert_eq!(call.step_id.as_deref(), Some("p-1"));
    assert_eq!(call.headers["x-tenant"], "acme");
    assert!(
        call.headers.contains_key("grpc-timeout"),
        "{:?}",
        call.headers
    );
}

#[tokio::test]
async fn grpc_reflection_falls_back_to_v1alpha() {
    let core = ServiceProcess::spawn("core_grpc", &["--reflection", "v1alpha"]);
    let method = "maestro.examples.quickstart.FastService/Process";
    let input = json!({"data": "x", "sequence": -9007199254740993i64});
    let out = reflection(&core, 1).call(rpc(method, "p-2", input)).await;
    assert_eq!(out.unwrap()["sequence"], json!(-9007199254740993i64));
}

#[tokio::test]
async fn grpc_unknown_method_lists_what_the_server_offers() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let err = reflection(&core, 1)
        .call(rpc("Charge", "u-1", json!({})))
        .await
        .unwrap_err();
    assert_class(&err, FailureClass::Permanent);
    for offered in [
        "FastService/Process",
        "LoanService/CancelApproval",
        "MlService/Analyze",
    ] {
        assert!(err.message.contains(offered), "{}", err.message);
    }
    assert!(!err.message.contains("grpc.reflection"), "{}", err.message);
}

#[tokio::test]
async fn grpc_by_proto_files_without_reflection() {
    let commerce = ServiceProcess::spawn("commerce_grpc", &["--reflection", "none"]);
    let url = format!("http://{}", commerce.addr);
    let mut transport = grpc(&url, 1, proto_files(&["payments.proto"]));
    let charge = json!({"order_id": "o-1", "amount_cents": 1299, "currency": "EUR",
                        "method": "PAYMENT_METHOD_CARD", "card_token": "tok_visa", "capture": true});
    let out = transport
        .call(rpc("Charge", "ch-1", charge.clone()))
        .await
        .unwrap();
    assert!(out["ledger_entry_id"].as_i64().unwrap() > 1 << 53, "{out}");
    assert_eq!(Some(out.clone()), record(&commerce, "ch-1").response);
    assert_eq!(out["status"], "CHARGE_STATUS_CAPTURED");

    let mut declined = charge;
    declined["card_token"] = json!("tok_declined");
    let err = transport
        .call(rpc("Charge", "ch-2", declined))
        .await
        .unwrap_err();
    assert_class(&err, FailureClass::Permanent);
    assert!(
        err.message
            .starts_with("FAILED_PRECONDITION: card declined"),
        "{}",
        err.message
    );

    let err = reflection(&commerce, 1)
        .call(rpc("Charge", "ch-3", json!({})))
        .await
        .unwrap_err();
    assert_class(&err, FailureClass::Permanent);
    assert!(err.message.contains("no reflection"), "{}", err.message);
}

#[tokio::test]
async fn grpc_status_codes_are_classified() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let mut transport = reflection(&core, 1);
    for (code, class) in [
        ("UNAVAILABLE", FailureClass::Retryable),
        ("RESOURCE_EXHAUSTED", FailureClass::Retryable),
        ("INVALID_ARGUMENT", FailureClass::Permanent),
        ("ABORTED", FailureClass::Permanent),
        ("INTERNAL", FailureClass::Unknown),
        ("DEADLINE_EXCEEDED", FailureClass::Unknown),
    ] {
        let chaos =
            json!({"data": "x", "chaos": {"fail_times": 1, "code": code, "retry_after_s": 1}});
        let err = transport
            .call(rpc("Process", code, chaos))
            .await
            .unwrap_err();
        assert_class(&err, class);
        assert!(err.message.starts_with(code), "{}", err.message);
        let retry_after = (class == FailureClass::Retryable).then_some(Duration::from_secs(1));
        assert_eq!(err.retry_after, retry_after, "{code}");
    }
}

#[tokio::test]
async fn grpc_timeout_is_unknown_and_cancels_the_call() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let mut slow = rpc(
        "Process",
        "slow-2",
        json!({"data": "x", "chaos": {"delay_ms": 3000}}),
    );
    slow.timeout = Duration::from_millis(300);
    let err = reflection(&core, 1).call(slow).await.unwrap_err();
    assert_class(&err, FailureClass::Unknown);
    assert_eq!(record(&core, "slow-2").outcome, "cancelled");
}

#[tokio::test]
async fn grpc_pool_uses_distinct_connections() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let mut transport = reflection(&core, 4);
    assert_eq!(transport.pool_size(), 4);
    let calls: Vec<_> = (0..12)
        .map(|i| transport.call(rpc("Process", &format!("pool-{i}"), json!({"data": "x"}))))
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    let peers = peers(&core, "Process");
    assert_eq!(peers.len(), 4, "{peers:?}");
}

#[tokio::test]
async fn grpc_connection_lost_mid_call_is_unknown() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let relay = Relay::to(&core.addr.to_string()).await;
    let mut transport = grpc(&relay.url, 1, DescriptorSource::Reflection);
    let slow = rpc(
        "Process",
        "lost-1",
        json!({"data": "x", "chaos": {"delay_ms": 3000}}),
    );
    let call = tokio::spawn(transport.call(slow));
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.cut();
    assert_class(&call.await.unwrap().unwrap_err(), FailureClass::Unknown);
}

#[tokio::test]
async fn grpc_server_down_is_retryable_and_found_once_it_is_up() {
    let port = super::closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut transport = grpc(&url, 2, DescriptorSource::Reflection);
    let err = transport
        .call(rpc("Process", "d-1", json!({})))
        .await
        .unwrap_err();
    assert_class(&err, FailureClass::Retryable);
    // The failed descriptor load was not cached.
    let _core = ServiceProcess::spawn(
        "core_grpc",
        &["--port", &port.to_string(), "--admin-port", "0"],
    );
    for key in ["d-2", "d-3"] {
        let out = transport
            .call(rpc("Process", key, json!({"data": "up"})))
            .await;
        assert_eq!(out.unwrap()["result"], "up");
    }
}

/// Calls in flight beyond the old cap of 16 idle connections: the second
/// wave finds every connection the first opened, none closed and opened
/// again.
#[tokio::test]
async fn http_connections_are_kept_for_as_many_calls_as_were_in_flight() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let mut transport = http(&web);
    assert_eq!(transport.pool_size(), 128);
    let slow = json!({"id": "c", "chaos": {"delay_ms": 300}});
    for wave in 0..2 {
        let calls: Vec<_> = (0..40)
            .map(|i| post("/enrich", &format!("keep-{wave}-{i}"), slow.clone()))
            .map(|call| tokio::spawn(transport.call(call)))
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
    }
    let peers = peers(&web, "POST /enrich");
    assert_eq!(peers.len(), 40, "{peers:?}");
}

#[tokio::test]
async fn http_idle_connections_follow_the_services_concurrency() {
    let kind = ServiceKind::Http(HttpService {
        endpoint: "http://127.0.0.1:9".parse().unwrap(),
        headers: vec![],
    });
    let mut limited = service("web", kind);
    limited.concurrency = std::num::NonZeroU32::new(6);
    let transport = Transport::new(&limited).unwrap();
    assert_eq!(transport.pool_size(), 6);
    assert!(transport.describe().ends_with("(up to 6 idle connections)"));
}
