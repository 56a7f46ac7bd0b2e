//! Conversions between run data (`serde_json::Value`) and tera's values.
//! Integers travel as u64/i64 both ways, never through f64, so ids above
//! 2^53 come back exactly as they went in.

use std::sync::Arc;

use serde_json::{Number, Value as Json};
use tera::value::{Key, ValueKind};
use tera::{Map, Value};

pub(crate) fn to_tera(json: &Json) -> Value {
    match json {
        Json::Null => Value::none(),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(to_tera).collect::<Vec<_>>()),
        Json::Object(fields) => {
            let mut map = Map::with_capacity(fields.len());
            for (k, v) in fields {
                map.insert(Key::String(Arc::from(k.as_str())), to_tera(v));
            }
            Value::from(map)
        }
    }
}

pub(crate) fn to_json(value: &Value) -> Json {
    match value.kind() {
        ValueKind::Bool => Json::Bool(value.as_bool().unwrap_or_default()),
        ValueKind::U64 | ValueKind::I64 | ValueKind::U128 | ValueKind::I128 => {
            if let Some(u) = value.as_u64() {
                Json::Number(u.into())
            } else if let Some(i) = value.as_i64() {
                Json::Number(i.into())
            } else {
                // Only arithmetic can leave the 64-bit range, and templates
                // have none; the nearest float is the best JSON can hold.
                float(value.as_f64().unwrap_or(f64::NAN))
            }
        }
        ValueKind::F64 => float(value.as_f64().unwrap_or(f64::NAN)),
        ValueKind::String => Json::String(value.as_str().unwrap_or_default().to_owned()),
        ValueKind::Array => Json::Array(
            value
                .as_array()
                .unwrap_or_default()
                .iter()
                .map(to_json)
                .collect(),
        ),
        ValueKind::Map => {
            let mut out = serde_json::Map::new();
            if let Some(map) = value.as_map() {
                for (k, v) in map {
                    out.insert(key_text(k), to_json(v));
                }
            }
            Json::Object(out)
        }
        ValueKind::Bytes => {
            Json::String(String::from_utf8_lossy(value.as_bytes().unwrap_or_default()).into_owned())
        }
        _ => Json::Null,
    }
}

fn key_text(key: &Key<'_>) -> String {
    match key.as_str() {
        Some(s) => s.to_owned(),
        None => key.as_value().to_string(),
    }
}

/// NaN and infinities have no JSON form.
fn float(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// How a value is printed inside text: strings as they are, the rest as
/// compact JSON.
pub(crate) fn text_of(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A short description of a value for error messages.
pub(crate) fn describe(value: &Json) -> String {
    let text = value.to_string();
    const LIMIT: usize = 60;
    if text.chars().count() <= LIMIT {
        return text;
    }
    let cut: String = text.chars().take(LIMIT).collect();
    format!("{cut}...")
}

/// The JSON name of a value's type, for messages.
pub(crate) fn type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Take the size of `json` written as JSON (roughly: numbers count as 20
/// bytes) from `left`; false once it does not fit. Stops walking as soon as
/// the budget is spent, so a huge value costs no more than the limit.
pub(crate) fn charge(json: &Json, left: &mut usize) -> bool {
    let size = match json {
        Json::Null | Json::Bool(_) => 5,
        Json::Number(_) => 20,
        Json::String(s) => s.len() + 2,
        Json::Array(items) => {
            if !items.iter().all(|item| charge(item, left)) {
                return false;
            }
            items.len() + 2
        }
        Json::Object(fields) => {
            if !fields.values().all(|value| charge(value, left)) {
                return false;
            }
            fields.keys().map(|k| k.len() + 4).sum::<usize>() + 2
        }
    };
    match left.checked_sub(size) {
        Some(rest) => {
            *left = rest;
            true
        }
        None => false,
    }
}

/// The error for a render that would exceed [`super::MAX_RENDERED_BYTES`].
pub(crate) fn too_large(source: &str) -> super::TemplateError {
    super::TemplateError::Eval {
        template: source.to_owned(),
        message: format!(
            "the result is larger than {} MiB, the limit of one rendered value",
            super::MAX_RENDERED_BYTES / (1024 * 1024)
        ),
    }
}
