//! The schema of `steps`: a step of each kind, a parallel group, and a
//! step's compensation.

use serde_json::{Value, json};

use super::{IDENTIFIER, described, object, reference, string};
use crate::workflow::model::{DEFAULT_FOREACH_AS, MAX_FOREACH_CONCURRENCY};

pub(super) fn step() -> Value {
    let mut step = object(
        "One step: a call to a service, a sleep, a wait for a signal, a loop over a list, or another workflow.",
        &["id"],
        [
            ("id", described(string(), "Unique in the workflow.")),
            ("service", described(string(), "One of `services`.")),
            (
                "method",
                described(
                    string(),
                    "gRPC: `Method` or `pkg.Service/Method`; HTTP: `VERB /path`.",
                ),
            ),
            (
                "input",
                json!({ "description": "The request, or a child workflow's `.input`; strings may be templates." }),
            ),
            (
                "output",
                json!({
                    "type": "string",
                    "pattern": IDENTIFIER,
                    "not": { "enum": ["input", "run"] },
                    "description": "The name later templates read the step's result by.",
                }),
            ),
            (
                "when",
                described(
                    string(),
                    "One `{{ }}` template: the step runs only if true.",
                ),
            ),
            ("headers", reference("headers", "Over the service's.")),
            ("timeout", reference("duration", "Limit of one attempt.")),
            ("retry", reference("retry", "Over the service's policy.")),
            (
                "compensate",
                reference("compensation", "How to undo the step."),
            ),
            (
                "on_failure",
                json!({
                    "enum": ["compensate", "continue"],
                    "default": "compensate",
                    "description": "What the step's final failure does: halt and undo, or go on with its output null (not with `compensate`).",
                }),
            ),
            (
                "sleep",
                reference(
                    "duration",
                    "Sleep this long; the wake-up time is journaled.",
                ),
            ),
            (
                "sleep_until",
                described(
                    string(),
                    "Sleep until this RFC 3339 time (a template, rendered when the step starts).",
                ),
            ),
            (
                "wait",
                json!({
                    "type": "string",
                    "pattern": "^[A-Za-z0-9_.-]{1,128}$",
                    "description": "Wait for the signal of this name; `output` holds its payload, `timeout` bounds the wait.",
                }),
            ),
            (
                "foreach",
                json!({
                    "type": "string",
                    "pattern": r"^\{\{.*\}\}$",
                    "description": "One `{{ }}` template giving a list: `steps` run once per element; `output` is the list of each element's outputs.",
                }),
            ),
            (
                "as",
                json!({
                    "type": "string",
                    "pattern": IDENTIFIER,
                    "not": { "enum": ["input", "run"] },
                    "default": DEFAULT_FOREACH_AS,
                    "description": "foreach: the element reads as `.NAME` in `steps`, its position as `.NAME_index`.",
                }),
            ),
            (
                "concurrency",
                json!({
                    "type": "integer", "minimum": 1, "maximum": MAX_FOREACH_CONCURRENCY, "default": 1,
                    "description": "foreach: elements in flight at once.",
                }),
            ),
            (
                "steps",
                json!({
                    "type": "array",
                    "minItems": 1,
                    "items": { "anyOf": [
                        { "$ref": "#/$defs/step" },
                        { "$ref": "#/$defs/parallel_group" },
                    ] },
                    "description": "foreach: the steps run for each element, as at the top.",
                }),
            ),
            (
                "workflow",
                described(
                    string(),
                    "Another workflow file, relative to this one: its steps run inside this run, with `input` as its `.input`; `output` holds its output.",
                ),
            ),
        ],
    );
    let kinds = [
        json!({"required": ["service", "method"]}),
        json!({"required": ["sleep"]}),
        json!({"required": ["sleep_until"]}),
        json!({"required": ["wait"]}),
        json!({"required": ["foreach", "steps"]}),
        json!({"required": ["workflow"]}),
    ];
    step.insert("oneOf".into(), Value::Array(kinds.into()));
    Value::Object(step)
}

pub(super) fn group() -> Value {
    Value::Object(object(
        "Steps that run at once.",
        &["parallel"],
        [(
            "parallel",
            json!({
                "type": "array",
                "minItems": 1,
                "items": { "$ref": "#/$defs/step" },
                "description": "The steps; groups do not nest.",
            }),
        )],
    ))
}

pub(super) fn compensation() -> Value {
    Value::Object(object(
        "The call that undoes a step.",
        &["method"],
        [
            (
                "service",
                described(string(), "The step's service by default."),
            ),
            ("method", described(string(), "As a step's `method`.")),
            (
                "input",
                json!({ "description": "The undo request; strings may be templates." }),
            ),
            ("headers", reference("headers", "As on steps.")),
        ],
    ))
}
