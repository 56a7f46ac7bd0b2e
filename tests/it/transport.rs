//! Transports against real servers on 127.0.0.1: what goes on the wire, and
//! how every kind of failure is classified.

mod examples;
mod grpc;
pub(crate) mod grpc_server;

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use maestro::resilience::{BreakerConfig, RetryPolicy};
use maestro::transport::{CallRequest, CallTarget, FailureClass, Transport};
use maestro::workflow::{DEFAULT_MAX_RESPONSE_BYTES, HttpService, Service, ServiceKind};
use serde_json::{Value, json};

/// An axum app served on an ephemeral port for the rest of the test.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP relay to a server whose connections can be cut mid-call, as when
/// a peer crashes after receiving a request.
struct Relay {
    url: String,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn to(upstream: &str) -> Relay {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let handles = std::sync::Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut outbound = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let relay = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                handles.lock().unwrap().push(relay.abort_handle());
            }
        });
        Relay { url, connections }
    }

    /// Drop every relayed connection, both ways.
    fn cut(&self) {
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

fn http_service(endpoint: &str) -> Service {
    Service {
        name: "shop".into(),
        kind: ServiceKind::Http(HttpService {
            endpoint: endpoint.parse().unwrap(),
            headers: vec![],
        }),
        timeout: None,
        retry: RetryPolicy::default(),
        circuit_breaker: BreakerConfig::default(),
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        concurrency: None,
        rate: None,
    }
}

fn http_call(verb: &str, path: &str, body: Value) -> CallRequest {
    CallRequest {
        target: CallTarget::Http {
            verb: verb.parse().unwrap(),
            path: path.into(),
        },
        body: body.into(),
        headers: vec![(http::HeaderName::from_static("x-tenant"), "acme".into())].into(),
        idempotency_key: "run-1:reserve".into(),
        run_id: "run-1".into(),
        step_id: "reserve".into(),
        timeout: Duration::from_secs(5),
        trace: None,
    }
}

fn header(headers: &HeaderMap, name: &str) -> Value {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map_or(Value::Null, |v| json!(v))
}

/// Echoes what it received: body, query, and the headers Maestro sets.
fn echo_app() -> Router {
    async fn echo_body(headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
        Json(json!({
            "body": body,
            "idempotency_key": header(&headers, "idempotency-key"),
            "run_id": header(&headers, "x-maestro-run-id"),
            "step_id": header(&headers, "x-maestro-step-id"),
            "tenant": header(&headers, "x-tenant"),
            "content_type": header(&headers, "content-type"),
        }))
    }
    async fn echo_query(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
        Json(json!({ "query": query }))
    }
    Router::new()
        .route("/api/orders", post(echo_body))
        .route("/api/search", get(echo_query))
        .route("/api/empty", post(|| async { StatusCode::NO_CONTENT }))
        .route("/api/text", get(|| async { "plain words" }))
        .route(
            "/api/busy",
            post(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "7")],
                    "overloaded, come back later",
                )
            }),
        )
        .route(
            "/api/bad",
            post(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "sku must not be empty"})),
                )
            }),
        )
        .route(
            "/api/boom",
            post(|| async {
                (StatusCode::INTERNAL_SERVER_ERROR, "db write failed").into_response()
            }),
        )
        .route(
            "/api/moved",
            post(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [("location", "/api/orders")],
                )
            }),
        )
        .route(
            "/api/secure",
            post(|| async {
                let to = "https://127.0.0.1:9/api/orders";
                (StatusCode::PERMANENT_REDIRECT, [("location", to)])
            }),
        )
        .route(
            "/api/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
}

#[tokio::test]
async fn http_post_sends_json_and_maestro_headers() {
    let base = serve(echo_app()).await;
    let mut transport = Transport::new(&http_service(&format!("{base}/api"))).unwrap();
    let input = json!({"sku": "A1", "qty": 2, "amount": 9007199254740993u64});
    let out = transport
        .call(http_call("POST", "/orders", input.clone()))
        .await
        .unwrap();
    assert_eq!(out["body"], input);
    assert_eq!(out["idempotency_key"], "run-1:reserve");
    assert_eq!(out["run_id"], "run-1");
    assert_eq!(out["step_id"], "reserve");
    assert_eq!(out["tenant"], "acme");
    assert_eq!(out["content_type"], "application/json");
}

#[tokio::test]
async fn http_get_sends_the_input_as_a_query_string() {
    let base = serve(echo_app()).await;
    let mut transport = Transport::new(&http_service(&format!("{base}/api/"))).unwrap();
    let input = json!({"sku": "A 1&2", "qty": 2, "tags": ["x", "y"], "cursor": null});
    let out = transport
        .call(http_call("GET", "search", input))
        .await
        .unwrap();
    assert_eq!(
        out["query"],
        json!({"sku": "A 1&2", "qty": "2", "tags": "[\"x\",\"y\"]"})
    );
}

#[tokio::test]
async fn http_bodies_that_are_not_json() {
    let base = serve(echo_app()).await;
    let mut transport = Transport::new(&http_service(&format!("{base}/api"))).unwrap();
    let empty = transport
        .call(http_call("POST", "/empty", Value::Null))
        .await;
    assert_eq!(empty.unwrap(), Value::Null);
    let text = transport.call(http_call("GET", "/text", Value::Null)).await;
    assert_eq!(text.unwrap(), json!("plain words"));
}

#[tokio::test]
async fn http_503_is_retryable_with_retry_after() {
    let base = serve(echo_app()).await;
    let mut transport = Transport::new(&http_service(&format!("{base}/api"))).unwrap();
    let err = transport
        .call(http_call("POST", "/busy", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Retryable);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert!(err.message.contains("503"), "{}", err.message);
    assert!(err.message.contains("overloaded"), "{}", err.message);
}

#[tokio::test]
async fn http_400_is_permanent_and_500_unknown() {
    let base = serve(echo_app()).await;
    let mut transport = Transport::new(&http_service(&format!("{base}/api"))).unwrap();
    let err = transport
        .call(http_call("POST", "/bad", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.message.contains("400"), "{}", err.message);
    assert!(
        err.message.contains("sku must not be empty"),
        "{}",
        err.message
    );
    let err = transport
        .call(http_call("POST", "/boom", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Unknown);
    assert!(err.message.contains("db write failed"), "{}", err.message);
}

#[tokio::test]
async fn http_connection_refused_is_retryable() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let mut transport = Transport::new(&http_service(&url)).unwrap();
    let err = transport
        .call(http_call("POST", "/orders", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Retryable, "{}", err.message);
}

#[tokio::test]
async fn a_plain_http_service_is_followed_on_http_and_not_to_https() {
    let base = serve(echo_app()).await;
    let mut transport = Transport::new(&http_service(&format!("{base}/api"))).unwrap();
    let out = transport
        .call(http_call("POST", "/moved", json!({"sku": "A1"})))
        .await
        .unwrap();
    assert_eq!(out["body"], json!({"sku": "A1"}), "a 307 keeps the body");
    let err = transport
        .call(http_call("POST", "/secure", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent, "{}", err.message);
    assert!(
        err.message
            .contains("redirects to https://127.0.0.1:9/api/orders; write its https endpoint"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn http_timeout_after_sending_is_unknown() {
    let base = serve(echo_app()).await;
    let mut transport = Transport::new(&http_service(&format!("{base}/api"))).unwrap();
    let mut call = http_call("POST", "/slow", json!({}));
    call.timeout = Duration::from_millis(200);
    let err = transport.call(call).await.unwrap_err();
    assert_eq!(err.class, FailureClass::Unknown);
    // The call's own timeout ended it, not the slow answer.
    assert_eq!(err.message, "no answer within 200ms");
}

#[tokio::test]
async fn http_connection_lost_after_sending_is_unknown() {
    let base = serve(echo_app()).await;
    let relay = Relay::to(&base).await;
    let mut transport = Transport::new(&http_service(&format!("{}/api", relay.url))).unwrap();
    let call = tokio::spawn(transport.call(http_call("POST", "/slow", json!({}))));
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.cut();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.class, FailureClass::Unknown, "{}", err.message);
}
