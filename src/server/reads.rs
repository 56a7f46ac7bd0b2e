//! Reading one thing: a workflow by name, and a run by id, which with
//! `?wait=30s` is answered once the run has ended or the wait is over,
//! whichever comes first (a long poll instead of a loop of GETs).

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};

use super::api::{Shared, current_view, run_not_found};
use super::bodies::{ApiError, Failure, WorkflowInfo};
use super::recovery;
use super::runs::RunView;

/// The longest `?wait=` of `GET /v1/runs/{id}`, whatever `--max-wait` says:
/// a proxy between caller and server may cut a quieter request.
pub const MAX_RUN_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetRunQuery {
    /// Wait until the run has ended, at most this long (`30s`, `2m`; at
    /// most `5m` or `--max-wait`, the smaller), then answer as it stands.
    #[serde(default, deserialize_with = "wait")]
    #[param(value_type = Option<String>, example = "30s", pattern = "^[0-9]{1,9} ?(ms|s|m|h)$")]
    pub wait: Option<Duration>,
}

fn wait<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    parse_wait(&text).map(Some).map_err(|()| {
        serde::de::Error::custom(format!(
            "`wait`: `{text}` is not a duration such as `30s`, `500ms`, `2m`, `1h`"
        ))
    })
}

/// Up to nine digits and one unit, as the OpenAPI document's pattern says.
fn parse_wait(text: &str) -> Result<Duration, ()> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=9).contains(&digits) {
        return Err(());
    }
    let n: u64 = text[..digits].parse().map_err(|_| ())?;
    let unit = text[digits..].strip_prefix(' ').unwrap_or(&text[digits..]);
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_digits_and_one_unit() {
        assert_eq!(parse_wait("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_wait("2 m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_wait("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["0", "s", "1m 30s", "-1s", "1234567890s", "\u{14}", ""] {
            assert!(parse_wait(bad).is_err(), "{bad}");
        }
    }
}

/// A run: its status, each step's record, compensations and output.
#[utoipa::path(
    get,
    path = "/v1/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "Run id"), GetRunQuery),
    responses(
        (status = 200, description = "The run; with `wait`, once it ended or the wait is over", body = RunView),
        (status = 400, description = "Malformed id or query", body = ApiError),
        (status = 404, description = "Unknown or evicted run", body = ApiError),
    )
)]
pub async fn get_run(
    State(state): State<Shared>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<GetRunQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    let Path(id) = id?;
    let Query(query) = query?;
    if let Some(entry) = state.runs.get(&id) {
        if let Some(wait) = query.wait {
            // The answer says how the run stands either way.
            let _ = entry
                .finished(wait.min(state.max_wait).min(MAX_RUN_WAIT))
                .await;
        }
        return Ok(current_view(&state, &entry).await.into_response());
    }
    // Finished before this process started, evicted from memory, or taken
    // over by another replica.
    if let Some(journal) = state.runs.runtime().journal()
        && let Some(view) = recovery::stored_view(journal.as_ref(), &id).await
    {
        return Ok(Json(view).into_response());
    }
    Err(run_not_found(&id))
}

/// One workflow this server runs, with its Mermaid graph.
#[utoipa::path(
    get,
    path = "/v1/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    responses(
        (status = 200, body = WorkflowInfo),
        (status = 400, description = "Malformed name", body = ApiError),
        (status = 404, description = "Unknown workflow", body = ApiError),
    )
)]
pub async fn get_workflow(
    State(state): State<Shared>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<WorkflowInfo>, Failure> {
    let Path(name) = name?;
    match state.workflows.get(&name) {
        Some(workflow) => Ok(Json(workflow.info.clone())),
        None => Err(super::api::unknown_workflow(&state, &name)),
    }
}
