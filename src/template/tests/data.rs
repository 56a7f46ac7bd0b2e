//! Reading run data: exact integers, skipped steps, missing data, references.

use serde_json::json;

use super::{check, check_err, missing_path, render, render_err, scope};
use crate::template::{Condition, DataPath, Scope, Template, TemplateError};

#[test]
fn integers_stay_exact() {
    assert_eq!(render("{{ .input.id }}"), json!(9007199254740993u64));
    assert_eq!(render("{{ .input.big }}"), json!(18446744073709551615u64));
    assert_eq!(render("{{ .input.neg }}"), json!(-9007199254740993i64));
    assert_eq!(render("id={{ .input.id }}"), json!("id=9007199254740993"));
    assert!(check("{{ .input.id == 9007199254740993 }}"));
    assert!(!check("{{ .input.id == 9007199254740992 }}"));
    assert!(check("{{ .input.id > 9007199254740992 }}"));
    assert!(check("{{ .input.big == 18446744073709551615 }}"));
    assert!(check("{{ .input.neg == -9007199254740993 }}"));
    assert_eq!(render("{{ -9223372036854775808 }}"), json!(i64::MIN));
    assert_eq!(
        render("{{ true ? .input.id : 0 }}"),
        json!(9007199254740993u64)
    );
}

#[test]
fn skipped_step_reads_as_null() {
    assert!(!check("{{ .approval.status == 'approved' }}"));
    assert!(check("{{ .approval.status != 'approved' }}"));
    assert!(check("{{ !.approval.approved }}"));
    assert!(!check("{{ .approval.approved && true }}"));
    assert_eq!(render("{{ .approval.loan_id }}"), json!(null));
    assert_eq!(render("{{ .approval }}"), json!(null));
    assert_eq!(render("{{ .approval.a.b[3].c }}"), json!(null));
    assert_eq!(render("loan {{ .approval.loan_id }}"), json!("loan null"));
    assert_eq!(
        render("{{ .approval.status == 'approved' ? .approval.loan_id : 'none' }}"),
        json!("none")
    );
    let scope = scope();
    assert_eq!(scope.get("approval"), Some(&json!(null)));
    assert!(scope.is_skipped("approval"));
}

#[test]
fn a_later_insert_undoes_a_skip() {
    let mut scope = scope();
    scope.insert("approval", json!({"status": "approved"}));
    let c = Condition::parse("{{ .approval.status == 'approved' }}").unwrap();
    assert!(c.evaluate(&scope).unwrap());
    assert!(!scope.is_skipped("approval"));
    let t = Template::parse("{{ .approval.loan_id }}").unwrap();
    assert_eq!(
        missing_path(&t.render(&scope).unwrap_err()),
        "approval.loan_id"
    );
}

#[test]
fn missing_data_names_the_path() {
    let err = render_err("{{ .credit_score.score }}");
    assert_eq!(missing_path(&err), "credit_score.score");
    assert!(err.to_string().contains("`value`"), "{err}");
    assert_eq!(
        missing_path(&render_err("{{ .input.payload.c.d }}")),
        "input.payload.c.d"
    );
    assert_eq!(
        missing_path(&render_err("x {{ .input.payload.c }} y")),
        "input.payload.c"
    );
    assert_eq!(
        missing_path(&check_err(
            "{{ .credit_score.value > 1 && .fraud_risk.score > 2 }}"
        )),
        "fraud_risk.score"
    );
    // A root nobody produced.
    let err = render_err("{{ .nope.x }}");
    assert_eq!(missing_path(&err), "nope.x");
    assert_eq!(missing_path(&render_err("{{ .nope }}")), "nope");
    // Out of range.
    let err = render_err("{{ .input.items[5].id }}");
    assert_eq!(missing_path(&err), "input.items[5].id");
    assert!(err.to_string().contains("2 element"), "{err}");
    // Below a string, and below a null that is not a skipped step.
    assert_eq!(
        missing_path(&render_err("{{ .input.name.first }}")),
        "input.name.first"
    );
    assert_eq!(
        missing_path(&render_err("{{ .input.nothing.x }}")),
        "input.nothing.x"
    );
    assert_eq!(
        render_err("{{ .credit_score.score }}").to_string(),
        "`.credit_score.score` is not in the run's data (`credit_score` has no field `score`; it has `value`)"
    );
}

#[test]
fn only_evaluated_paths_must_exist() {
    assert!(check("{{ .input.flag || .nope.x }}"));
    assert!(!check("{{ false && .nope.x }}"));
    assert_eq!(render("{{ .input.flag ? 1 : .nope.x }}"), json!(1));
}

#[test]
fn bracketed_keys_and_indexes() {
    assert_eq!(
        render("{{ .input.headers['content-type'] }}"),
        json!("application/json")
    );
    assert_eq!(
        render("{{ .input.items[0].id }}{{ .input.tags[1] }}"),
        json!("xb")
    );
}

#[test]
fn not_boolean_and_eval_errors() {
    for (source, got) in [
        ("{{ .credit_score.value }}", "720"),
        ("{{ .fraud_risk.level }}", "\"low\""),
        ("{{ .approval.status }}", "null"),
        ("{{ .input.payload }}", r#"{"a":1,"b":[true,null]}"#),
    ] {
        assert_eq!(
            check_err(source),
            TemplateError::NotBoolean {
                template: source.to_owned(),
                got: got.to_owned()
            }
        );
    }
    match render_err("{{ .input.nothing > 3 }}") {
        TemplateError::Eval { template, message } => {
            assert_eq!(template, "{{ .input.nothing > 3 }}");
            assert!(message.contains("`null`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn references_list_every_path() {
    let t =
        Template::parse("{{ .input.items[0].id }}/{{ .a.b }}/{{ .input.items[0].id }}").unwrap();
    assert_eq!(
        t.references(),
        vec![
            DataPath {
                root: "input".into(),
                segments: vec!["items".into(), "0".into(), "id".into()]
            },
            DataPath {
                root: "a".into(),
                segments: vec!["b".into()]
            },
        ]
    );
    assert_eq!(t.references()[0].to_string(), ".input.items[0].id");
    let c = Condition::parse("{{ .x ? .y['k-1'] : !.z }}").unwrap();
    let roots: Vec<String> = c.references().iter().map(|p| p.to_string()).collect();
    assert_eq!(roots, [".x", ".y.k-1", ".z"]);
    assert_eq!(c.source(), "{{ .x ? .y['k-1'] : !.z }}");
}

#[test]
fn conditions_accept_a_bare_expression() {
    let c = Condition::parse(".credit_score.value > 700 && .fraud_risk.level == 'low'").unwrap();
    assert!(c.evaluate(&scope()).unwrap());
    assert!(check("  {{ true }}\n"));
}

#[test]
fn scope_is_shareable() {
    fn assert_shared<T: Clone + Send + Sync + 'static>() {}
    assert_shared::<Scope>();
    assert_shared::<Template>();
    assert_shared::<Condition>();
    let scope = scope();
    let copy = scope.clone();
    let handle = std::thread::spawn(move || {
        Template::parse("{{ .input.name }}")
            .unwrap()
            .render(&copy)
            .unwrap()
    });
    assert_eq!(handle.join().ok(), Some(json!("Ada")));
    assert_eq!(scope.get("credit_score"), Some(&json!({"value": 720})));
    assert_eq!(scope.get("other"), None);
    assert_eq!(Scope::new(json!(1)).get("input"), Some(&json!(1)));
}

/// A path read alone, and the same path read inside an expression that
/// keeps its value (and in text rendered by tera), agree.
#[test]
fn paths_read_alone_agree_with_paths_in_expressions() {
    let paths = [
        ".input",
        ".input.id",
        ".input.big",
        ".input.neg",
        ".input.ratio",
        ".input.name",
        ".input.nothing",
        ".input.items",
        ".input.items[1].id",
        ".input.payload.b",
        ".input['headers']['content-type']",
        ".credit_score",
        ".approval",
        ".approval.x[2].y",
    ];
    for path in paths {
        let direct = render(&format!("{{{{ {path} }}}}"));
        let through_tera = render(&format!("{{{{ true ? {path} : 0 }}}}"));
        assert_eq!(direct, through_tera, "{path}");
        let text = render(&format!("<{{{{ {path} }}}}|{{{{ .input.name }}}}>"));
        let text_tera = render(&format!(
            "<{{{{ true ? {path} : 0 }}}}|{{{{ .input.name }}}}>"
        ));
        assert_eq!(text, text_tera, "{path}");
    }
    for path in [
        ".nope",
        ".input.payload.zz",
        ".input.items[5]",
        ".input.name.x",
    ] {
        let direct = render_err(&format!("{{{{ {path} }}}}"));
        let through_tera = render_err(&format!("{{{{ true ? {path} : 0 }}}}"));
        assert_eq!(direct.to_string(), through_tera.to_string(), "{path}");
        assert_eq!(missing_path(&direct), path.trim_start_matches('.'));
    }
}
