//! `POST /v1/runs/{id}/retry`: a run that ended `compensation_failed` has
//! its failed compensations tried again, with the same idempotency keys; a
//! `compensated`, `timed_out` or `cancelled` one starts again as a new run
//! with the same input, linked to it by `retry_of`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::api::{Shared, accepted, run_not_found, start};
use super::bodies::{ApiError, Failure, RunAccepted};
use super::runs::RunSummary;
use crate::journal::StoredRun;
use crate::runtime::{BoundWorkflow, RunStatus};

/// The longest a retry waits for a run's logged end to be journaled.
const END_SETTLES: std::time::Duration = std::time::Duration::from_secs(5);

/// Retry a run that did not succeed.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/retry",
    tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 202, description = "`compensation_failed`: the same run, compensating again", body = RunSummary),
        (status = 201, description = "`compensated`, `timed_out` or `cancelled`: a new run with the same input, `retry_of` the first; follow the Location", body = RunAccepted),
        (status = 404, body = ApiError),
        (status = 409, description = "The run succeeded or has not ended (`not_retryable`), or its workflow is not served here, or its events are no longer kept (`not_retryable`)", body = ApiError),
        (status = 503, description = "The journal could not be read or written", body = ApiError),
    )
)]
pub async fn retry_run(
    State(state): State<Shared>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, Failure> {
    let Path(id) = id?;
    // A run's end shows here as soon as it is logged, and is in the journal
    // a moment later: a retry asked in between waits for it.
    if let Some(entry) = state.runs.get(&id)
        && entry.summary().status.is_final()
    {
        let _ = entry.finished(END_SETTLES).await;
    }
    let (stored, bound) = past_run(&state, &id).await?;
    match stored.status {
        RunStatus::CompensationFailed => retry_compensations(&state, stored, bound).await,
        RunStatus::Compensated | RunStatus::TimedOut | RunStatus::Cancelled => {
            start_again(&state, stored).await
        }
        other => Err(not_retryable(format!(
            "run {id} is {}: only a compensated, timed-out, cancelled or compensation_failed \
             run can be retried",
            other.label()
        ))),
    }
}

fn not_retryable(message: String) -> Failure {
    Failure::new(StatusCode::CONFLICT, "not_retryable", message)
}

fn journal_failed(e: impl std::fmt::Display) -> Failure {
    Failure::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "journal_unavailable",
        e.to_string(),
    )
}

/// The run as the journal holds it, or as memory keeps it without one.
async fn past_run(state: &Shared, id: &str) -> Result<(StoredRun, Option<BoundWorkflow>), Failure> {
    match state.runs.runtime().journal() {
        Some(journal) => match journal.load(id).await.map_err(journal_failed)? {
            Some(stored) => Ok((stored, None)),
            None => Err(run_not_found(id)),
        },
        None => match state.runs.kept(id) {
            Some((stored, bound)) => Ok((stored, Some(bound))),
            None if state.runs.get(id).is_some() => Err(not_retryable(format!(
                "run {id} has not ended, or its events are no longer kept in memory \
                 (a server without a journal keeps those of its most recent runs)"
            ))),
            None => Err(run_not_found(id)),
        },
    }
}

/// The same run, its failed compensations tried again.
async fn retry_compensations(
    state: &Shared,
    stored: StoredRun,
    bound: Option<BoundWorkflow>,
) -> Result<Response, Failure> {
    let runtime = state.runs.runtime();
    let (stored, bound) = match (runtime.journal(), bound) {
        (Some(journal), _) => {
            let reopened = journal
                .reopen(&stored.run_id)
                .await
                .map_err(journal_failed)?;
            let Some(reopened) = reopened else {
                return Err(not_retryable(format!(
                    "run {} is no longer compensation_failed",
                    stored.run_id
                )));
            };
            let bound = runtime
                .bind_definition(&reopened.definition)
                .await
                .map_err(|e| not_retryable(e.to_string()))?;
            (reopened, bound)
        }
        (None, Some(bound)) => (stored, bound),
        (None, None) => return Err(run_not_found(&stored.run_id)),
    };
    let entry = state.runs.retry_compensations(bound, stored);
    Ok((StatusCode::ACCEPTED, Json(entry.summary())).into_response())
}

/// A new run with the first one's input, `retry_of` it.
async fn start_again(state: &Shared, stored: StoredRun) -> Result<Response, Failure> {
    let name = &stored.definition.name;
    let Some(workflow) = state.workflows.get(name) else {
        return Err(not_retryable(format!(
            "workflow `{name}` of run {} is not served here",
            stored.run_id
        )));
    };
    let entry = start(
        state,
        workflow,
        &stored.input,
        Some(stored.run_id.clone()),
        None,
    )
    .await?;
    let mut response = accepted(&entry, format!("/v1/runs/{}", entry.id), false);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}
