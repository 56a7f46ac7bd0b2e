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
        concurrency: None,
        rate: None,
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
        body: body.into(),
        headers: vec![(http::HeaderName::from_static("x-tenant"), "acme".into())].into(),
        idempotency_key: "run-7:place".into(),
        run_id: "run-7".into(),
        step_id: "place".into(),
        timeout: Duration::from_secs(5),
        trace: None,
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

/// A port that answers, but not in gRPC: the call says so, and where.
async fn not_grpc(url: &str, descriptors: DescriptorSource) -> maestro::transport::CallError {
    let mut transport = Transport::new(&grpc_service(url, 1, descriptors)).unwrap();
    let err = transport
        .call(grpc_call("Place", order()))
        .await
        .unwrap_err();
    let endpoint = format!("{}/", url.trim_end_matches('/'));
    assert!(
        err.message
            .ends_with(&format!("is this a gRPC server? ({endpoint})")),
        "{}",
        err.message
    );
    err
}

/// A server of HTTP/1.1 alone, as many are: it answers the HTTP/2 preface
/// with `400 Bad Request` and closes, whatever it was sent.
fn http1_only() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten().take(16) {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut [0u8; 1024]);
            let answer =
                "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = stream.write_all(answer.as_bytes());
            // Held open until the client gives up, so it reads the answer.
            let mut rest = [0u8; 1024];
            for _ in 0..64 {
                if !matches!(stream.read(&mut rest), Ok(n) if n > 0) {
                    break;
                }
            }
        }
    });
    url
}

#[tokio::test]
async fn a_port_that_does_not_speak_grpc_is_named_with_its_endpoint() {
    let http1 = http1_only();
    let err = not_grpc(&http1, proto_files()).await;
    assert_eq!(err.class, FailureClass::Permanent, "{}", err.message);
    assert!(err.message.contains("frame"), "{}", err.message);
    // HTTP/2, but plain HTTP answers (404 to a gRPC path), with reflection
    // asked first and then with `proto` files.
    let h2 = super::serve(axum::Router::new()).await;
    not_grpc(&h2, DescriptorSource::Reflection).await;
    let web = crate::support::ServiceProcess::spawn("web_http", &[]);
    let err = not_grpc(&format!("http://{}", web.addr), proto_files()).await;
    assert_eq!(err.class, FailureClass::Permanent, "{}", err.message);
}
