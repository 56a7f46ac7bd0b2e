//! `input_schema`: the schema decoded and located where it is wrong, and
//! templates reading input properties a closed schema does not declare.

use serde_json::json;

use crate::workflow::load_str;

const HEAD: &str =
    "name: t\nservices:\n  api:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\n";

/// `line:column: path: message | hint` of every diagnostic.
fn problems(yaml: &str) -> Vec<String> {
    let diagnostics = load_str(yaml, "w.yaml", &|_: &str| None).expect_err("expected problems");
    diagnostics
        .iter()
        .map(|d| {
            let hint = d.hint.as_deref().unwrap_or("");
            format!(
                "{}:{}: {}: {} | {hint}",
                d.line, d.column, d.path, d.message
            )
        })
        .collect()
}

/// A workflow whose one step sends `input` (a flow mapping) to `api`.
fn workflow(schema: &str, input: &str) -> String {
    format!(
        "{HEAD}input_schema:\n{schema}steps:\n  - id: send\n    service: api\n    method: \"POST /a\"\n    input: {input}\n"
    )
}

const CLOSED: &str = "  type: object
  additionalProperties: false
  required: [order_id]
  properties:
    order_id: {type: string}
    priority: {type: string, default: normal}
    shipping:
      type: object
      additionalProperties: false
      properties:
        speed: {type: string}
    notes: {type: object}
";

#[test]
fn the_schema_is_kept_in_the_model_and_fills_defaults() {
    let yaml = workflow(CLOSED, "{id: \"{{ .input.order_id }}\"}");
    let w = load_str(&yaml, "w.yaml", &|_: &str| None).expect("valid");
    let schema = w.input_schema.as_ref().expect("a schema");
    assert_eq!(schema.document()["required"], json!(["order_id"]));
    let filled = w
        .check_input(json!({"order_id": "o-1"}))
        .expect("valid input");
    assert_eq!(filled, json!({"order_id": "o-1", "priority": "normal"}));
    assert!(w.check_input(json!({})).is_err());
}

#[test]
fn without_a_schema_any_object_is_taken_as_it_is() {
    let yaml = format!("{HEAD}steps:\n  - id: a\n    service: api\n    method: \"POST /a\"\n");
    let w = load_str(&yaml, "w.yaml", &|_: &str| None).expect("valid");
    assert!(w.input_schema.is_none());
    assert_eq!(w.check_input(json!({"x": 1})), Ok(json!({"x": 1})));
}

#[test]
fn an_invalid_schema_is_reported_at_each_wrong_keyword() {
    let schema = "  type: object
  properties:
    n: {type: integr}
    m:
      minimum: one
";
    let yaml = workflow(schema, "{}");
    let found = problems(&yaml);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with(
            "9:15: input_schema.properties.n.type: invalid JSON Schema: \"integr\" is not valid"
        ),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("11:16: input_schema.properties.m.minimum: invalid JSON Schema: \"one\" is not of type \"number\""),
        "{found:#?}"
    );
}

#[test]
fn a_schema_that_is_no_mapping_or_not_of_an_object_is_refused() {
    assert_eq!(
        problems(&workflow("  - a\n", "{}")),
        [
            "7:3: input_schema: expected a JSON Schema (a mapping), found a list | describe the input: `input_schema: {type: object, required: [id]}`"
        ]
    );
    assert_eq!(
        problems(&workflow("  type: array\n", "{}")),
        [
            "7:9: input_schema.type: a run's input is a JSON object, never the string `array` | write `type: object`, or leave `type` out"
        ]
    );
}

#[test]
fn a_remote_reference_is_refused_at_load_not_fetched() {
    let schema = "  properties:\n    x: {$ref: \"http://127.0.0.1:9/s.json\"}\n";
    let found = problems(&workflow(schema, "{}"));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("invalid JSON Schema"), "{found:#?}");
}

#[test]
fn a_template_reading_an_undeclared_property_is_located() {
    let input = "{id: \"{{ .input.order_idd }}\", fast: \"{{ .input.shipping.sped }}\"}";
    assert_eq!(
        problems(&workflow(CLOSED, input)),
        [
            "23:17: steps[0].input.id: `.input.order_idd`: input_schema does not declare `order_idd` in `.input`, whose `additionalProperties` is false | did you mean `order_id`?",
            "23:49: steps[0].input.fast: `.input.shipping.sped`: input_schema does not declare `sped` in `.input.shipping`, whose `additionalProperties` is false | did you mean `speed`?",
        ]
    );
}

#[test]
fn reads_anywhere_are_checked_and_declared_or_open_ones_pass() {
    let yaml = format!(
        "{HEAD}input_schema:\n{CLOSED}steps:\n  - id: a\n    service: api\n    method: \"POST /{{{{ .input.region }}}}\"\n    when: \"{{{{ .input.priority == 'high' }}}}\"\n    input: {{note: \"{{{{ .input.notes.anything }}}}\", s: \"{{{{ .input.shipping.speed }}}}\"}}\n"
    );
    assert_eq!(
        problems(&yaml),
        [
            "22:13: steps[0].method: `.input.region`: input_schema does not declare `region` in `.input`, whose `additionalProperties` is false | `.input` holds `order_id`, `priority`, `shipping` and `notes`; declare `region` in input_schema or read another"
        ]
    );
}

#[test]
fn an_open_schema_lets_templates_read_anything() {
    let schema = "  type: object\n  properties:\n    a: {type: string}\n";
    let yaml = workflow(schema, "{x: \"{{ .input.b.c }}\"}");
    assert!(load_str(&yaml, "w.yaml", &|_: &str| None).is_ok());
}
