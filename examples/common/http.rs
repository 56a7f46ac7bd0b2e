//! HTTP plumbing for the example processes: the middleware every route runs
//! through (call log, chaos, faults, idempotent replay), JSON errors, and a
//! listener with TCP_NODELAY that knows each caller's address.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::calls::{CallStart, Hub, Injected};

/// A domain error: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(status, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

pub type ApiResult = Result<(StatusCode, Json<Value>), ApiError>;

/// Wraps the routes of one named service so that each call is logged and
/// subject to faults.
pub fn service(hub: &Arc<Hub>, name: &'static str, routes: Router) -> Router {
    let ctx = Ctx {
        hub: Arc::clone(hub),
        service: name,
    };
    routes.route_layer(axum::middleware::from_fn_with_state(ctx, track))
}

#[derive(Clone)]
struct Ctx {
    hub: Arc<Hub>,
    service: &'static str,
}

/// An answer kept for requests repeating an idempotency key.
struct Stored {
    status: StatusCode,
    body: Bytes,
}

async fn track(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 4 << 20).await else {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body over 4 MiB").into_response();
    };
    let verb = parts.method.to_string();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path().to_owned(), |m| m.as_str().to_owned());
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let start = CallStart {
        protocol: "http",
        service: ctx.service.to_owned(),
        method: format!("{verb} {route}"),
        path: parts.uri.path().to_owned(),
        verb: Some(verb),
        headers,
        request: parse_body(&bytes),
        peer: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.to_string())
            .unwrap_or_default(),
    };
    let (call, plan) = ctx.hub.begin(start);

    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    if let Some(fail) = plan.fail.as_ref().filter(|f| !f.after_apply) {
        let status = fail.code.http();
        call.fail(
            status.to_string(),
            Some(status),
            fail.message.clone(),
            None,
            true,
        );
        return injected_response(fail);
    }
    if let Some(stored) = plan.replay.and_then(|a| a.downcast::<Stored>().ok()) {
        call.succeed(parse_body(&stored.body), Some(stored.status.as_u16()), true);
        return json_response(stored.status, stored.body.clone());
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let json = parse_body(&bytes);
    let status = parts.status.as_u16();
    if parts.status.is_success() {
        call.remember(Arc::new(Stored {
            status: parts.status,
            body: bytes.clone(),
        }));
        if let Some(fail) = plan.fail {
            let message = format!("{} (after applying the call)", fail.message);
            let code = fail.code.http();
            call.fail(code.to_string(), Some(code), message, Some(json), true);
            return injected_response(&fail);
        }
        call.succeed(json, Some(status), false);
    } else {
        let message = json
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| parts.status.to_string());
        call.fail(status.to_string(), Some(status), message, Some(json), false);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn injected_response(fail: &Injected) -> Response {
    let status =
        StatusCode::from_u16(fail.code.http()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "error": fail.message, "injected": true });
    let mut response = (status, Json(body)).into_response();
    if let Some(seconds) = fail.retry_after_s {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// JSON 404 for a path no service owns.
pub async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| e.to_string())
}
