//! Run data (`serde_json::Value`) as templates print and measure it: the
//! text of a value inside a string, descriptions and type names for
//! messages, and the size budget of one render.

use serde_json::Value as Json;

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

/// The JSON name of a value's type, for messages: `null`, `a boolean`,
/// `a number`, `a string`, `an array`, `an object`.
pub fn type_name(value: &Json) -> &'static str {
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
