//! The admin listener of an example process: the call log and the faults,
//! over HTTP on its own port so that admin traffic never shows in the log.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::calls::{Fault, Hub};

/// `GET /health`, `GET|DELETE /calls`, `GET /calls/active`,
/// `GET /calls/peak` (the most calls in flight at once since the log was
/// cleared), `GET|POST|DELETE /faults`.
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "ok": true })) }))
        .route("/calls", get(list_calls).delete(clear_calls))
        .route("/calls/active", get(list_active))
        .route("/calls/peak", get(peak_active))
        .route(
            "/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .with_state(hub)
}

async fn list_calls(State(hub): State<Arc<Hub>>) -> Response {
    Json(hub.calls()).into_response()
}

async fn list_active(State(hub): State<Arc<Hub>>) -> Response {
    Json(hub.active_calls()).into_response()
}

async fn peak_active(State(hub): State<Arc<Hub>>) -> Response {
    Json(json!({ "peak": hub.peak_active() })).into_response()
}

async fn clear_calls(State(hub): State<Arc<Hub>>) -> Response {
    Json(json!({ "cleared": hub.clear_calls() })).into_response()
}

async fn list_faults(State(hub): State<Arc<Hub>>) -> Response {
    Json(hub.faults()).into_response()
}

/// One fault object or a list of them.
async fn add_faults(State(hub): State<Arc<Hub>>, Json(body): Json<Value>) -> Response {
    let items = match body {
        Value::Array(items) => items,
        one => vec![one],
    };
    let mut faults = Vec::with_capacity(items.len());
    for item in items {
        let fault = match serde_json::from_value::<Fault>(item) {
            Ok(fault) => fault,
            Err(e) => return bad_request(format!("not a fault: {e}")),
        };
        if let Err(e) = fault.validate() {
            return bad_request(e);
        }
        faults.push(fault);
    }
    for fault in faults {
        hub.add_fault(fault);
    }
    (StatusCode::CREATED, Json(hub.faults())).into_response()
}

async fn clear_faults(State(hub): State<Arc<Hub>>) -> Response {
    hub.clear_faults();
    Json(json!({ "cleared": true })).into_response()
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}
