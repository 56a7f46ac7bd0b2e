//! The JSON Schema of a workflow file, for editors (`maestro schema`,
//! docs/workflow.schema.json). Built beside the hand-written decoder, whose
//! field lists a test holds it to; the decoder stays the judge of validity.

use serde_json::{Map, Value, json};

use super::model::MAX_CONCURRENCY;
use steps::{compensation, group, step};

mod steps;

/// The schema's dialect.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Whole numbers and units, as humantime reads them: `500ms`, `1m 30s`.
const DURATION: &str = r"^\s*[0-9]+\s*[A-Za-zµ]+(\s*[0-9]+\s*[A-Za-zµ]+)*\s*$";

/// Bytes, or a number with a binary unit.
const BYTE_SIZE: &str = r"^\s*[0-9]+\s*(B|KiB|MiB|GiB)?\s*$";

/// Calls per second, minute or hour: `100/s`.
const RATE: &str = r"^\s*[0-9]+\s*/\s*[smh]\s*$";

/// A name templates can read as `.name`.
const IDENTIFIER: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// The schema, as `maestro schema` prints it.
pub fn schema() -> Value {
    let mut root = object(
        "A Maestro workflow: services, the steps that call them, and the run's output.",
        &["name", "steps"],
        [
            ("name", described(string(), "The workflow's name.")),
            (
                "version",
                described(string(), "Free text; quote it (`\"1.10\"`)."),
            ),
            ("timeout", reference("duration", "Budget of the whole run.")),
            (
                "compensation_timeout",
                reference("duration", "Budget of the compensation phase (60s)."),
            ),
            (
                "input_schema",
                json!({
                    "$ref": DIALECT,
                    "description": "A JSON Schema (2020-12) of the run's input: its `default`s are filled in, then the input is checked before any call.",
                }),
            ),
            (
                "services",
                json!({
                    "type": "object",
                    "description": "The services steps may call, by name.",
                    "additionalProperties": { "$ref": "#/$defs/service" },
                }),
            ),
            (
                "steps",
                json!({
                    "type": "array",
                    "description": "What to call, in order: steps and parallel groups.",
                    "minItems": 1,
                    "items": { "anyOf": [
                        { "$ref": "#/$defs/step" },
                        { "$ref": "#/$defs/parallel_group" },
                    ] },
                }),
            ),
            (
                "output",
                json!({ "description": "The run's result; strings may be templates." }),
            ),
            (
                "schedules",
                json!({
                    "type": "array",
                    "description": "When `maestro serve` starts runs by itself.",
                    "items": { "$ref": "#/$defs/schedule" },
                }),
            ),
        ],
    );
    root.insert("$schema".into(), json!(DIALECT));
    root.insert("title".into(), json!("Maestro workflow"));
    root.insert("$defs".into(), Value::Object(definitions()));
    // Keys in a fixed order, so the checked-in copy diffs cleanly.
    let mut ordered = Map::new();
    for key in ["$schema", "title", "description", "type", "required"] {
        if let Some(value) = root.remove(key) {
            ordered.insert(key.into(), value);
        }
    }
    ordered.extend(root);
    Value::Object(ordered)
}

fn definitions() -> Map<String, Value> {
    let mut defs = Map::new();
    defs.insert("service".into(), service());
    defs.insert("pool".into(), pool());
    defs.insert("retry".into(), retry());
    defs.insert("circuit_breaker".into(), breaker());
    defs.insert("step".into(), step());
    defs.insert("parallel_group".into(), group());
    defs.insert("compensation".into(), compensation());
    defs.insert("schedule".into(), schedule());
    defs.insert(
        "duration".into(),
        json!({
            "type": "string",
            "description": "A number and a unit: `500ms`, `30s`, `1m 30s`, `2h`.",
            "pattern": DURATION,
        }),
    );
    defs.insert(
        "headers".into(),
        json!({
            "type": "object",
            "description": "HTTP only: header names and values; values may be templates and read `${NAME}`.",
            "additionalProperties": { "type": "string" },
        }),
    );
    defs.insert(
        "paths".into(),
        json!({
            "description": "A path relative to the workflow file's folder, or a list of them.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } },
            ],
        }),
    );
    defs
}

fn service() -> Value {
    Value::Object(object(
        "A gRPC or HTTP service.",
        &["type", "endpoint"],
        [
            (
                "type",
                json!({ "enum": ["grpc", "http"], "description": "The protocol." }),
            ),
            (
                "endpoint",
                described(
                    string(),
                    "gRPC: `host:port`; HTTP: `http(s)://host[:port][/base]`. May read `${NAME}`.",
                ),
            ),
            (
                "timeout",
                reference("duration", "Limit of one attempt (30s)."),
            ),
            ("retry", reference("retry", "How failed calls are retried.")),
            (
                "circuit_breaker",
                reference("circuit_breaker", "When to stop calling."),
            ),
            (
                "pool",
                reference("pool", "gRPC only: connections kept open."),
            ),
            ("proto", reference("paths", "gRPC only: `.proto` files.")),
            (
                "import_paths",
                reference("paths", "gRPC only: where `.proto` imports are found."),
            ),
            ("headers", reference("headers", "Sent with every request.")),
            (
                "max_response_bytes",
                json!({
                    "description": "The largest answer accepted (4MiB): bytes, or `512KiB`, `8MiB`.",
                    "anyOf": [
                        { "type": "integer", "minimum": 1 },
                        { "type": "string", "pattern": BYTE_SIZE },
                    ],
                }),
            ),
            (
                "concurrency",
                json!({
                    "type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY,
                    "description": "Calls in flight at once across every run; more wait their turn (no limit).",
                }),
            ),
            (
                "rate",
                json!({
                    "type": "string", "pattern": RATE,
                    "description": "Calls started per period, evenly spaced: `100/s`, `600/m`, `1000/h` (no limit).",
                }),
            ),
        ],
    ))
}

fn pool() -> Value {
    Value::Object(object(
        "gRPC connections kept open.",
        &["size"],
        [("size", at_least(1, "Connections (5)."))],
    ))
}

fn retry() -> Value {
    Value::Object(object(
        "A retry policy; on a step, merged field by field over its service's.",
        &[],
        [
            (
                "attempts",
                at_least(1, "Calls in all, the first included (3)."),
            ),
            (
                "backoff",
                json!({ "enum": ["exponential", "constant"], "description": "exponential by default." }),
            ),
            (
                "initial_interval",
                reference("duration", "Delay before the first retry (100ms)."),
            ),
            (
                "max_interval",
                reference("duration", "Cap on any one delay (10s)."),
            ),
            (
                "multiplier",
                json!({ "type": "number", "minimum": 1, "description": "Growth of exponential delays (2.0)." }),
            ),
            (
                "jitter",
                json!({ "type": "number", "minimum": 0, "maximum": 1, "description": "Share of each delay randomised (0.2)." }),
            ),
        ],
    ))
}

fn breaker() -> Value {
    Value::Object(object(
        "The service's circuit breaker.",
        &[],
        [
            (
                "failure_threshold",
                at_least(1, "Consecutive transient failures that open it (5)."),
            ),
            (
                "reset_timeout",
                reference("duration", "How long it stays open (30s)."),
            ),
            (
                "half_open_max_calls",
                at_least(1, "Probes at once while half-open (1)."),
            ),
        ],
    ))
}

fn schedule() -> Value {
    let mut shape = object(
        "Runs started on a cron expression or every period; `cron` or `every`, not both.",
        &[],
        [
            (
                "cron",
                described(
                    string(),
                    "Five fields: minute hour day-of-month month day-of-week.",
                ),
            ),
            (
                "every",
                reference(
                    "duration",
                    "A period of at least 1s, ticking on its multiples.",
                ),
            ),
            (
                "timezone",
                described(string(), "The IANA zone `cron` is read in; UTC by default."),
            ),
            (
                "input",
                json!({ "type": "object", "description": "The input of each run." }),
            ),
            (
                "overlap",
                json!({
                    "enum": ["skip", "allow", "cancel_previous"],
                    "description": "A tick while the previous run goes on: skip it (default), start beside it, or cancel it first.",
                }),
            ),
            (
                "catch_up",
                json!({ "type": "boolean", "description": "Run the latest tick missed while no server ran, once, at start (true)." }),
            ),
        ],
    );
    shape.insert(
        "oneOf".into(),
        json!([{ "required": ["cron"] }, { "required": ["every"] }]),
    );
    Value::Object(shape)
}

/// A closed object: no key but `properties`, each of `required` present.
fn object<const N: usize>(
    description: &str,
    required: &[&str],
    properties: [(&str, Value); N],
) -> Map<String, Value> {
    let properties: Map<String, Value> = properties
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let mut out = Map::new();
    out.insert("description".into(), json!(description));
    out.insert("type".into(), json!("object"));
    if !required.is_empty() {
        out.insert("required".into(), json!(required));
    }
    out.insert("properties".into(), Value::Object(properties));
    out.insert("additionalProperties".into(), json!(false));
    out
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn described(mut value: Value, description: &str) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.insert("description".into(), json!(description));
    }
    value
}

fn reference(definition: &str, description: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{definition}"), "description": description })
}

fn at_least(min: u64, description: &str) -> Value {
    json!({ "type": "integer", "minimum": min, "description": description })
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
