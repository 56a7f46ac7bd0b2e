//! The bodies of the HTTP API: requests, responses and the one error shape,
//! each described to utoipa so the OpenAPI document shows them as served.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::runtime::{RunStatus, ServiceHealth};
use crate::workflow::InputRejected;

use super::json::{self, JsonError};
use super::runs::RunSummary;

/// Every error body: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable and machine-readable: one of [`ErrorCode`]'s.
    #[schema(value_type = ErrorCode)]
    pub code: String,
    /// For a person; its wording may change.
    pub message: String,
    /// With `invalid_input` for an input the workflow's `input_schema`
    /// refuses: each violation (at most 100), where and what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violations: Option<Vec<InputViolation>>,
}

/// One way a run's input breaks its workflow's `input_schema`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InputViolation {
    /// JSON Pointer to the offending value (`/items/0/qty`); empty for the
    /// input itself.
    pub path: String,
    /// What is wrong; the input's values are not quoted.
    pub message: String,
}

/// Every `error.code` the API answers with. The status says who can act;
/// the code says what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed JSON, query, path or header.
    BadRequest,
    /// 422: well-formed, but not a valid run input (see the message).
    InvalidInput,
    /// 404: no such workflow, run, service or endpoint.
    NotFound,
    /// 405: the endpoint does not take that method.
    MethodNotAllowed,
    /// 415: the body was not sent as `application/json`.
    UnsupportedMediaType,
    /// 413: the body is over `--max-body-bytes`.
    BodyTooLarge,
    /// 408: the body did not arrive within `--body-timeout`.
    BodyTimeout,
    /// 401: a token is required, and this one is missing or wrong.
    Unauthorized,
    /// 403: a Host that is not loopback, to a server without a token.
    HostNotAllowed,
    /// 409: the `Idempotency-Key` started a run with another input.
    IdempotencyKeyReused,
    /// 409: the run has already ended.
    Finished,
    /// 409: the run is queued on a server without a journal, which already
    /// keeps the most signals it keeps for it: signal it later.
    NotRunningHere,
    /// 409: the run cannot be retried: it succeeded, has not ended, or is
    /// not known well enough here.
    NotRetryable,
    /// 409: the service actor is restarting.
    NotAlive,
    /// 429: runs running and queued are at their limits.
    TooManyRuns,
    /// 503: past `--max-connections`.
    TooManyConnections,
    /// 503: the server is stopping.
    ShuttingDown,
    /// 503: the journal cannot be written or read.
    JournalUnavailable,
    /// 500: Maestro's own failure.
    Internal,
}

impl ErrorCode {
    /// The codes as they are sent, in [`ErrorCode`]'s order.
    pub const ALL: &[&str] = &[
        "bad_request",
        "invalid_input",
        "not_found",
        "method_not_allowed",
        "unsupported_media_type",
        "body_too_large",
        "body_timeout",
        "unauthorized",
        "host_not_allowed",
        "idempotency_key_reused",
        "finished",
        "not_running_here",
        "not_retryable",
        "not_alive",
        "too_many_runs",
        "too_many_connections",
        "shutting_down",
        "journal_unavailable",
        "internal",
    ];
}

/// An error response: a status and a JSON body.
pub struct Failure(
    StatusCode,
    &'static str,
    String,
    Option<Vec<InputViolation>>,
);

impl Failure {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(ErrorCode::ALL.contains(&code), "undocumented code {code}");
        Self(status, code, message.into(), None)
    }

    pub fn status(&self) -> StatusCode {
        self.0
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ApiError {
            error: ErrorBody {
                code: self.1.to_string(),
                message: self.2,
                violations: self.3,
            },
        };
        (self.0, Json(body)).into_response()
    }
}

/// 422, listing each violation.
impl From<InputRejected> for Failure {
    fn from(rejected: InputRejected) -> Self {
        let violations = rejected
            .violations
            .iter()
            .map(|v| InputViolation {
                path: v.path.clone(),
                message: v.message.clone(),
            })
            .collect();
        let mut failure = Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            rejected.summary(),
        );
        failure.3 = Some(violations);
        failure
    }
}

impl From<BytesRejection> for Failure {
    fn from(rejection: BytesRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            _ => "bad_request",
        };
        Failure::new(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for Failure {
    fn from(rejection: QueryRejection) -> Self {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            rejection.body_text(),
        )
    }
}

impl From<PathRejection> for Failure {
    fn from(rejection: PathRejection) -> Self {
        let status = rejection.status();
        let code = if status.is_client_error() {
            "bad_request"
        } else {
            "internal"
        };
        Failure::new(status, code, rejection.body_text())
    }
}

/// The body of `POST /v1/workflows/{name}/runs`, read by
/// [`read_submission`]; described here for the OpenAPI document, which says
/// (through serde's attribute) that no other field is accepted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRun {
    /// The run's input, a JSON object (`{}` when absent; null is refused).
    #[schema(value_type = Object, required = false)]
    pub input: Option<Value>,
}

/// The input of a submission: `{"input": {...}}`, or `{}` for an empty one.
/// Anything else is named: a body that is not an object, an unknown field,
/// an input that is not an object (null included: it is no input).
fn submission(body: Value) -> Result<Value, String> {
    let Value::Object(mut fields) = body else {
        return Err(format!(
            "the body must be a JSON object like {{\"input\": {{...}}}}, not {}",
            crate::template::type_name(&body)
        ));
    };
    let input = fields.remove("input");
    if let Some(unknown) = fields.keys().next() {
        return Err(format!("unknown field `{unknown}`, expected `input`"));
    }
    match input {
        None => Ok(Value::Object(Map::new())),
        Some(input) => json::require_object(input, "`input`")
            .map(Value::Object)
            .map_err(|e| e.to_string()),
    }
}

/// The run's input from a submission's body: JSON (by its content type),
/// parsed strictly, of the documented shape.
pub fn read_submission(headers: &HeaderMap, body: &[u8]) -> Result<Value, Failure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_json(content_type) {
        return Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Expected request with `Content-Type: application/json`",
        ));
    }
    let invalid =
        |message: String| Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message);
    match json::parse(body, "") {
        Ok(body) => submission(body).map_err(invalid),
        Err(e @ JsonError::Syntax { .. }) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body is {e}"),
        )),
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// `application/json`, or a `+json` type, whatever its parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", subtype)) => subtype == "json" || subtype.ends_with("+json"),
        _ => false,
    }
}

/// Unknown parameters are refused, as unknown body fields are: a misspelt
/// `wait` must not be silently ignored.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubmitQuery {
    /// Answer with the finished run instead of 202, waiting at most the
    /// workflow's timeout (or the server's `--max-wait`).
    pub wait: Option<bool>,
}

/// A run accepted and started (or queued).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunAccepted {
    pub run_id: String,
    pub status: RunStatus,
    /// Where to follow the run: `/v1/runs/{id}`.
    pub location: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs in this state.
    pub status: Option<RunStatus>,
    /// At most this many on the page: 1 to 1000 (a larger number lists
    /// 1000), 50 when not given.
    #[serde(default, deserialize_with = "count")]
    #[param(minimum = 1)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page, as given: the page goes on
    /// after it. Opaque; 400 when it is not one a page gave.
    #[param(max_length = 298)]
    pub cursor: Option<String>,
    /// Only runs submitted at or after this RFC 3339 time.
    #[param(example = "2026-12-04T09:00:00Z")]
    pub since: Option<String>,
    /// Only runs submitted before this RFC 3339 time.
    #[param(example = "2026-12-04T10:00:00Z")]
    pub until: Option<String>,
    /// Only runs whose id starts with this (at most 64 characters).
    #[param(max_length = 64)]
    pub id_prefix: Option<String>,
}

// utoipa takes only a literal for the `maxLength` of `cursor` above.
const _: () = assert!(crate::journal::MAX_CURSOR_CHARS == 298);

/// A whole number of any size: one beyond a machine word asks for "as many
/// as allowed", like any other over the maximum, rather than being malformed.
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(serde::de::Error::custom(format!(
            "`{text}` is not a whole number"
        )));
    }
    Ok(Some(text.parse().unwrap_or(usize::MAX)))
}

/// A page of runs, newest first (by submission time, then run id).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunSummary>,
    /// Pass as `cursor` for the next page; null on the last page. A page
    /// may hold fewer than `limit` runs and still have a next one.
    pub next_cursor: Option<String>,
}

/// A workflow the server runs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowInfo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The file it was loaded from.
    pub file: String,
    pub services: Vec<String>,
    pub steps: Vec<String>,
    /// The JSON Schema (2020-12) a run's input must match, as the workflow
    /// file declares it; absent when any JSON object is taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    /// A Mermaid flowchart of the workflow.
    pub graph: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    pub services: Vec<ServiceHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok`, or why not.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Killed {
    pub service: String,
    pub endpoint: String,
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn the_documented_codes_are_the_enum_as_sent() {
        use ErrorCode::*;
        let all = [
            BadRequest,
            InvalidInput,
            NotFound,
            MethodNotAllowed,
            UnsupportedMediaType,
            BodyTooLarge,
            BodyTimeout,
            Unauthorized,
            HostNotAllowed,
            IdempotencyKeyReused,
            Finished,
            NotRunningHere,
            NotRetryable,
            NotAlive,
            TooManyRuns,
            TooManyConnections,
            ShuttingDown,
            JournalUnavailable,
            Internal,
        ];
        let sent: Vec<String> = all
            .iter()
            .map(|c| {
                serde_json::to_value(c)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(sent, ErrorCode::ALL);
    }
}
