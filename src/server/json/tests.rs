//! The strict parser against serde_json's own: the same values for what
//! both accept, and a located refusal for what serde_json lets through.

use serde_json::{Value, json};

use super::{JsonError, parse, require_object};

fn refused(text: &str, root: &str) -> JsonError {
    parse(text.as_bytes(), root).expect_err(text)
}

#[test]
fn values_are_read_as_serde_json_reads_them() {
    for text in [
        r#"{"a": 1, "b": [true, null, "x", -2, 1.5, {"c": {}}], "d": "\"1e999\\\"9"}"#,
        "[]",
        "0",
        "-0",
        "1e20",
        "6.02e23",
        "-1.0E-5",
        "18446744073709551615",
        "-9223372036854775808",
        "[9223372036854775807, 12345678901234567890.0, 1e400000000000]",
        r#"{"a": {"a": {"a": 1}}, "b": {"a": 2}}"#,
        r#"[{"k": 1}, {"k": 2}]"#,
        "\"\\ud83d\\ude00 \\\" 99999999999999999999999\"",
    ] {
        let expected = serde_json::from_str::<Value>(text);
        let got = parse(text.as_bytes(), "");
        match expected {
            Ok(expected) => assert_eq!(got, Ok(expected), "{text}"),
            Err(_) => assert!(matches!(got, Err(JsonError::Syntax { .. })), "{text}"),
        }
    }
}

#[test]
fn a_key_given_twice_is_refused_at_any_depth_with_its_place() {
    assert_eq!(
        refused(r#"{"input": {}, "input": {}}"#, ""),
        JsonError::DuplicateKey {
            key: "input".into(),
            at: "the top level".into(),
            line: 1,
            column: 21,
        }
    );
    let deep = "{\"order\": {\"items\": [{\"sku\": 1},\n {\"sku\": 2, \"qty\": 1, \"sku\": 3}]}}";
    match refused(deep, "input") {
        JsonError::DuplicateKey { key, at, line, .. } => {
            assert_eq!(
                (key.as_str(), at.as_str(), line),
                ("sku", "input.order.items[1]", 2)
            );
        }
        other => panic!("{other:?}"),
    }
    let odd = refused(r#"{"a b": {"x": 1, "x": 2}}"#, "input");
    assert!(odd.to_string().contains(r#"input["a b"]"#), "{odd}");
    // The same key in two objects is no duplicate.
    assert!(parse(br#"{"a": {"k": 1}, "b": {"k": 1}}"#, "").is_ok());
}

#[test]
fn an_integer_beyond_64_bits_is_refused_not_rounded() {
    for (text, at) in [
        (r#"{"id": 18446744073709551616}"#, "input.id"),
        (r#"{"id": -9223372036854775809}"#, "input.id"),
        (
            r#"{"a": [1.5, "7", 2, 123456789012345678901234567890]}"#,
            "input.a[3]",
        ),
    ] {
        match refused(text, "input") {
            JsonError::BigInteger { at: got, digits } => {
                assert_eq!(got, at, "{text}");
                assert!(text.contains(&digits), "{text}: {digits}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    let long = format!("[{}]", "9".repeat(300));
    let message = refused(&long, "input").to_string();
    assert!(message.contains("(300 digits)"), "{message}");
    assert!(message.len() < 200, "{message}");
}

#[test]
fn what_is_not_json_is_a_syntax_error() {
    for text in ["", "{", "{\"a\":1} trailing", "\u{feff}{}", "[1,]", "nul"] {
        assert!(
            matches!(refused(text, ""), JsonError::Syntax { .. }),
            "{text:?}"
        );
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(refused(&deep, ""), JsonError::Syntax { .. }));
}

#[test]
fn an_input_must_be_an_object() {
    assert!(require_object(json!({"a": 1}), "input").is_ok());
    assert_eq!(
        require_object(Value::Null, "input")
            .unwrap_err()
            .to_string(),
        "input must be a JSON object, not null"
    );
}
