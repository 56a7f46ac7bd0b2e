//! State shared by the HTTP services: every record they create, keyed by an
//! id whose prefix names its kind, and the body parsing they share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::common::calls::Hub;
use crate::common::http::{ApiError, ApiResult};
use crate::common::lock;

pub struct App {
    pub hub: Arc<Hub>,
    records: Mutex<HashMap<String, Value>>,
}

impl App {
    pub fn new(hub: &Arc<Hub>) -> Self {
        Self {
            hub: Arc::clone(hub),
            records: Mutex::default(),
        }
    }

    /// Stores a new record under a fresh `prefix_NNNNNN` id, which it gets as
    /// its `id_field`, and returns it.
    pub fn create(&self, prefix: &'static str, id_field: &str, mut record: Value) -> Value {
        let id = self.hub.next_id(prefix);
        record[id_field] = Value::String(id.clone());
        lock(&self.records).insert(id, record.clone());
        record
    }

    pub fn get(&self, prefix: &str, id: &str) -> Option<Value> {
        if !id.starts_with(&format!("{prefix}_")) {
            return None;
        }
        lock(&self.records).get(id).cloned()
    }

    /// Sets a record's `status`; `None` when there is no such record.
    pub fn set_status(&self, prefix: &str, id: &str, status: &str) -> Option<Value> {
        self.get(prefix, id)?;
        let mut records = lock(&self.records);
        let record = records.get_mut(id)?;
        record["status"] = json!(status);
        Some(record.clone())
    }
}

impl App {
    /// Marks deleted every record of `prefix` whose `field` is `value`, and
    /// returns their ids: an undo for a create whose answer never arrived.
    pub fn delete_where(&self, prefix: &str, field: &str, value: &str) -> Vec<String> {
        let mut records = lock(&self.records);
        let mut ids: Vec<String> = records
            .iter_mut()
            .filter(|(id, r)| id.starts_with(&format!("{prefix}_")) && r[field] == value)
            .map(|(id, r)| {
                r["status"] = json!("deleted");
                id.clone()
            })
            .collect();
        ids.sort();
        ids
    }
}

/// The JSON body as `T`; an empty body is `T::default()`.
pub fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

pub fn created(value: Value) -> ApiResult {
    Ok((StatusCode::CREATED, Json(value)))
}

pub fn ok(value: Value) -> ApiResult {
    Ok((StatusCode::OK, Json(value)))
}

pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// `DELETE /things/{id}` for records of one prefix: deleting twice is fine,
/// an unknown id is 404. The id comes back under `id_field`.
pub fn deleter(
    prefix: &'static str,
    id_field: &'static str,
) -> axum::routing::MethodRouter<Arc<App>> {
    axum::routing::delete(
        move |State(app): State<Arc<App>>, Path(id): Path<String>| async move {
            match app.set_status(prefix, &id, "deleted") {
                Some(_) => ok(json!({ id_field: id, "status": "deleted" })),
                None => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no {} `{id}`", id_field.trim_end_matches("_id")),
                )),
            }
        },
    )
}

/// A router with the app as state, ready to be wrapped as a named service.
pub fn with_app(routes: Router<Arc<App>>, app: &Arc<App>) -> Router {
    routes.with_state(Arc::clone(app))
}

pub fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        }
        None => false,
    }
}
