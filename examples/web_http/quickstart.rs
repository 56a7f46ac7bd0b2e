//! `api_service` (`POST /enrich`) and `legacy_service` (`POST /submit`, its
//! compensation `POST /cancel`) of the README's first workflow.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{App, bad_request, created, ok, parse, with_app};
use crate::common::fingerprint;
use crate::common::http::{self, ApiError, ApiResult};

const TIERS: [&str; 4] = ["bronze", "silver", "gold", "platinum"];
const REGIONS: [&str; 4] = ["eu-west", "eu-central", "us-east", "ap-south"];

pub fn routes(app: &Arc<App>) -> Router {
    let api = with_app(Router::new().route("/enrich", post(enrich)), app);
    let legacy = with_app(
        Router::new()
            .route("/submit", post(submit))
            .route("/cancel", post(cancel)),
        app,
    );
    http::service(&app.hub, "api_service", api).merge(http::service(
        &app.hub,
        "legacy_service",
        legacy,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EnrichRequest {
    id: Value,
}

/// Customer attributes derived from the id, so the same id always enriches
/// the same way.
async fn enrich(body: Bytes) -> ApiResult {
    let request: EnrichRequest = parse(&body)?;
    let id = match &request.id {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(bad_request("`id` is required")),
    };
    let hash = fingerprint(id.as_bytes());
    ok(json!({
        "id": id,
        "customer_tier": TIERS[(hash % 4) as usize],
        "region": REGIONS[((hash >> 8) % 4) as usize],
        "lifetime_value_cents": (hash >> 16) % 5_000_000,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SubmitRequest {
    analysis: Value,
    enrichment: Value,
}

async fn submit(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let request: SubmitRequest = parse(&body)?;
    if !request.analysis.is_object() {
        return Err(bad_request("`analysis` must be an object"));
    }
    let record = app.create(
        "sbm",
        "id",
        json!({
            "status": "submitted",
            "analysis": request.analysis,
            "enrichment": request.enrichment,
        }),
    );
    created(json!({ "id": record["id"], "status": "submitted" }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CancelRequest {
    submission_id: String,
}

async fn cancel(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let request: CancelRequest = parse(&body)?;
    match app.set_status("sbm", &request.submission_id, "cancelled") {
        Some(_) => ok(json!({ "submission_id": request.submission_id, "status": "cancelled" })),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no submission `{}`", request.submission_id),
        )),
    }
}
