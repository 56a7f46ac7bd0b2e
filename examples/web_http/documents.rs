//! The document pipeline's HTTP side: a blob store that receives uploads and
//! publishes them, and a search index. A restricted document is only indexed
//! once redacted.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{App, bad_request, created, deleter, ok, parse, with_app};
use crate::common::fingerprint;
use crate::common::http::{self, ApiError, ApiResult};

const MAX_BLOB_BYTES: usize = 1 << 20;

pub fn routes(app: &Arc<App>) -> Router {
    let blobs = Router::new()
        .route("/blobs", post(upload))
        .route("/blobs/{id}", deleter("blob", "blob_id"))
        .route("/blobs/{id}/publish", post(publish));
    let search = Router::new()
        .route("/search/documents", post(index))
        .route("/search/documents/{id}", deleter("doc", "document_id"));
    http::service(&app.hub, "blob_store", with_app(blobs, app)).merge(http::service(
        &app.hub,
        "search_index",
        with_app(search, app),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Upload {
    filename: String,
    content_type: String,
    content: String,
    owner: String,
}

async fn upload(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let upload: Upload = parse(&body)?;
    if upload.filename.is_empty() || upload.content.is_empty() {
        return Err(bad_request("`filename` and `content` are required"));
    }
    if upload.content.len() > MAX_BLOB_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} bytes is over the 1 MiB limit", upload.content.len()),
        ));
    }
    let mut blob = app.create(
        "blob",
        "blob_id",
        json!({
            "filename": upload.filename,
            "content_type": if upload.content_type.is_empty() { "text/plain".to_owned() } else { upload.content_type },
            "owner": upload.owner,
            "size_bytes": upload.content.len(),
            "checksum": format!("fnv1a:{:016x}", fingerprint(upload.content.as_bytes())),
            "status": "stored",
        }),
    );
    blob["url"] = json!(format!(
        "blob://documents/{}",
        blob["blob_id"].as_str().unwrap_or_default()
    ));
    created(blob)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IndexRequest {
    blob_id: String,
    title: String,
    text: String,
    /// Null when the redaction step was skipped.
    redacted_text: Option<String>,
    label: Value,
    sensitivity: String,
}

async fn index(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let request: IndexRequest = parse(&body)?;
    if request.blob_id.is_empty() {
        return Err(bad_request("`blob_id` is required"));
    }
    let redacted = request.redacted_text.filter(|t| !t.is_empty());
    if request.sensitivity == "restricted" && redacted.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "restricted documents are indexed only once redacted",
        ));
    }
    let text = redacted.as_deref().unwrap_or(&request.text);
    let terms: BTreeSet<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect();
    created(app.create(
        "doc",
        "document_id",
        json!({
            "blob_id": request.blob_id,
            "title": request.title,
            "label": request.label,
            "index": "documents-v1",
            "terms": terms.len(),
            "redacted": redacted.is_some(),
            "status": "indexed",
        }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Publish {
    document_id: String,
}

/// Makes a stored blob visible, once it is indexed.
async fn publish(State(app): State<Arc<App>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let request: Publish = parse(&body)?;
    let Some(blob) = app.get("blob", &id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no blob `{id}`"),
        ));
    };
    if blob["status"] == "deleted" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("blob `{id}` was deleted"),
        ));
    }
    if request.document_id.is_empty() {
        return Err(bad_request("`document_id` is required"));
    }
    app.set_status("blob", &id, "published");
    ok(json!({
        "blob_id": id,
        "document_id": request.document_id,
        "status": "published",
        "url": format!("https://documents.example.com/d/{id}"),
    }))
}
