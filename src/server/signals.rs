//! `POST /v1/runs/{id}/signals/{name}`: a signal for a run's `wait` steps,
//! journaled with the run before the answer; the same `Idempotency-Key`
//! twice is one signal.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::api::{Shared, run_not_found};
use super::bodies::{ApiError, Failure};
use super::runs::SignalError;
use super::{idempotency, json};
use crate::runtime::handle::Signal;
use crate::workflow::is_signal_name;

/// The body of a signal: its payload, the `output` of the step that takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendSignal {
    /// Any JSON value; null when absent.
    #[schema(value_type = Object, required = false)]
    pub payload: Option<Value>,
}

/// A signal accepted: journaled with the run.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalAccepted {
    pub run_id: String,
    pub signal: String,
    /// The signal's id: its `Idempotency-Key`, or one given to it.
    pub id: String,
}

/// Send a signal to a run: a `wait` step waiting for this name takes it,
/// now or when the run reaches it. With a journal, a run this server does
/// not drive (queued, or held by another replica) finds it in the journal.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/signals/{name}",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id"),
        ("name" = String, Path, description = "Signal name, as a `wait` step names it", pattern = "^[A-Za-z0-9_.-]{1,128}$"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "The same key sent again to the same run and name is the same signal: taken once"),
    ),
    request_body = SendSignal,
    responses(
        (status = 202, description = "Journaled with the run", body = SignalAccepted),
        (status = 400, description = "Malformed body, name or header", body = ApiError),
        (status = 404, body = ApiError),
        (status = 409, description = "The run has ended (`finished`), or is queued on a server without a journal that keeps 100 signals for it already (`not_running_here`)", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 422, description = "A key given twice, an integer beyond 64 bits", body = ApiError),
        (status = 503, description = "The journal could not take it", body = ApiError),
    )
)]
pub async fn send_signal(
    State(state): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let Path((id, name)) = path?;
    check_name(&name)?;
    let payload = read_payload(&body?)?;
    let signal_id = match idempotency::key(&headers)? {
        Some(key) => format!("{name}:{key}"),
        None => uuid::Uuid::now_v7().to_string(),
    };
    let signal = Signal {
        name: name.clone(),
        id: signal_id.clone(),
        payload,
    };
    match state.runs.signal(&id, signal).await {
        Ok(()) => {}
        Err(SignalError::NotFound) => return Err(run_not_found(&id)),
        Err(e) => return Err(Failure::new(e.status(), e.code(), e.to_string())),
    }
    let accepted = SignalAccepted {
        run_id: id,
        signal: name,
        id: signal_id,
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

fn check_name(name: &str) -> Result<(), Failure> {
    if !is_signal_name(name) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a signal name is 1 to 128 letters, digits, `_`, `-` and `.`",
        ));
    }
    Ok(())
}

/// `{"payload": ...}`, `{}` or an empty body; read as strictly as inputs.
fn read_payload(body: &[u8]) -> Result<Value, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let invalid = |m: String| Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", m);
    let value = match json::parse(body, "") {
        Ok(value) => value,
        Err(e @ json::JsonError::Syntax { .. }) => {
            let message = format!("the body is {e}");
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                message,
            ));
        }
        Err(e) => return Err(invalid(e.to_string())),
    };
    let Value::Object(mut fields) = value else {
        return Err(invalid(
            "the body must be a JSON object like {\"payload\": ...}".into(),
        ));
    };
    let payload = fields.remove("payload").unwrap_or(Value::Null);
    match fields.keys().next() {
        Some(unknown) => Err(invalid(format!(
            "unknown field `{unknown}`, expected `payload`"
        ))),
        None => Ok(payload),
    }
}
