//! A step's input as a query string, for verbs that carry no body: each
//! top-level field becomes one parameter.

use serde_json::Value;

use crate::template::type_name;

/// `{"sku": "A1", "qty": 2, "tags": ["x"]}` as
/// `[("sku", "A1"), ("qty", "2"), ("tags", "[\"x\"]")]`.
///
/// Scalars are written as text; nested arrays and objects as JSON, since a
/// query string has no structure of its own; `null` fields are left out, as
/// an absent parameter. A `null` input gives no parameters; any other
/// non-object input is refused.
pub fn flatten(input: &Value) -> Result<Vec<(String, String)>, String> {
    match input {
        Value::Null => Ok(Vec::new()),
        Value::Object(fields) => Ok(fields
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), scalar_text(value)?)))
            .collect()),
        other => Err(format!(
            "the input of a request without a body must be an object (its fields become query parameters), got {}",
            type_name(other)
        )),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        nested => Some(nested.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn scalars_become_text_in_field_order() {
        let input = json!({"sku": "A 1", "qty": 2, "price": 9.5, "gift": false, "big": 9007199254740993u64});
        assert_eq!(
            flatten(&input).unwrap(),
            pairs(&[
                ("sku", "A 1"),
                ("qty", "2"),
                ("price", "9.5"),
                ("gift", "false"),
                ("big", "9007199254740993"),
            ])
        );
    }

    #[test]
    fn nested_values_become_json_and_nulls_are_left_out() {
        let input = json!({"tags": ["a", "b"], "filter": {"min": 1}, "cursor": null});
        assert_eq!(
            flatten(&input).unwrap(),
            pairs(&[("tags", r#"["a","b"]"#), ("filter", r#"{"min":1}"#)])
        );
    }

    #[test]
    fn only_objects_and_null_are_accepted() {
        assert_eq!(flatten(&Value::Null).unwrap(), vec![]);
        let err = flatten(&json!([1, 2])).unwrap_err();
        assert!(err.contains("an array"), "{err}");
        assert!(flatten(&json!("x")).is_err());
    }
}
