//! An answer read from the protobuf wire format straight into the JSON a
//! step's output is, by its [`Plan`]: the same JSON as decoding it into a
//! `DynamicMessage` and serializing that (`json.rs`), without the dynamic
//! message in between, its allocations and its second walk.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use prost::DecodeError;
use prost::encoding::{DecodeContext, WireType, check_wire_type, decode_key, decode_varint};
use serde_json::{Map, Value};

use super::plan::{FieldPlan, Plan, Shape, ValueKind};

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{0}")]
    Invalid(&'static str),
}

/// As deep as prost lets messages nest.
const RECURSION_LIMIT: u32 = 100;

/// The answer in `bytes`, as JSON.
pub fn decode(plan: &Plan, bytes: &[u8]) -> Result<Value, WireError> {
    message(plan, 0, bytes, 0).map(Value::Object)
}

/// What the wire said of one field so far.
enum Slot {
    Absent,
    Value(Value),
    /// A singular message, read as its encodings come: a second one merges
    /// into the first field by field, as prost does, so that an answer
    /// sending one many times costs no more than its length.
    Message(Box<Partial>),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

/// A message being read: its fields so far.
struct Partial {
    index: usize,
    slots: Vec<Slot>,
}

fn message(
    plan: &Plan,
    index: usize,
    buf: &[u8],
    depth: u32,
) -> Result<Map<String, Value>, WireError> {
    let mut partial = Partial::new(plan, index);
    partial.read(plan, buf, depth)?;
    Ok(partial.finish(plan))
}

impl Partial {
    fn new(plan: &Plan, index: usize) -> Self {
        let fields = &plan.messages[index].fields;
        Partial {
            index,
            slots: fields.iter().map(|_| Slot::Absent).collect(),
        }
    }

    /// Add one encoding of the message to what came before.
    fn read(&mut self, plan: &Plan, mut buf: &[u8], depth: u32) -> Result<(), WireError> {
        if depth > RECURSION_LIMIT {
            return Err(WireError::Invalid("recursion limit reached"));
        }
        let fields = &plan.messages[self.index].fields;
        while !buf.is_empty() {
            let (number, wire) = decode_key(&mut buf)?;
            let Ok(i) = fields.binary_search_by_key(&number, |f| f.number) else {
                prost::encoding::skip_field(wire, number, &mut buf, DecodeContext::default())?;
                continue;
            };
            let field = &fields[i];
            if let Some(oneof) = field.oneof {
                for (other, slot) in fields.iter().zip(&mut self.slots) {
                    if other.oneof == Some(oneof) && other.number != number {
                        *slot = Slot::Absent;
                    }
                }
            }
            read_field(plan, field, &mut self.slots[i], wire, &mut buf, depth)?;
        }
        Ok(())
    }

    /// The message as JSON: its fields in number order, with the defaults
    /// of those without presence that did not come.
    fn finish(self, plan: &Plan) -> Map<String, Value> {
        let fields = &plan.messages[self.index].fields;
        let mut out = Map::with_capacity(fields.len());
        for (field, slot) in fields.iter().zip(self.slots) {
            let value = match slot {
                Slot::Absent => match &field.absent {
                    Some(default) => default.clone(),
                    None => continue,
                },
                Slot::Value(value) => value,
                Slot::Message(partial) => Value::Object(partial.finish(plan)),
                Slot::List(values) => Value::Array(values),
                Slot::Map(entries) => Value::Object(entries),
            };
            out.insert(String::from(&*field.name), value);
        }
        out
    }
}

/// One occurrence of `field` on the wire, added to what came before.
fn read_field(
    plan: &Plan,
    field: &FieldPlan,
    slot: &mut Slot,
    wire: WireType,
    buf: &mut &[u8],
    depth: u32,
) -> Result<(), WireError> {
    match (field.shape, &field.kind) {
        (Shape::Single, ValueKind::Message(m)) => {
            check_wire_type(WireType::LengthDelimited, wire)?;
            let part = delimited(buf)?;
            if !matches!(slot, Slot::Message(_)) {
                *slot = Slot::Message(Box::new(Partial::new(plan, *m)));
            }
            if let Slot::Message(partial) = slot {
                partial.read(plan, part, depth + 1)?;
            }
        }
        (Shape::Single, kind) => *slot = Slot::Value(scalar(kind, wire, buf)?),
        (Shape::List, kind) => {
            if !matches!(slot, Slot::List(_)) {
                *slot = Slot::List(Vec::new());
            }
            let Slot::List(values) = slot else {
                unreachable!("made a list above")
            };
            if let ValueKind::Message(m) = kind {
                check_wire_type(WireType::LengthDelimited, wire)?;
                let part = delimited(buf)?;
                values.push(Value::Object(message(plan, *m, part, depth + 1)?));
            } else if wire == WireType::LengthDelimited && kind.packable() {
                let mut packed = delimited(buf)?;
                while !packed.is_empty() {
                    values.push(scalar(kind, kind.wire_type(), &mut packed)?);
                }
            } else {
                values.push(scalar(kind, wire, buf)?);
            }
        }
        (Shape::Map { entry }, _) => {
            check_wire_type(WireType::LengthDelimited, wire)?;
            let (key, value) = map_entry(plan, entry, delimited(buf)?, depth)?;
            if !matches!(slot, Slot::Map(_)) {
                *slot = Slot::Map(Map::new());
            }
            if let Slot::Map(entries) = slot {
                entries.insert(key, value);
            }
        }
    }
    Ok(())
}

/// A map entry's key, as JSON keys are written, and its value.
fn map_entry(
    plan: &Plan,
    entry: usize,
    bytes: &[u8],
    depth: u32,
) -> Result<(String, Value), WireError> {
    let mut fields = message(plan, entry, bytes, depth + 1)?;
    let key = match fields.remove("key") {
        Some(Value::String(key)) => key,
        Some(Value::Bool(key)) => key.to_string(),
        Some(Value::Number(key)) => key.to_string(),
        _ => return Err(WireError::Invalid("a map entry without a usable key")),
    };
    let value = match fields.remove("value") {
        Some(value) => value,
        // An entry's message value that is not on the wire is the empty
        // message, shown with its defaults.
        None => match plan.messages[entry].fields.iter().find(|f| f.number == 2) {
            Some(field) => nested(plan, &field.kind, &[], depth + 1)?,
            None => Value::Null,
        },
    };
    Ok((key, value))
}

/// A message field's value from its encoding.
fn nested(plan: &Plan, kind: &ValueKind, bytes: &[u8], depth: u32) -> Result<Value, WireError> {
    let ValueKind::Message(m) = kind else {
        return Err(WireError::Invalid("a message field of another kind"));
    };
    Ok(Value::Object(message(plan, *m, bytes, depth + 1)?))
}

fn delimited<'b>(buf: &mut &'b [u8]) -> Result<&'b [u8], WireError> {
    let len = usize::try_from(decode_varint(buf)?).unwrap_or(usize::MAX);
    if len > buf.len() {
        return Err(WireError::Invalid("buffer underflow"));
    }
    let (value, rest) = buf.split_at(len);
    *buf = rest;
    Ok(value)
}

fn fixed<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], WireError> {
    let (value, rest) = buf
        .split_first_chunk::<N>()
        .ok_or(WireError::Invalid("buffer underflow"))?;
    *buf = rest;
    Ok(*value)
}

/// One value of a scalar, string, bytes or enum kind, as prost-reflect
/// shows it: 64-bit integers as numbers, bytes in base64, enums by name.
fn scalar(kind: &ValueKind, wire: WireType, buf: &mut &[u8]) -> Result<Value, WireError> {
    check_wire_type(kind.wire_type(), wire)?;
    Ok(match kind {
        ValueKind::Double => float(f64::from_le_bytes(fixed(buf)?)),
        ValueKind::Float => {
            let v = f32::from_le_bytes(fixed(buf)?);
            match v.is_finite() {
                true => Value::from(v),
                false => float(f64::from(v)),
            }
        }
        ValueKind::Int32 => Value::from(decode_varint(buf)? as i32),
        ValueKind::Int64 => Value::from(decode_varint(buf)? as i64),
        ValueKind::Uint32 => Value::from(decode_varint(buf)? as u32),
        ValueKind::Uint64 => Value::from(decode_varint(buf)?),
        ValueKind::Sint32 => {
            let v = decode_varint(buf)? as u32;
            Value::from(((v >> 1) as i32) ^ (-((v & 1) as i32)))
        }
        ValueKind::Sint64 => {
            let v = decode_varint(buf)?;
            Value::from(((v >> 1) as i64) ^ (-((v & 1) as i64)))
        }
        ValueKind::Fixed32 => Value::from(u32::from_le_bytes(fixed(buf)?)),
        ValueKind::Fixed64 => Value::from(u64::from_le_bytes(fixed(buf)?)),
        ValueKind::Sfixed32 => Value::from(i32::from_le_bytes(fixed(buf)?)),
        ValueKind::Sfixed64 => Value::from(i64::from_le_bytes(fixed(buf)?)),
        ValueKind::Bool => Value::Bool(decode_varint(buf)? != 0),
        ValueKind::String => match std::str::from_utf8(delimited(buf)?) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => {
                return Err(WireError::Invalid(
                    "invalid string value: data is not UTF-8 encoded",
                ));
            }
        },
        ValueKind::Bytes => Value::String(BASE64_STANDARD.encode(delimited(buf)?)),
        ValueKind::Enum(e) => {
            let number = decode_varint(buf)? as i32;
            match e.get_value(number) {
                Some(value) => Value::String(value.name().to_owned()),
                None => Value::from(number),
            }
        }
        ValueKind::Message(_) => {
            return Err(WireError::Invalid("a message where a scalar was expected"));
        }
    })
}

/// A finite number as itself; infinities and NaN as the strings proto3
/// JSON names them by.
fn float(v: f64) -> Value {
    match v {
        v if v.is_finite() => Value::from(v),
        f64::INFINITY => Value::from("Infinity"),
        f64::NEG_INFINITY => Value::from("-Infinity"),
        _ => Value::from("NaN"),
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
pub(crate) mod tests;
