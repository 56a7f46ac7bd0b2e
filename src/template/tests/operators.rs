//! Operators, precedence, typed whole values and interpolation.

use serde_json::json;

use super::{check, render, scope};
use crate::template::Template;

#[test]
fn comparisons_of_numbers() {
    assert!(check("{{ .credit_score.value > 700 }}"));
    assert!(!check("{{ .credit_score.value < 700 }}"));
    assert!(check("{{ .credit_score.value >= 720 }}"));
    assert!(check("{{ .credit_score.value <= 720 }}"));
    assert!(!check("{{ .credit_score.value <= 719 }}"));
    assert!(check("{{ .credit_score.value == 720 }}"));
    assert!(check("{{ .credit_score.value != 721 }}"));
    // Integers and floats compare by value.
    assert!(check("{{ .credit_score.value == 720.0 }}"));
    assert!(check("{{ .input.ratio < 1 }}"));
    assert!(check("{{ .input.ratio > -0.5 }}"));
    assert!(check("{{ -3 < -2 }}"));
}

#[test]
fn comparisons_of_strings_and_others() {
    assert!(check("{{ .fraud_risk.level == 'low' }}"));
    assert!(check("{{ .fraud_risk.level == \"low\" }}"));
    assert!(check("{{ .fraud_risk.level != 'high' }}"));
    assert!(check("{{ 'abc' < 'abd' }}"));
    assert!(check("{{ .input.name >= 'Ada' }}"));
    assert!(!check("{{ .input.name > 'B' }}"));
    // Different types are never equal.
    assert!(!check("{{ .credit_score.value == '720' }}"));
    assert!(check("{{ .input.nothing == null }}"));
    assert!(check("{{ .input.flag == true }}"));
}

#[test]
fn logic_operators() {
    assert!(check(
        "{{ .credit_score.value > 700 && .fraud_risk.level == 'low' }}"
    ));
    assert!(!check(
        "{{ .credit_score.value > 800 && .fraud_risk.level == 'low' }}"
    ));
    assert!(check(
        "{{ .credit_score.value > 800 || .fraud_risk.level == 'low' }}"
    ));
    assert!(!check("{{ false || false }}"));
    assert!(check("{{ !false }}"));
    assert!(!check("{{ !.input.flag }}"));
    // `&&`/`||` give booleans whatever their operands, by truthiness.
    assert_eq!(render("{{ .input.name && .input.ratio }}"), json!(true));
    assert_eq!(render("{{ .input.nothing || 0 }}"), json!(false));
    assert_eq!(render("{{ !.input.tags }}"), json!(false));
}

#[test]
fn precedence() {
    // `&&` binds tighter than `||`.
    assert!(check("{{ true || false && false }}"));
    assert!(!check("{{ (true || false) && false }}"));
    assert!(check("{{ false && false || true }}"));
    // `!` binds tighter than `&&` and than comparisons.
    assert!(!check("{{ !false && false }}"));
    assert!(check("{{ !(false && false) }}"));
    assert!(check("{{ !.input.flag == false }}"));
    assert!(check("{{ !!.input.flag }}"));
    // The ternary is loosest and groups to the right.
    assert_eq!(render("{{ false ? 'a' : true ? 'b' : 'c' }}"), json!("b"));
    assert_eq!(render("{{ true || false ? 'y' : 'n' }}"), json!("y"));
    assert_eq!(
        render("{{ (true ? false : true) ? 'y' : 'n' }}"),
        json!("n")
    );
}

#[test]
fn ternaries() {
    let source = "{{ .fraud_risk.level == 'high' ? 'urgent' : 'normal' }}";
    assert_eq!(render(source), json!("normal"));
    assert_eq!(
        render("{{ .input.flag ? .credit_score : 0 }}"),
        json!({"value": 720})
    );
    assert_eq!(render("{{ .input.nothing ? 1 : 2 }}"), json!(2));
}

#[test]
fn typed_whole_values() {
    assert_eq!(
        render("{{ .input.payload }}"),
        json!({"a": 1, "b": [true, null]})
    );
    assert_eq!(render("{{ .input.tags }}"), json!(["a", "b"]));
    assert_eq!(render("{{ .credit_score.value }}"), json!(720));
    assert_eq!(render("{{ .input.ratio }}"), json!(0.5));
    assert_eq!(render("{{ .input.flag }}"), json!(true));
    assert_eq!(render("{{ .input.nothing }}"), json!(null));
    assert_eq!(render("{{ .input.name }}"), json!("Ada"));
    assert_eq!(render("{{ .input.payload.b[1] }}"), json!(null));
    assert_eq!(render("{{ 2.0 }}"), json!(2.0));
    assert_eq!(render("{{ -7 }}"), json!(-7));
    assert_eq!(render("{{ null }}"), json!(null));
    // Key order survives the round trip.
    let keys: Vec<String> = match render("{{ .input }}") {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        other => panic!("{other}"),
    };
    assert_eq!(keys[..3], ["payload", "id", "big"]);
}

#[test]
fn interpolation() {
    assert_eq!(
        render("{{ .input.name }} scored {{ .credit_score.value }}!"),
        json!("Ada scored 720!")
    );
    assert_eq!(
        render("POST /orders/{{ .input.items[1].id }}/cancel"),
        json!("POST /orders/y/cancel")
    );
    // Non-strings are written as compact JSON.
    assert_eq!(
        render("p={{ .input.payload }}"),
        json!(r#"p={"a":1,"b":[true,null]}"#)
    );
    assert_eq!(
        render(
            "t={{ .input.tags }};f={{ .input.flag }};n={{ .input.nothing }};r={{ .input.ratio }}"
        ),
        json!(r#"t=["a","b"];f=true;n=null;r=0.5"#)
    );
    assert_eq!(render(" {{ .credit_score.value }}"), json!(" 720"));
    // Text that looks like tera syntax is just text.
    assert_eq!(
        render("{% if x %} {# c #} {x} {{ .input.name }}{"),
        json!("{% if x %} {# c #} {x} Ada{")
    );
    assert_eq!(render("a\n\t{{ .input.name }}\n"), json!("a\n\tAda\n"));
}

#[test]
fn literals_and_render_string() {
    let t = Template::parse("plain text }} here").unwrap();
    assert!(t.is_literal());
    assert_eq!(t.render(&scope()).unwrap(), json!("plain text }} here"));
    assert!(t.references().is_empty());
    assert!(Template::parse("").unwrap().is_literal());

    let s = |src: &str| {
        Template::parse(src)
            .unwrap()
            .render_string(&scope())
            .unwrap()
    };
    assert_eq!(s("{{ .input.name }}"), "Ada");
    assert_eq!(s("{{ .credit_score.value }}"), "720");
    assert_eq!(s("{{ .input.payload }}"), r#"{"a":1,"b":[true,null]}"#);
    assert_eq!(s("Bearer {{ .input.name }}"), "Bearer Ada");
    assert_eq!(s("static"), "static");
    assert_eq!(Template::parse("x{{ 1 }}").unwrap().source(), "x{{ 1 }}");
}

#[test]
fn strings_holding_syntax() {
    assert_eq!(
        render("{{ 'a ? b && c || !d }}' }}"),
        json!("a ? b && c || !d }}")
    );
    assert_eq!(render("{{ \"{{ .x }}\" }}"), json!("{{ .x }}"));
    assert_eq!(render("{{ \"it's\" }}"), json!("it's"));
    assert_eq!(render(r#"{{ 'say "hi"' }}"#), json!("say \"hi\""));
    assert_eq!(render(r#"{{ 'it\'s \\ \n' }}"#), json!("it's \\ \n"));
    assert_eq!(render(r#"{{ "a\"b" }}"#), json!("a\"b"));
    assert!(!check("{{ .fraud_risk.level == 'lo?w' }}"));
    assert_eq!(
        render("{{ .fraud_risk.level == 'low' ? 'x ? y : z' : '&&' }}"),
        json!("x ? y : z")
    );
    assert_eq!(render("{{ '' }}"), json!(""));
    assert_eq!(render("{{ 'héllo wörld ✓' }}"), json!("héllo wörld ✓"));
}

#[test]
fn coalescing_reads_the_right_side_when_the_left_is_missing_or_null() {
    assert_eq!(
        render("{{ .input.email ?? 'ops@example.com' }}"),
        json!("ops@example.com")
    );
    assert_eq!(render("{{ .input.nothing ?? 3 }}"), json!(3));
    assert_eq!(render("{{ .nobody.knows.this ?? 'x' }}"), json!("x"));
    assert_eq!(render("{{ .approval.decision ?? 'none' }}"), json!("none"));
    // A value that is there, even false or empty, is kept.
    assert_eq!(render("{{ .input.name ?? 'x' }}"), json!("Ada"));
    assert_eq!(render("{{ .input.flag == false ?? 'x' }}"), json!(false));
    assert_eq!(render("{{ .input.payload.a ?? 0 }}"), json!(1));
    // Chains read left to right; the last one may still be missing.
    assert_eq!(
        render("{{ .input.a ?? .input.b ?? .input.id }}"),
        json!(9007199254740993u64)
    );
    assert!(
        Template::parse("{{ .input.a ?? .input.b }}")
            .expect("parses")
            .render(&scope())
            .is_err()
    );
    // Looser than `||`, tighter than the ternary.
    assert_eq!(render("{{ .input.nothing ?? false || true }}"), json!(true));
    assert_eq!(render("{{ .input.gone ?? true ? 'y' : 'n' }}"), json!("y"));
    assert_eq!(
        render("mail={{ .input.email ?? 'ops' }}"),
        json!("mail=ops")
    );
}

#[test]
fn coalescing_does_not_hide_other_errors() {
    let err = Template::parse("{{ (.input.name < 3) ?? 'x' }}")
        .expect("parses")
        .render(&scope())
        .unwrap_err();
    assert!(err.to_string().contains("Cannot compare"), "{err}");
}
