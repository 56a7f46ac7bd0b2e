//! `Idempotency-Key` on `POST /v1/workflows/{name}/runs`: a client that
//! retries a submission whose answer it lost gets the run it started, not a
//! second one, for as long as this server keeps that run (`--keep-for`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::bodies::Failure;
use super::runs::{RunEntry, Runs};

/// The header, as clients of payment APIs already send it.
pub const HEADER: &str = "idempotency-key";
/// The longest key accepted; past it, 400.
pub const MAX_KEY_BYTES: usize = 255;
/// Keys remembered at most; past it the oldest is forgotten first.
pub const MAX_KEYS: usize = 100_000;

/// Keys seen, by workflow, with the run each started and its input's digest.
/// A tokio mutex: it is held across the submission it guards, so that two
/// requests with one key cannot both start a run.
#[derive(Default)]
pub struct Keys(tokio::sync::Mutex<Table>);

#[derive(Default)]
pub struct Table {
    runs: HashMap<(String, String), Remembered>,
    order: VecDeque<(String, String)>,
}

struct Remembered {
    run_id: String,
    digest: [u8; 32],
}

impl Keys {
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, Table> {
        self.0.lock().await
    }
}

/// The request's key, if it sent one: 1 to 255 visible ASCII characters.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, Failure> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let bad = |why: &str| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("`Idempotency-Key` {why}"),
        )
    };
    let text = value
        .to_str()
        .map_err(|_| bad("must be visible ASCII"))?
        .trim();
    if text.is_empty() || text.len() > MAX_KEY_BYTES {
        return Err(bad("must hold 1 to 255 characters"));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("must be visible ASCII"));
    }
    Ok(Some(text.to_owned()))
}

impl Table {
    /// The run `key` started for `workflow`, while the server still holds
    /// it; 409 when the key came with another input.
    pub fn find(
        &mut self,
        workflow: &str,
        key: &str,
        input: &Value,
        runs: &Runs,
    ) -> Result<Option<Arc<RunEntry>>, Failure> {
        let slot = (workflow.to_owned(), key.to_owned());
        let Some(seen) = self.runs.get(&slot) else {
            return Ok(None);
        };
        let Some(entry) = runs.get(&seen.run_id) else {
            // Evicted: the key starts a run again.
            self.runs.remove(&slot);
            return Ok(None);
        };
        if seen.digest != digest(input) {
            return Err(Failure::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                format!(
                    "`Idempotency-Key` {key} started run {} with another input",
                    seen.run_id
                ),
            ));
        }
        Ok(Some(entry))
    }

    /// `key` started `run_id` with `input`.
    pub fn remember(&mut self, workflow: &str, key: &str, input: &Value, run_id: &str) {
        let slot = (workflow.to_owned(), key.to_owned());
        let remembered = Remembered {
            run_id: run_id.to_owned(),
            digest: digest(input),
        };
        if self.runs.insert(slot.clone(), remembered).is_none() {
            self.order.push_back(slot);
        }
        while self.order.len() > MAX_KEYS {
            if let Some(oldest) = self.order.pop_front() {
                self.runs.remove(&oldest);
            }
        }
    }
}

/// Of the input as parsed: key order and spacing of the body do not count.
fn digest(input: &Value) -> [u8; 32] {
    let text = canonical(input);
    Sha256::digest(text.as_bytes()).into()
}

/// JSON with every object's keys sorted.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_digest_ignores_key_order_but_not_values() {
        let a = json!({"a": 1, "b": {"x": [1, 2], "y": null}});
        let b = json!({"b": {"y": null, "x": [1, 2]}, "a": 1});
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(
            digest(&a),
            digest(&json!({"a": 2, "b": {"x": [1, 2], "y": null}}))
        );
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        let with = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(HEADER, v.parse().unwrap());
            key(&headers)
        };
        assert_eq!(with("order-42").ok().flatten().as_deref(), Some("order-42"));
        assert!(with(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(with("a b").is_err());
        assert!(key(&HeaderMap::new()).ok().flatten().is_none());
    }
}
