//! gRPC against a server whose reflection leaves out the well-known types
//! its files import, and JSON conversion through the wire: nested imports,
//! `Timestamp`, zero values, input that does not fit.

use std::time::Duration;

use maestro::resilience::{BreakerConfig, RetryPolicy};
use maestro::transport::{CallRequest, CallTarget, FailureClass, Transport};
use maestro::workflow::{
    DEFAULT_MAX_RESPONSE_BYTES, DescriptorSource, GrpcService, Service, ServiceKind,
};
use serde_json::{Value, json};

use super::grpc_server::{self, Reflection};

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
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
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
    let url = grpc_server::start(Reflection::V1).await;
    let service = grpc_service(&url, 1, DescriptorSource::Reflection);
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
    let url = grpc_server::start(Reflection::V1).await;
    let service = grpc_service(&url, 1, DescriptorSource::Reflection);
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
    let url = grpc_server::start(Reflection::V1AlphaOnly).await;
    let service = grpc_service(&url, 1, DescriptorSource::Reflection);
    let mut transport = Transport::new(&service).unwrap();
    let out = transport.call(grpc_call("Place", order())).await.unwrap();
    assert_eq!(out["total"]["units"], json!(9007199254740993i64));
}

#[tokio::test]
async fn input_that_does_not_fit_is_permanent() {
    let url = grpc_server::start(Reflection::V1).await;
    let mut transport = Transport::new(&grpc_service(&url, 1, proto_files())).unwrap();
    let call = grpc_call("Place", json!({"total": {"units": 1, "curency": "EUR"}}));
    let err = transport.call(call).await.unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.message.contains("curency"), "{}", err.message);
}
