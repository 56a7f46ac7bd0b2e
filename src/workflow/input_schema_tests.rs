use serde_json::json;

use super::*;

fn order_schema() -> InputSchema {
    InputSchema::compile(json!({
        "type": "object",
        "required": ["order_id", "items"],
        "properties": {
            "order_id": {"type": "string"},
            "items": {"type": "array", "maxItems": 2},
            "priority": {"type": "string", "default": "normal"},
            "shipping": {
                "type": "object",
                "default": {},
                "additionalProperties": false,
                "properties": {
                    "speed": {"enum": ["standard", "express"], "default": "standard"},
                    "address": {
                        "type": "object",
                        "properties": {"country": {"type": "string", "default": "FR"}},
                    },
                },
            },
        },
        "additionalProperties": false,
    }))
    .expect("a valid schema")
}

#[test]
fn defaults_fill_what_the_input_leaves_out_nested_objects_included() {
    let filled = order_schema()
        .apply(json!({"order_id": "o-1", "items": [], "shipping": {"address": {}}}))
        .expect("valid once filled");
    assert_eq!(
        filled,
        json!({
            "order_id": "o-1",
            "items": [],
            "shipping": {"address": {"country": "FR"}, "speed": "standard"},
            "priority": "normal",
        })
    );
}

#[test]
fn a_default_object_is_filled_in_turn_and_given_values_are_kept() {
    let filled = order_schema()
        .apply(json!({"order_id": "o-1", "items": [], "priority": "high"}))
        .expect("valid");
    assert_eq!(filled["priority"], "high");
    assert_eq!(filled["shipping"], json!({"speed": "standard"}));
    // An absent object without a default is not created.
    assert!(filled["shipping"].get("address").is_none());
}

#[test]
fn every_violation_is_listed_with_its_pointer() {
    let rejected = order_schema()
        .apply(json!({
            "items": [1, 2, 3],
            "priority": 7,
            "shipping": {"speed": "teleport", "colour": "red"},
            "extra": true,
        }))
        .expect_err("invalid");
    let mut paths: Vec<&str> = rejected
        .violations
        .iter()
        .map(|v| v.path.as_str())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "",
            "",
            "/items",
            "/priority",
            "/shipping",
            "/shipping/speed"
        ],
        "{rejected:#?}"
    );
    assert!(!rejected.truncated);
    let text = rejected.to_string();
    assert!(
        text.contains("\"order_id\" is a required property"),
        "{text}"
    );
    assert!(text.contains("at /priority: "), "{text}");
}

#[test]
fn messages_never_quote_the_input_values() {
    let schema = InputSchema::compile(json!({
        "properties": {"token": {"type": "integer"}, "code": {"enum": ["a"]}}
    }))
    .unwrap();
    let rejected = schema
        .apply(json!({"token": "s3cr3t-value", "code": "hunter2"}))
        .expect_err("invalid");
    let text = format!("{rejected} {}", rejected.summary());
    assert!(
        !text.contains("s3cr3t") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn a_hostile_input_gets_a_bounded_answer() {
    let schema =
        InputSchema::compile(json!({"properties": {"n": {"items": {"type": "string"}}}})).unwrap();
    let rejected = schema
        .apply(json!({"n": vec![0; 10 * MAX_VIOLATIONS]}))
        .expect_err("invalid");
    assert_eq!(rejected.violations.len(), MAX_VIOLATIONS);
    assert!(rejected.truncated);
    assert!(rejected.summary().contains("100 or more violations"));

    let long_key = "k".repeat(10 * MAX_VIOLATION_CHARS);
    let closed = InputSchema::compile(json!({
        "properties": {"a": {}, "b": {"type": "object", "properties": {}}},
        "additionalProperties": false,
    }))
    .unwrap();
    let rejected = closed
        .apply(json!({ "b": { &long_key: { &long_key: 1 } }, &long_key: 1 }))
        .expect_err("invalid");
    let message = &rejected.violations[0].message;
    assert_eq!(
        message.chars().count(),
        MAX_VIOLATION_CHARS + 1,
        "{message}"
    );
    assert!(message.ends_with('…'), "{message}");
}

#[test]
fn control_characters_in_keys_are_escaped_for_a_terminal() {
    let closed =
        InputSchema::compile(json!({"properties": {}, "additionalProperties": false})).unwrap();
    let rejected = closed.apply(json!({"\u{1b}[2Jx": 1})).expect_err("invalid");
    let raw = format!("{:?}", rejected.violations);
    assert!(raw.contains("\\u{1b}"), "the key is not quoted: {raw}");
    assert!(!rejected.to_string().contains('\u{1b}'), "{rejected}");
}

#[test]
fn invalid_schemas_are_refused_where_they_are_wrong() {
    let problems = InputSchema::compile(json!({
        "type": "object",
        "properties": {"n": {"type": "integr"}, "m": {"minimum": "one"}},
    }))
    .expect_err("invalid");
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert!(pointers.contains(&"/properties/n/type"), "{problems:#?}");
    assert!(pointers.contains(&"/properties/m/minimum"), "{problems:#?}");

    let other_draft = InputSchema::compile(json!({
        "$schema": "http://json-schema.org/draft-07/schema#"
    }))
    .expect_err("another dialect");
    assert_eq!(other_draft[0].pointer, "/$schema");
}

#[test]
fn references_reach_only_into_the_schema_itself() {
    let local = InputSchema::compile(json!({
        "$defs": {"id": {"type": "string"}},
        "properties": {"id": {"$ref": "#/$defs/id"}},
    }))
    .expect("a local reference resolves");
    assert!(local.apply(json!({"id": 1})).is_err());

    for remote in [
        "http://127.0.0.1:9/schema.json",
        "file:///etc/passwd",
        "other.json",
    ] {
        let refused = InputSchema::compile(json!({"properties": {"x": {"$ref": remote}}}));
        assert!(refused.is_err(), "{remote} was resolved");
    }
}

#[test]
fn reads_of_properties_a_closed_object_does_not_declare_are_found() {
    let schema = order_schema();
    let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let top = path(&["order_idd"]);
    let found = schema.undeclared(&top).expect("undeclared");
    assert_eq!((found.depth, found.name), (0, "order_idd"));
    assert_eq!(
        found.declared,
        ["order_id", "items", "priority", "shipping"]
    );

    let nested = path(&["shipping", "sped"]);
    let found = schema.undeclared(&nested).expect("undeclared");
    assert_eq!((found.depth, found.name), (1, "sped"));

    for fine in [
        path(&["order_id"]),
        path(&["items", "0", "sku"]),
        path(&["shipping", "address", "anything"]),
        path(&[]),
    ] {
        assert_eq!(schema.undeclared(&fine), None, "{fine:?}");
    }

    let open = InputSchema::compile(json!({"properties": {"a": {}}})).unwrap();
    assert_eq!(open.undeclared(&path(&["b"])), None);
    let patterned = InputSchema::compile(json!({
        "additionalProperties": false,
        "patternProperties": {"^x_": {}},
    }))
    .unwrap();
    assert_eq!(patterned.undeclared(&path(&["x_1"])), None);
}
