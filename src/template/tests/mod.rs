//! Unit tests of the template language, against one shared sample of run
//! data: operators and typing, data access, syntax errors, JSON documents.

mod data;
mod operators;
mod syntax_errors;
mod values;

use serde_json::{Value, json};

use super::{Condition, Scope, Template, TemplateError};

/// `input`, two step outputs, and `approval` from a skipped step.
fn scope() -> Scope {
    let mut scope = Scope::new(json!({
        "payload": {"a": 1, "b": [true, null]},
        "id": 9007199254740993u64,
        "big": 18446744073709551615u64,
        "neg": -9007199254740993i64,
        "ratio": 0.5,
        "name": "Ada",
        "flag": true,
        "nothing": null,
        "items": [{"id": "x"}, {"id": "y"}],
        "tags": ["a", "b"],
        "headers": {"content-type": "application/json"},
    }));
    scope.insert("credit_score", json!({"value": 720}));
    scope.insert("fraud_risk", json!({"level": "low"}));
    scope.skip("approval");
    scope
}

fn render(source: &str) -> Value {
    match Template::parse(source) {
        Ok(t) => t
            .render(&scope())
            .unwrap_or_else(|e| panic!("render {source}: {e}")),
        Err(e) => panic!("parse {source}: {e}"),
    }
}

fn render_err(source: &str) -> TemplateError {
    match Template::parse(source) {
        Ok(t) => match t.render(&scope()) {
            Ok(v) => panic!("{source} rendered {v}, expected an error"),
            Err(e) => e,
        },
        Err(e) => panic!("parse {source}: {e}"),
    }
}

fn check(source: &str) -> bool {
    match Condition::parse(source) {
        Ok(c) => c
            .evaluate(&scope())
            .unwrap_or_else(|e| panic!("evaluate {source}: {e}")),
        Err(e) => panic!("parse {source}: {e}"),
    }
}

fn check_err(source: &str) -> TemplateError {
    match Condition::parse(source) {
        Ok(c) => match c.evaluate(&scope()) {
            Ok(b) => panic!("{source} gave {b}, expected an error"),
            Err(e) => e,
        },
        Err(e) => panic!("parse {source}: {e}"),
    }
}

/// The message of a syntax error, which must quote the template.
fn syntax_message(source: &str) -> String {
    match Template::parse(source) {
        Ok(_) => panic!("{source} parsed, expected a syntax error"),
        Err(TemplateError::Syntax { template, message }) => {
            assert_eq!(template, source);
            message
        }
        Err(other) => panic!("{source}: expected a syntax error, got {other}"),
    }
}

fn missing_path(err: &TemplateError) -> &str {
    match err {
        TemplateError::Missing { path, .. } => path,
        other => panic!("expected Missing, got {other:?}"),
    }
}
