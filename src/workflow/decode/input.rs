//! The top-level `input_schema`: compiled, with each problem of the schema
//! located at the YAML it comes from, and the templates' reads of `.input`
//! checked against the properties it declares.

use std::collections::HashSet;

use super::dataflow::{INPUT, Use};
use super::{Cx, Pos, index, join};
use crate::workflow::input_schema::InputSchema;
use crate::workflow::suggest;
use crate::workflow::yaml::{Kind, Node};

const FIELD: &str = "input_schema";

/// The schema, or `None` with every problem reported.
pub fn decode(cx: &mut Cx<'_>, node: &Node) -> Option<InputSchema> {
    if !matches!(node.kind, Kind::Map(_) | Kind::Bool(_)) {
        cx.report(
            node.pos(),
            FIELD,
            format!("expected a JSON Schema (a mapping), found {}", node.found()),
            Some("describe the input: `input_schema: {type: object, required: [id]}`".into()),
        );
        return None;
    }
    if let Some(type_node) = field(node, "type")
        && !allows_object(&type_node.to_json())
    {
        cx.report(
            type_node.pos(),
            &join(FIELD, "type"),
            format!(
                "a run's input is a JSON object, never {}",
                type_node.found()
            ),
            Some("write `type: object`, or leave `type` out".into()),
        );
        return None;
    }
    match InputSchema::compile(node.to_json()) {
        Ok(schema) => Some(schema),
        Err(problems) => {
            for problem in problems {
                let segments = pointer_segments(&problem.pointer);
                let (at, path) = locate(node, &segments);
                cx.error(
                    at,
                    &path,
                    format!("invalid JSON Schema: {}", problem.message),
                );
            }
            None
        }
    }
}

fn field<'n>(node: &'n Node, name: &str) -> Option<&'n Node> {
    match &node.kind {
        Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v),
        _ => None,
    }
}

/// `type: object`, or a list of types holding `object`.
fn allows_object(kind: &serde_json::Value) -> bool {
    match kind {
        serde_json::Value::String(s) => s == "object",
        serde_json::Value::Array(items) => items.iter().any(|t| t == "object"),
        _ => true, // the meta-schema judges other shapes
    }
}

/// Every template read of `.input.…` that the schema rules out, once per
/// template and path.
pub fn check_reads(cx: &mut Cx<'_>, schema: &InputSchema, uses: &[Use]) {
    let mut seen: HashSet<(Pos, String)> = HashSet::new();
    for u in uses {
        let data = &u.read.data;
        if data.root != INPUT {
            continue;
        }
        let Some(undeclared) = schema.undeclared(&data.segments) else {
            continue;
        };
        let prefix = data.segments[..undeclared.depth]
            .iter()
            .fold(String::from(".input"), |p, s| format!("{p}.{s}"));
        if !seen.insert((u.read.at, format!("{prefix}.{}", undeclared.name))) {
            continue;
        }
        let declared = undeclared.declared.iter().map(String::as_str);
        let hint = suggest::did_you_mean(undeclared.name, declared.clone()).unwrap_or_else(|| {
            if undeclared.declared.is_empty() {
                format!("input_schema lets `{prefix}` hold no property; declare `{}` under its `properties`", undeclared.name)
            } else {
                format!("`{prefix}` holds {}; declare `{}` in input_schema or read another", suggest::list(declared), undeclared.name)
            }
        });
        cx.report(
            u.read.at,
            &u.read.path,
            format!(
                "`{data}`: input_schema does not declare `{}` in `{prefix}`, whose `additionalProperties` is false",
                undeclared.name
            ),
            Some(hint),
        );
    }
}

/// A JSON Pointer's reference tokens, unescaped (`~1` is `/`, `~0` is `~`).
fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The deepest node of the pointer that exists, and its workflow path.
fn locate(node: &Node, segments: &[String]) -> (Pos, String) {
    let mut current = node;
    let mut path = FIELD.to_string();
    for segment in segments {
        let next = match &current.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.name == *segment)
                .map(|(_, v)| (v, join(&path, segment))),
            Kind::Seq(items) => segment
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i).map(|v| (v, index(&path, i)))),
            _ => None,
        };
        match next {
            Some((next, next_path)) => (current, path) = (next, next_path),
            None => break,
        }
    }
    (current.pos(), path)
}
