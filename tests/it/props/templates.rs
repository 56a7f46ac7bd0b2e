//! Templates on arbitrary text and on generated expressions, rendered
//! against random run data: parse errors or values, never a panic; and a
//! template reading one value gives back exactly that value.

use maestro::template::{Condition, Scope, Template, TemplateError, ValueTemplate};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{config, json, text};

/// Run data with an input and two step outputs, one of them skipped.
fn scope() -> impl Strategy<Value = Scope> {
    (json(), json(), any::<bool>()).prop_map(|(input, out, skip)| {
        let mut scope = Scope::new(input);
        scope.insert("a", out);
        if skip {
            scope.skip("b");
        }
        scope
    })
}

/// Paths into the data above, existing or not.
fn path() -> impl Strategy<Value = String> {
    let root = prop::sample::select(vec![".input", ".a", ".b", ".nope"]);
    let segment = prop_oneof![
        "\\.[a-z_]{1,3}",
        (0usize..4).prop_map(|i| format!("[{i}]")),
        "[a-z_ -]{0,3}".prop_map(|k| format!("[\"{k}\"]")),
    ];
    (root, prop::collection::vec(segment, 0..3)).prop_map(|(r, s)| format!("{r}{}", s.concat()))
}

/// Well-formed expressions within the language's limits.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        path(),
        prop::sample::select(vec!["null", "nil", "true", "false", "0", "-1", "2.5"])
            .prop_map(str::to_owned),
        any::<u64>().prop_map(|u| u.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        "[a-z \"]{0,6}".prop_map(|s| format!("'{s}'")),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        let op = prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">=", "&&", "||"]);
        prop_oneof![
            inner.clone().prop_map(|e| format!("!({e})")),
            inner.clone().prop_map(|e| format!("({e})")),
            (inner.clone(), op, inner.clone()).prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            (inner.clone(), inner.clone(), inner).prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
        ]
    })
}

/// Template text: literal text around generated or arbitrary expressions.
fn template_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        text(),
        expression().prop_map(|e| format!("{{{{ {e} }}}}")),
        text().prop_map(|t| format!("{{{{{t}}}}}")),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|p| p.concat())
}

/// What a failed render may say: never an empty message.
fn check_error(err: &TemplateError) {
    assert!(!err.to_string().is_empty());
}

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn any_template_text_parses_or_is_refused_and_renders_or_fails(
        source in template_text(),
        scope in scope(),
    ) {
        match Template::parse(&source) {
            Err(TemplateError::Syntax { template, message }) => {
                prop_assert_eq!(template, source);
                prop_assert!(!message.is_empty());
            }
            Err(other) => prop_assert!(false, "not a syntax error: {other}"),
            Ok(template) => {
                if template.is_literal() {
                    prop_assert_eq!(template.render(&scope).ok(), Some(Value::String(source)));
                } else if let Err(err) = template.render(&scope) {
                    check_error(&err);
                }
            }
        }
    }

    #[test]
    fn generated_expressions_parse_and_evaluate_or_fail_cleanly(
        expr in expression(),
        scope in scope(),
    ) {
        let template = Template::parse(&format!("{{{{ {expr} }}}}"));
        prop_assert!(template.is_ok(), "{expr}: {}", template.err().map(|e| e.to_string()).unwrap_or_default());
        if let Err(err) = template.and_then(|t| t.render(&scope)) {
            check_error(&err);
        }
        let condition = Condition::parse(&expr);
        prop_assert!(condition.is_ok(), "{expr}");
        match condition.and_then(|c| c.evaluate(&scope)) {
            Ok(_) => {}
            Err(err @ (TemplateError::NotBoolean { .. }
            | TemplateError::Missing { .. }
            | TemplateError::Eval { .. })) => check_error(&err),
            Err(other) => prop_assert!(false, "{expr}: {other}"),
        }
    }

    #[test]
    fn any_condition_text_parses_or_is_refused(source in template_text(), scope in scope()) {
        if let Ok(condition) = Condition::parse(&source)
            && let Err(err) = condition.evaluate(&scope)
        {
            check_error(&err);
        }
    }

    #[test]
    fn documents_with_templates_at_any_depth_render_or_fail_cleanly(
        doc in json(),
        scope in scope(),
    ) {
        match ValueTemplate::parse(&doc) {
            Err(errors) => prop_assert!(!errors.is_empty()),
            Ok(template) => {
                if let Err(err) = template.render(&scope) {
                    check_error(&err);
                }
            }
        }
    }

    /// `{{ .input.v }}` is the value itself, integers beyond 2^53 included,
    /// and text around it holds the value as compact JSON.
    #[test]
    fn a_template_reading_one_value_gives_it_back_exactly(value in json()) {
        let scope = Scope::new(json!({"v": value.clone()}));
        let whole = Template::parse("{{ .input.v }}").expect("parses");
        prop_assert_eq!(whole.render(&scope).expect("renders"), value.clone());
        let inside = Template::parse("<{{ .input.v }}>").expect("parses");
        let text = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        prop_assert_eq!(inside.render(&scope).expect("renders"), Value::String(format!("<{text}>")));
    }
}
