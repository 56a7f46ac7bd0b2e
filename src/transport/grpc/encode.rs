//! A request written from its JSON straight into the protobuf wire format,
//! by its [`Plan`]: the message prost-reflect would build from the same
//! JSON (`json::to_message`), without the dynamic message in between.
//! Only the plain forms are written here (numbers as numbers, enums by
//! name, no `null`, each field once): anything else answers `None`, and the
//! caller takes prost-reflect's path, which accepts the other forms proto3
//! JSON allows and words the error for what it refuses.

use prost::encoding::{WireType, encode_key, encode_varint};
use serde_json::{Map, Number, Value};

use super::plan::{FieldPlan, Plan, Shape, ValueKind};

/// The request `json` as protobuf, or `None` to take the dynamic path.
pub fn encode(plan: &Plan, json: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    message(plan, 0, json.as_object()?, &mut out, 0)?;
    Some(out)
}

/// As deep as the answers' reader goes.
const RECURSION_LIMIT: u32 = 100;

fn message(
    plan: &Plan,
    index: usize,
    json: &Map<String, Value>,
    out: &mut Vec<u8>,
    depth: u32,
) -> Option<()> {
    let message = &plan.messages[index];
    if depth > RECURSION_LIMIT || message.ambiguous {
        return None;
    }
    // In field number order, as prost-reflect writes them. A field named
    // twice (by both its names), two members of a oneof or a key naming
    // no field are left to prost-reflect.
    let (mut named, mut oneofs) = (0, Vec::new());
    for field in &message.fields {
        let by_json = json.get(&*field.json_name);
        let by_name = (field.name != field.json_name)
            .then(|| json.get(&*field.name))
            .flatten();
        let value = match (by_json, by_name) {
            (Some(value), None) | (None, Some(value)) => value,
            (None, None) => continue,
            (Some(_), Some(_)) => return None,
        };
        named += 1;
        if let Some(oneof) = field.oneof {
            if oneofs.contains(&oneof) {
                return None;
            }
            oneofs.push(oneof);
        }
        write_field(plan, field, value, out, depth)?;
    }
    (named == json.len()).then_some(())
}

fn write_field(
    plan: &Plan,
    field: &FieldPlan,
    value: &Value,
    out: &mut Vec<u8>,
    depth: u32,
) -> Option<()> {
    match (field.shape, value) {
        (_, Value::Null) => None,
        (Shape::Single, value) => {
            let start = out.len();
            encode_key(field.number, field.kind.wire_type(), out);
            // A field without presence is not sent at its default, as
            // prost-reflect does not: taken back once written.
            if single(plan, &field.kind, value, out, depth)? && field.absent.is_some() {
                out.truncate(start);
            }
            Some(())
        }
        (Shape::List, Value::Array(values)) if field.packed && field.kind.packable() => {
            let mut packed = Vec::new();
            for value in values {
                single(plan, &field.kind, value, &mut packed, depth)?;
            }
            if !values.is_empty() {
                encode_key(field.number, WireType::LengthDelimited, out);
                delimited(&packed, out);
            }
            Some(())
        }
        (Shape::List, Value::Array(values)) => {
            for value in values {
                encode_key(field.number, field.kind.wire_type(), out);
                single(plan, &field.kind, value, out, depth)?;
            }
            Some(())
        }
        (Shape::Map { entry }, Value::Object(entries)) => {
            let [key_field, value_field] = &plan.messages[entry].fields[..] else {
                return None;
            };
            for (key, value) in entries {
                let mut encoded = Vec::new();
                encode_key(1, key_field.kind.wire_type(), &mut encoded);
                map_key(&key_field.kind, key, &mut encoded)?;
                write_field(plan, value_field, value, &mut encoded, depth + 1)?;
                encode_key(field.number, WireType::LengthDelimited, out);
                delimited(&encoded, out);
            }
            Some(())
        }
        _ => None,
    }
}

/// One value of `kind`, without its key; true if it is the kind's default.
fn single(
    plan: &Plan,
    kind: &ValueKind,
    value: &Value,
    out: &mut Vec<u8>,
    depth: u32,
) -> Option<bool> {
    use ValueKind::*;
    let default = match (kind, value) {
        (Message(m), Value::Object(fields)) => {
            let mut inner = Vec::new();
            message(plan, *m, fields, &mut inner, depth + 1)?;
            delimited(&inner, out);
            return Some(false);
        }
        (String, Value::String(text)) => {
            delimited(text.as_bytes(), out);
            text.is_empty()
        }
        (Bool, Value::Bool(b)) => {
            encode_varint(u64::from(*b), out);
            !b
        }
        (Enum(e), Value::String(name)) => {
            let number = e.get_value_by_name(name)?.number();
            encode_varint(number as i64 as u64, out);
            number == 0
        }
        (Double, Value::Number(n)) => {
            let v = double(n)?;
            out.extend_from_slice(&v.to_le_bytes());
            v == 0.0
        }
        (Float, Value::Number(n)) => {
            let v = float(n)?;
            out.extend_from_slice(&v.to_le_bytes());
            v == 0.0
        }
        (kind, Value::Number(n)) => {
            // Integers only: one written with a fraction or an exponent is
            // left to prost-reflect.
            let n = n
                .as_u64()
                .map(i128::from)
                .or_else(|| n.as_i64().map(i128::from))?;
            integer(kind, n, out)?;
            n == 0
        }
        _ => return None,
    };
    Some(default)
}

/// `bytes` after their length, as a length-delimited value is written.
fn delimited(bytes: &[u8], out: &mut Vec<u8>) {
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// An integer of an integer or enum kind, if it is in that kind's range.
fn integer(kind: &ValueKind, n: i128, out: &mut Vec<u8>) -> Option<()> {
    use ValueKind::*;
    match kind {
        Int32 | Enum(_) => encode_varint(i32::try_from(n).ok()? as i64 as u64, out),
        Sint32 => {
            let v = i32::try_from(n).ok()?;
            encode_varint(((v << 1) ^ (v >> 31)) as u32 as u64, out);
        }
        Sfixed32 => out.extend_from_slice(&i32::try_from(n).ok()?.to_le_bytes()),
        Int64 => encode_varint(i64::try_from(n).ok()? as u64, out),
        Sint64 => {
            let v = i64::try_from(n).ok()?;
            encode_varint(((v << 1) ^ (v >> 63)) as u64, out);
        }
        Sfixed64 => out.extend_from_slice(&i64::try_from(n).ok()?.to_le_bytes()),
        Uint32 => encode_varint(u64::from(u32::try_from(n).ok()?), out),
        Fixed32 => out.extend_from_slice(&u32::try_from(n).ok()?.to_le_bytes()),
        Uint64 => encode_varint(u64::try_from(n).ok()?, out),
        Fixed64 => out.extend_from_slice(&u64::try_from(n).ok()?.to_le_bytes()),
        _ => return None,
    }
    Some(())
}

/// As prost-reflect converts each kind of JSON number to a double.
fn double(n: &Number) -> Option<f64> {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => Some(u as f64),
        (None, Some(i)) => Some(i as f64),
        _ => n.as_f64(),
    }
}

/// And to a float: integers cast directly, doubles in range only.
fn float(n: &Number) -> Option<f32> {
    match (n.as_u64(), n.as_i64(), n.as_f64()) {
        (Some(u), _, _) => Some(u as f32),
        (None, Some(i), _) => Some(i as f32),
        (None, None, Some(v)) if v >= f64::from(f32::MIN) && v <= f64::from(f32::MAX) => {
            Some(v as f32)
        }
        _ => None,
    }
}

/// A map's key, written as its kind from the JSON object's key (parsed as
/// prost-reflect parses it: `true`, `-12`, `+7`).
fn map_key(kind: &ValueKind, key: &str, out: &mut Vec<u8>) -> Option<()> {
    match kind {
        ValueKind::String => delimited(key.as_bytes(), out),
        ValueKind::Bool => encode_varint(u64::from(key.parse::<bool>().ok()?), out),
        ValueKind::Enum(_) => return None,
        // An unsigned key is never written with a sign.
        ValueKind::Uint32 | ValueKind::Fixed32 | ValueKind::Uint64 | ValueKind::Fixed64
            if key.starts_with('-') =>
        {
            return None;
        }
        kind => integer(kind, key.parse().ok()?, out)?,
    }
    Some(())
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
