use super::*;
use crate::workflow::decode::SHAPES;

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[test]
fn every_mapping_has_exactly_the_keys_the_decoder_accepts() {
    let schema = schema();
    for (name, fields) in SHAPES {
        let shape = match *name {
            "workflow" => &schema,
            _ => &schema["$defs"][*name],
        };
        let mut accepted: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        accepted.sort();
        assert_eq!(keys(shape), accepted, "{name}");
        assert_eq!(shape["additionalProperties"], false, "{name}");
    }
}

#[test]
fn every_object_definition_is_one_the_decoder_reads() {
    let schema = schema();
    let defs = schema["$defs"].as_object().unwrap();
    for (name, def) in defs {
        if def["type"] == "object" && def.get("properties").is_some() {
            assert!(SHAPES.iter().any(|(n, _)| n == name), "{name}");
        }
    }
}
