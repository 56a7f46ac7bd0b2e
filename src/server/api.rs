//! The HTTP API of `maestro serve`: one handler per endpoint, each declared
//! to utoipa so that `/openapi.json` is generated from the same routes the
//! router serves and cannot drift from them.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::journal::{Cursor, RunQuery};
use crate::runtime::BoundWorkflow;
use crate::telemetry::TraceParent;

use super::bodies::{
    ApiError, Failure, ListQuery, RunAccepted, RunList, ServiceList, SubmitQuery, SubmitRun,
    WorkflowInfo, WorkflowList, read_submission,
};
use super::metrics::Metrics;
use super::runs::{CancelError, Refused, RunEntry, RunSummary, RunView, Runs, ViewBody};
use super::{idempotency, listing, recovery};

/// Runs listed when `limit` is not given, and the most ever listed.
pub const DEFAULT_LIST_LIMIT: usize = 50;
pub const MAX_LIST_LIMIT: usize = 1000;

/// A workflow the server was started with.
pub struct LoadedWorkflow {
    pub bound: BoundWorkflow,
    pub info: WorkflowInfo,
}

/// Shared by every handler.
pub struct AppState {
    pub runs: Arc<Runs>,
    pub metrics: Arc<Metrics>,
    /// Every run's events, for `GET /v1/events`.
    pub events: Arc<super::events::Hub>,
    pub workflows: BTreeMap<String, LoadedWorkflow>,
    /// How long `?wait=true` waits for a workflow without a timeout.
    pub max_wait: Duration,
    pub openapi: OnceLock<String>,
    /// `Idempotency-Key`s of submissions, and the runs they started.
    pub idempotency: idempotency::Keys,
    /// Every schedule of the workflows, kept up to date by its task.
    pub schedules: Vec<Arc<super::schedules::Scheduled>>,
}

pub type Shared = Arc<AppState>;

/// Start a run of a workflow.
#[utoipa::path(
    post,
    path = "/v1/workflows/{name}/runs",
    tag = "runs",
    params(
        ("name" = String, Path, description = "Workflow name"),
        SubmitQuery,
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1 to 255 visible ASCII characters: the same key with the same input, while the server keeps the run it started (`--keep-for`, 1h by default), answers with that run (and `Idempotent-Replayed: true`) instead of starting another"),
        ("traceparent" = Option<String>, Header, description = "W3C Trace Context: the run continues the caller's trace, its root span a child of the caller's span (when traces are exported, `--otlp-endpoint`); a malformed value is ignored"),
    ),
    request_body = SubmitRun,
    responses(
        (status = 202, description = "Accepted; follow the Location", body = RunAccepted),
        (status = 200, description = "Finished (with `wait=true`)", body = RunView),
        (status = 400, description = "Malformed body, query or name", body = ApiError),
        (status = 404, description = "Unknown workflow", body = ApiError),
        (status = 409, description = "The `Idempotency-Key` started a run with another input (`idempotency_key_reused`)", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "Body not sent as `application/json`", body = ApiError),
        (status = 422, description = "Input not a JSON object (null included), a key given twice, an integer beyond 64 bits, an unknown field; or an input the workflow's `input_schema` refuses, each violation in `error.violations`", body = ApiError),
        (status = 429, description = "Too many runs running or queued", body = ApiError),
        (status = 503, description = "Shutting down", body = ApiError),
    )
)]
pub async fn submit_run(
    State(state): State<Shared>,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<SubmitQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let Path(name) = name?;
    let Query(query) = query?;
    let Some(workflow) = state.workflows.get(&name) else {
        return Err(unknown_workflow(&state, &name));
    };
    let input = read_submission(&headers, &body?)?;
    // Defaults filled and checked before the key is looked up: a refused
    // input starts nothing and is remembered by no key.
    let input = workflow.bound.workflow.check_input(input)?;
    let key = idempotency::key(&headers)?;
    // Held until the new run is remembered: one key, one run.
    let mut keys = match &key {
        Some(_) => Some(state.idempotency.lock().await),
        None => None,
    };
    let replayed = match (&key, keys.as_mut()) {
        (Some(key), Some(keys)) => keys.find(&name, key, &input, &state.runs)?,
        _ => None,
    };
    let replay = replayed.is_some();
    let entry = match replayed {
        Some(entry) => entry,
        None => start(&state, workflow, &input, None, traceparent(&headers)).await?,
    };
    if let (Some(key), Some(keys)) = (&key, keys.as_mut()) {
        keys.remember(&name, key, &input, &entry.id);
    }
    drop(keys);
    if query.wait == Some(true) {
        let wf = &workflow.bound.workflow;
        let limit = wf
            .timeout
            .map_or(state.max_wait, |t| t + wf.compensation_timeout);
        if entry.finished(limit).await {
            return Ok(current_view(&state, &entry).await.into_response());
        }
    }
    let location = ["/v1/runs/", entry.id.as_str()].concat();
    Ok(accepted(&entry, location, replay))
}

/// The caller's W3C `traceparent`, which the run continues. One that does
/// not parse (or is sent twice) is ignored, as the Trace Context spec asks:
/// the run starts a trace of its own.
fn traceparent(headers: &HeaderMap) -> Option<TraceParent> {
    let mut values = headers.get_all("traceparent").iter();
    match (values.next(), values.next()) {
        (Some(value), None) => TraceParent::parse(value.to_str().ok()?),
        _ => None,
    }
}

/// 404 for a workflow this server does not run, naming those it does.
pub(crate) fn unknown_workflow(state: &AppState, name: &str) -> Failure {
    let known: Vec<&str> = state.workflows.keys().map(String::as_str).collect();
    Failure::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no workflow `{name}`; this server runs: {}",
            known.join(", ")
        ),
    )
}

/// 202, with where to follow the run; marked when an earlier submission
/// with the same key started it.
pub(super) fn accepted(entry: &RunEntry, location: String, replay: bool) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    if replay {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    let accepted = RunAccepted {
        run_id: entry.id.clone(),
        status: entry.summary().status,
        location,
    };
    (StatusCode::ACCEPTED, headers, Json(accepted)).into_response()
}

/// A new run of `workflow`, or why it was refused.
pub(super) async fn start(
    state: &AppState,
    workflow: &LoadedWorkflow,
    input: &serde_json::Value,
    retry_of: Option<String>,
    traceparent: Option<TraceParent>,
) -> Result<Arc<RunEntry>, Failure> {
    state
        .runs
        .submit(workflow.bound.clone(), input.clone(), retry_of, traceparent)
        .await
        .map_err(|refused| match refused {
            Refused::ShuttingDown => Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                refused.to_string(),
            ),
            Refused::Full(_) => Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_runs",
                refused.to_string(),
            ),
            Refused::Journal(_) => Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "journal_unavailable",
                refused.to_string(),
            ),
        })
}

/// A run as this process knows it; as the journal holds it once another
/// replica may hold the run (this one's memory of it is stale then).
pub(super) async fn current_view(state: &AppState, entry: &RunEntry) -> ViewBody {
    if (!state.runs.held_here(entry) || entry.is_parked())
        && let Some(journal) = state.runs.runtime().journal()
        && let Some(view) = recovery::stored_view(journal.as_ref(), &entry.id).await
    {
        return ViewBody::Live(Box::new(view));
    }
    entry.view()
}

pub(super) fn run_not_found(id: &str) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no run `{id}` (finished runs are kept for a while, then evicted)"),
    )
}

/// Runs, newest first, a page at a time: those this server holds and,
/// with a journal, every journaled run (of any replica, on PostgreSQL).
#[utoipa::path(
    get,
    path = "/v1/runs",
    tag = "runs",
    params(ListQuery),
    responses(
        (status = 200, body = RunList),
        (status = 400, description = "Malformed query, a `limit` of 0, or a cursor no page gave", body = ApiError),
        (status = 503, description = "The journal cannot be read", body = ApiError),
    )
)]
pub async fn list_runs(
    State(state): State<Shared>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<RunList>, Failure> {
    let Query(query) = query?;
    let bad = |message: String| Failure::new(StatusCode::BAD_REQUEST, "bad_request", message);
    let limit = match query.limit {
        Some(0) => return Err(bad("`limit` must be at least 1".into())),
        Some(limit) => limit.min(MAX_LIST_LIMIT),
        None => DEFAULT_LIST_LIMIT,
    };
    let after = match &query.cursor {
        Some(text) => Some(Cursor::decode(text).map_err(|e| bad(e.to_string()))?),
        None => None,
    };
    let time = |name: &str, text: Option<&String>| match text {
        Some(text) => crate::workflow::timestamp::parse_rfc3339(text)
            .map(Some)
            .map_err(|e| bad(format!("`{name}`: {e}"))),
        None => Ok(None),
    };
    let (since, until) = (
        time("since", query.since.as_ref())?,
        time("until", query.until.as_ref())?,
    );
    if query.id_prefix.as_ref().is_some_and(|p| p.len() > 64) {
        return Err(bad("`id_prefix` holds at most 64 characters".into()));
    }
    let asked = RunQuery {
        limit,
        after,
        workflow: query.workflow,
        status: query.status,
        since,
        until,
        id_prefix: query.id_prefix,
    };
    let page = listing::page(&state.runs, asked).await.map_err(|e| {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "journal_unavailable",
            format!("the runs cannot be listed: {e}"),
        )
    })?;
    Ok(Json(RunList {
        runs: page.runs,
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Cancel a run: it stops, and what it did is compensated.
#[utoipa::path(
    delete,
    path = "/v1/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 202, description = "Cancelling; follow the run", body = RunSummary),
        (status = 400, description = "Malformed id", body = ApiError),
        (status = 404, body = ApiError),
        (status = 409, description = "Already finished", body = ApiError),
        (status = 503, description = "Shutting down: the run, not started, was left in the journal", body = ApiError),
    )
)]
pub async fn cancel_run(
    State(state): State<Shared>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, Failure> {
    let Path(id) = id?;
    match state.runs.cancel(&id) {
        Ok(entry) => Ok((StatusCode::ACCEPTED, Json(entry.summary())).into_response()),
        Err(CancelError::NotFound) => Err(run_not_found(&id)),
        Err(e @ CancelError::Left) => Err(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            e.to_string(),
        )),
        Err(e @ CancelError::Finished) => Err(Failure::new(
            StatusCode::CONFLICT,
            "finished",
            e.to_string(),
        )),
    }
}

/// The workflows this server runs, each with its Mermaid graph.
#[utoipa::path(get, path = "/v1/workflows", tag = "workflows", responses((status = 200, body = WorkflowList)))]
pub async fn list_workflows(State(state): State<Shared>) -> Json<WorkflowList> {
    let workflows = state.workflows.values().map(|w| w.info.clone()).collect();
    Json(WorkflowList { workflows })
}

/// Each service actor: alive, restarts, breaker state, calls in flight, pool.
#[utoipa::path(get, path = "/v1/services", tag = "services", responses((status = 200, body = ServiceList)))]
pub async fn list_services(State(state): State<Shared>) -> Json<ServiceList> {
    Json(ServiceList {
        services: state.runs.runtime().health().await,
    })
}
