//! gRPC calls without generated code against a real server: descriptors by
//! reflection (v1, v1alpha) or from files, JSON in and out, classification,
//! and a pool of distinct connections.

use std::time::Duration;

use maestro::resilience::{BreakerConfig, RetryPolicy};
use maestro::transport::{CallRequest, CallTarget, FailureClass, Transport};
use maestro::workflow::{DescriptorSource, GrpcService, Service, ServiceKind};
use serde_json::{Value, json};

use super::grpc_server::{self, Reflection};
use super::{Relay, closed_port};

fn grpc_service(url: &str, pool_size: usize, descriptors: DescriptorSource) -> Service {
    Service {
        name: "orders".into(),
        kind: ServiceKind::Grpc(GrpcService {
            endpoint: url.parse().unwrap(),
            pool_size,
            descriptors,
        }),
        timeout: None,
        retry: RetryPolicy::default(),
        circuit_breaker: BreakerConfig::default(),
    }
}

fn proto_files() -> DescriptorSource {
    DescriptorSource::Files {
        files: vec![],
        pool: grpc_server::pool(),
    }
}

fn grpc_call(method: &str, body: Value) -> CallRequest {
    CallRequest {
        target: CallTarget::Grpc {
            method: method.into(),
        },
        body,
        headers: vec![(http::HeaderName::from_static("x-tenant"), "acme".into())],
        idempotency_key: "run-7:place".into(),
        run_id: "run-7".into(),
        step_id: "place".into(),
        timeout: Duration::from_secs(5),
    }
}

fn order() -> Value {
    json!({
        "order_id": "o-1",
        "total": {"currency": "EUR", "units": 9007199254740993i64},
        "big": -9007199254740993i64,
        "at": "2026-01-02T03:04:05Z",
    })
}

#[tokio::test]
async fn reflection_v1_call_round_trips_json_exactly() {
    let server = grpc_server::start(Reflection::V1).await;
    let service = grpc_service(&server.url, 1, DescriptorSource::Reflection);
    let mut transport = Transport::new(&service).unwrap();
    let out = transport.call(grpc_call("Place", order())).await.unwrap();
    assert_eq!(
        out,
        json!({
            "order_id": "o-1",
            "total": {"currency": "EUR", "units": 9007199254740993i64},
            "big": -9007199254740993i64,
            "at": "2026-01-02T03:04:05Z",
            "state": "PLACED",
            "idempotency_key": "run-7:place",
            "run_id": "run-7",
            "step_id": "place",
            "tenant": "acme",
        })
    );
}

#[tokio::test]
async fn zero_values_are_kept_in_the_output() {
    let server = grpc_server::start(Reflection::V1).await;
    let service = grpc_service(&server.url, 1, DescriptorSource::Reflection);
    let mut transport = Transport::new(&service).unwrap();
    let call = grpc_call("test.orders.Orders/Cancel", json!({"total": {}}));
    let out = transport.call(call).await.unwrap();
    assert_eq!(out["order_id"], "");
    assert_eq!(out["big"], 0);
    assert_eq!(out["total"], json!({"currency": "", "units": 0}));
    assert_eq!(out["state"], "CANCELLED");
}

#[tokio::test]
async fn reflection_falls_back_to_v1alpha() {
    let server = grpc_server::start(Reflection::V1AlphaOnly).await;
    let service = grpc_service(&server.url, 1, DescriptorSource::Reflection);
    let mut transport = Transport::new(&service).unwrap();
    let out = transport.call(grpc_call("Place", order())).await.unwrap();
    assert_eq!(out["total"]["units"], json!(9007199254740993i64));
}

#[tokio::test]
async fn proto_files_need_no_reflection() {
    let server = grpc_server::start(Reflection::None).await;
    let mut transport = Transport::new(&grpc_service(&server.url, 1, proto_files())).unwrap();
    let out = transport.call(grpc_call("Place", order())).await.unwrap();
    assert_eq!(out["order_id"], "o-1");

    let service = grpc_service(&server.url, 1, DescriptorSource::Reflection);
    let mut by_reflection = Transport::new(&service).unwrap();
    let err = by_reflection
        .call(grpc_call("Place", order()))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.message.contains("no reflection"), "{}", err.message);
}

#[tokio::test]
async fn unknown_method_lists_what_the_server_offers() {
    let server = grpc_server::start(Reflection::V1).await;
    let service = grpc_service(&server.url, 1, DescriptorSource::Reflection);
    let mut transport = Transport::new(&service).unwrap();
    let err = transport
        .call(grpc_call("Refund", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(
        err.message.contains("test.orders.Orders/Place")
            && err.message.contains("test.orders.Orders/Cancel"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("grpc.reflection"), "{}", err.message);
}

#[tokio::test]
async fn input_that_does_not_fit_is_permanent() {
    let server = grpc_server::start(Reflection::V1).await;
    let mut transport = Transport::new(&grpc_service(&server.url, 1, proto_files())).unwrap();
    let call = grpc_call("Place", json!({"total": {"units": 1, "curency": "EUR"}}));
    let err = transport.call(call).await.unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.message.contains("curency"), "{}", err.message);
}

#[tokio::test]
async fn status_codes_from_the_server_are_classified() {
    let server = grpc_server::start(Reflection::None).await;
    let mut transport = Transport::new(&grpc_service(&server.url, 1, proto_files())).unwrap();
    for (code, class) in [
        ("14", FailureClass::Retryable), // UNAVAILABLE
        ("8", FailureClass::Retryable),  // RESOURCE_EXHAUSTED
        ("3", FailureClass::Permanent),  // INVALID_ARGUMENT
        ("9", FailureClass::Permanent),  // FAILED_PRECONDITION
        ("13", FailureClass::Unknown),   // INTERNAL
        ("4", FailureClass::Unknown),    // DEADLINE_EXCEEDED
    ] {
        let call = grpc_call("Place", json!({"fail_with": code}));
        let err = transport.call(call).await.unwrap_err();
        assert_eq!(err.class, class, "code {code}: {}", err.message);
        assert!(err.message.contains("asked to fail"), "{}", err.message);
    }
}

#[tokio::test]
async fn a_timeout_after_sending_is_unknown() {
    let server = grpc_server::start(Reflection::None).await;
    let mut transport = Transport::new(&grpc_service(&server.url, 1, proto_files())).unwrap();
    let mut call = grpc_call("Place", json!({"delay_ms": 3000}));
    call.timeout = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let err = transport.call(call).await.unwrap_err();
    assert_eq!(err.class, FailureClass::Unknown, "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_server_that_is_down_is_retryable_and_asked_again_later() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let service = grpc_service(&url, 1, DescriptorSource::Reflection);
    let mut transport = Transport::new(&service).unwrap();
    let err = transport
        .call(grpc_call("Place", order()))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Retryable, "{}", err.message);

    // The failed load was not cached: once the server is up, calls work.
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let _server = grpc_server::start_at(addr, Reflection::V1).await;
    let out = transport.call(grpc_call("Place", order())).await;
    assert_eq!(out.unwrap()["order_id"], "o-1");
}

#[tokio::test]
async fn the_pool_spreads_calls_over_distinct_connections() {
    let server = grpc_server::start(Reflection::V1).await;
    let service = grpc_service(&server.url, 3, DescriptorSource::Reflection);
    let mut transport = Transport::new(&service).unwrap();
    assert_eq!(transport.pool_size(), 3);
    let calls: Vec<_> = (0..9)
        .map(|_| transport.call(grpc_call("Place", order())))
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(server.distinct_peers(), 3);
}

#[tokio::test]
async fn a_connection_lost_mid_call_is_unknown() {
    let server = grpc_server::start(Reflection::None).await;
    let relay = Relay::to(&server.url).await;
    let mut transport = Transport::new(&grpc_service(&relay.url, 1, proto_files())).unwrap();
    let call = tokio::spawn(transport.call(grpc_call("Place", json!({"delay_ms": 3000}))));
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.cut();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.class, FailureClass::Unknown, "{}", err.message);
}
