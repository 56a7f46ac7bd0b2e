//! JSON documents with templates at any depth.

use serde_json::json;

use super::scope;
use crate::template::{DataPath, ValueTemplate};

#[test]
fn nested_maps_and_lists_render() {
    let doc = json!({
        "customer": {
            "name": "{{ .input.name }}",
            "address": ["{{ .input.items[0].id }}", "static", 3, {"k": "{{ .input.flag }}"}],
        },
        "score": "{{ .credit_score.value }}",
        "note": "score {{ .credit_score.value }}",
        "constant": {"plain": [1, 2, "{ not a template }"]},
        "skipped": "{{ .approval.loan_id }}",
    });
    let t = ValueTemplate::parse(&doc).unwrap();
    assert_eq!(
        t.render(&scope()).unwrap(),
        json!({
            "customer": {"name": "Ada", "address": ["x", "static", 3, {"k": true}]},
            "score": 720,
            "note": "score 720",
            "constant": {"plain": [1, 2, "{ not a template }"]},
            "skipped": null,
        })
    );
}

#[test]
fn references_carry_the_leaf_path() {
    let t = ValueTemplate::parse(&json!({
        "customer": {"address": ["{{ .input.items[0].id }}"]},
        "top": "{{ .a.b }} {{ .c }}",
    }))
    .unwrap();
    let refs: Vec<(String, String)> = t
        .references()
        .into_iter()
        .map(|(at, p)| (at, p.to_string()))
        .collect();
    assert_eq!(
        refs,
        [
            (
                "customer.address[0]".to_owned(),
                ".input.items[0].id".to_owned()
            ),
            ("top".to_owned(), ".a.b".to_owned()),
            ("top".to_owned(), ".c".to_owned()),
        ]
    );
    let leaf = ValueTemplate::parse(&json!("{{ .x }}")).unwrap();
    assert_eq!(
        leaf.references(),
        [(
            String::new(),
            DataPath {
                root: "x".into(),
                segments: vec![]
            }
        )]
    );
}

#[test]
fn every_bad_leaf_is_reported() {
    let errors = ValueTemplate::parse(&json!({
        "a": {"b": ["{{ .x", "fine {{ .y }}", "{{ }}"]},
        "c": "{{ input.z }}",
    }))
    .unwrap_err();
    let at: Vec<&str> = errors.iter().map(|(at, _)| at.as_str()).collect();
    assert_eq!(at, ["a.b[0]", "a.b[2]", "c"]);
}

#[test]
fn documents_without_templates_are_constant() {
    let doc = json!({"a": [1, {"b": "text"}], "n": null});
    let t = ValueTemplate::parse(&doc).unwrap();
    assert!(t.references().is_empty());
    assert_eq!(t.render(&scope()).unwrap(), doc);
}

#[test]
fn a_render_error_stops_the_document() {
    let t = ValueTemplate::parse(&json!({"a": "{{ .input.nope }}"})).unwrap();
    assert!(t.render(&scope()).is_err());
}
