//! The endpoints of operations rather than runs: health and readiness,
//! metrics, the OpenAPI document, fault injection, and the answers for an
//! unknown path or method.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::api::Shared;
use super::bodies::{ApiError, Failure, HealthStatus, Killed};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = HealthStatus)))]
pub async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".into(),
    })
}

/// Readiness: accepting runs, and every service actor alive.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses((status = 200, body = HealthStatus), (status = 503, body = HealthStatus))
)]
pub async fn readyz(State(state): State<Shared>) -> Response {
    let status = if state.runs.is_closed() {
        Some("shutting down".to_string())
    } else {
        let down: Vec<String> = state
            .runs
            .runtime()
            .health()
            .await
            .into_iter()
            .filter(|s| !s.alive)
            .map(|s| s.name)
            .collect();
        (!down.is_empty()).then(|| format!("service actors restarting: {}", down.join(", ")))
    };
    match status {
        None => Json(HealthStatus {
            status: "ok".into(),
        })
        .into_response(),
        Some(status) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthStatus { status }),
        )
            .into_response(),
    }
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<Shared>) -> Response {
    let services = state.runs.runtime().health().await;
    let text = state.metrics.render(state.runs.gauges(), &services);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub async fn openapi(State(state): State<Shared>) -> Response {
    let doc = state.openapi.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}

/// Kill a service actor, as a crash would (only with `--enable-fault-injection`).
#[utoipa::path(
    post,
    path = "/v1/admin/services/{name}/kill",
    tag = "admin",
    params(("name" = String, Path, description = "Service name")),
    responses(
        (status = 202, body = Killed),
        (status = 400, description = "Malformed name", body = ApiError),
        (status = 404, description = "Unknown service", body = ApiError),
        (status = 409, description = "The actor is restarting", body = ApiError),
    )
)]
pub async fn kill_service(
    State(state): State<Shared>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, Failure> {
    let Path(name) = name?;
    let runtime = state.runs.runtime();
    let health = runtime.health().await;
    let target = health.iter().find(|s| s.name == name).ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no service `{name}`"),
        )
    })?;
    let actor = runtime.service_actor(&name).ok_or_else(|| {
        Failure::new(
            StatusCode::CONFLICT,
            "not_alive",
            format!("the actor of `{name}` is restarting"),
        )
    })?;
    tracing::warn!(service = %name, "killing the service actor on request (fault injection)");
    actor.kill();
    let killed = Killed {
        service: target.name.clone(),
        endpoint: target.endpoint.clone(),
    };
    Ok((StatusCode::ACCEPTED, Json(killed)).into_response())
}

/// Unknown routes.
pub async fn not_found() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /openapi.json",
    )
}

/// Known routes, wrong method.
pub async fn method_not_allowed() -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /openapi.json",
    )
}
