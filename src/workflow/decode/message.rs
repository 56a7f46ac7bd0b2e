//! A gRPC step's (or compensation's) `input` checked against its method's
//! request message, when the service has `proto` files: every field named
//! must exist, and every literal must fit the field's type. A `{{ }}`
//! template is checked at run time, when its value is known.

use prost_reflect::{FieldDescriptor, Kind as ProtoKind, MessageDescriptor};

use super::{Cx, join};
use crate::workflow::suggest;
use crate::workflow::yaml::{Kind, Node};

/// Report every field of `node` that `message` does not have, and every
/// literal of the wrong type, at its own line and column.
pub fn check(cx: &mut Cx<'_>, node: &Node, path: &str, message: &MessageDescriptor) {
    match &node.kind {
        Kind::Map(entries) => {
            for (key, value) in entries {
                let at = join(path, &key.name);
                match field(message, &key.name) {
                    Some(field) => check_field(cx, value, &at, &field),
                    None => cx.report(
                        key.pos(),
                        &at,
                        format!(
                            "message `{}` has no field `{}`",
                            message.full_name(),
                            key.name
                        ),
                        Some(fields_hint(message, &key.name)),
                    ),
                }
            }
        }
        Kind::Null => {}
        _ if is_template(node) => {}
        _ => cx.error(
            node.pos(),
            path,
            format!(
                "`{}` is a message: expected a mapping, found {}",
                message.full_name(),
                node.found()
            ),
        ),
    }
}

/// By its name in the `.proto` file or its JSON name, as the wire accepts.
fn field(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
}

fn fields_hint(message: &MessageDescriptor, name: &str) -> String {
    let names: Vec<String> = message.fields().map(|f| f.name().to_owned()).collect();
    let names = names.iter().map(String::as_str);
    suggest::did_you_mean(name, names.clone())
        .unwrap_or_else(|| format!("its fields are {}", suggest::list(names)))
}

fn check_field(cx: &mut Cx<'_>, value: &Node, path: &str, field: &FieldDescriptor) {
    if is_template(value) || matches!(value.kind, Kind::Null) {
        return;
    }
    if field.is_map() {
        if !matches!(value.kind, Kind::Map(_)) {
            wrong(cx, value, path, field, "a mapping");
        }
        return;
    }
    if field.is_list() {
        match &value.kind {
            Kind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_value(cx, item, &format!("{path}[{i}]"), field);
                }
            }
            _ => wrong(cx, value, path, field, "a list"),
        }
        return;
    }
    check_value(cx, value, path, field);
}

/// One value of the field's own kind (an element, for a repeated field).
fn check_value(cx: &mut Cx<'_>, value: &Node, path: &str, field: &FieldDescriptor) {
    if is_template(value) || matches!(value.kind, Kind::Null) {
        return;
    }
    let fits = match (field.kind(), &value.kind) {
        (ProtoKind::Message(m), _) if m.full_name().starts_with("google.protobuf.") => true,
        (ProtoKind::Message(m), Kind::Map(_)) => {
            check(cx, value, path, &m);
            true
        }
        (ProtoKind::Bool, Kind::Bool(_)) => true,
        (ProtoKind::String | ProtoKind::Bytes, Kind::Str(_)) => true,
        (ProtoKind::Double | ProtoKind::Float, Kind::Number(_)) => true,
        (ProtoKind::Double | ProtoKind::Float, Kind::Str(s)) => {
            matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity")
        }
        (kind, Kind::Number(n)) if is_integer(&kind) => n.is_i64() || n.is_u64(),
        // Proto3 JSON also takes integers as strings (64-bit ones often are).
        (kind, Kind::Str(s)) if is_integer(&kind) => s.trim().parse::<i128>().is_ok(),
        (ProtoKind::Enum(e), Kind::Str(s)) => {
            if e.get_value_by_name(s).is_none() {
                let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
                let names = names.iter().map(String::as_str);
                cx.report(
                    value.pos(),
                    path,
                    format!("enum `{}` has no value `{s}`", e.full_name()),
                    Some(
                        suggest::did_you_mean(s, names.clone())
                            .unwrap_or_else(|| format!("one of {}", suggest::list(names))),
                    ),
                );
            }
            true
        }
        (ProtoKind::Enum(_), Kind::Number(n)) => n.is_i64(),
        _ => false,
    };
    if !fits {
        wrong(cx, value, path, field, &type_name(field));
    }
}

fn wrong(cx: &mut Cx<'_>, value: &Node, path: &str, field: &FieldDescriptor, expected: &str) {
    cx.report(
        value.pos(),
        path,
        format!(
            "field `{}` of `{}` takes {expected}, found {}",
            field.name(),
            field.parent_message().full_name(),
            value.found()
        ),
        Some("checked against the service's `proto` files".into()),
    );
}

fn type_name(field: &FieldDescriptor) -> String {
    match field.kind() {
        ProtoKind::Message(m) => format!("a `{}` message (a mapping)", m.full_name()),
        ProtoKind::Enum(e) => format!("a value of enum `{}`", e.full_name()),
        ProtoKind::Bool => "a boolean".into(),
        ProtoKind::String => "a string".into(),
        ProtoKind::Bytes => "base64 text".into(),
        ProtoKind::Double | ProtoKind::Float => "a number".into(),
        _ => "a whole number".into(),
    }
}

fn is_integer(kind: &ProtoKind) -> bool {
    matches!(
        kind,
        ProtoKind::Int32
            | ProtoKind::Sint32
            | ProtoKind::Sfixed32
            | ProtoKind::Uint32
            | ProtoKind::Fixed32
            | ProtoKind::Int64
            | ProtoKind::Sint64
            | ProtoKind::Sfixed64
            | ProtoKind::Uint64
            | ProtoKind::Fixed64
    )
}

/// A string holding `{{ }}`: its value is known only when the step runs.
fn is_template(node: &Node) -> bool {
    matches!(&node.kind, Kind::Str(s) if s.contains("{{"))
}
