//! How to write a method's request and read its answer between JSON and
//! the wire directly (`encode.rs`, `wire.rs`): their message types laid out
//! once, when the method is first resolved, for the messages whose JSON is
//! made of their fields alone.

use std::collections::HashMap;

use prost::encoding::WireType;
use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, Syntax};
use serde_json::{Map, Value};

use super::json;

/// Every message type a request or an answer may hold, its own first.
#[derive(Debug)]
pub struct Plan {
    pub(super) messages: Vec<MessagePlan>,
}

#[derive(Debug)]
pub(super) struct MessagePlan {
    /// By field number, ascending: the order the JSON lists them in.
    pub(super) fields: Vec<FieldPlan>,
    /// One field's JSON name is another's `.proto` name: which one a key
    /// names is left to prost-reflect.
    pub(super) ambiguous: bool,
}

#[derive(Debug)]
pub(super) struct FieldPlan {
    pub(super) number: u32,
    /// The `.proto` name: the output keeps proto field names.
    pub(super) name: Box<str>,
    /// The camel-case name a request may use instead.
    pub(super) json_name: Box<str>,
    pub(super) kind: ValueKind,
    pub(super) shape: Shape,
    /// The index of its oneof among the message's: setting one member
    /// clears the others.
    pub(super) oneof: Option<usize>,
    /// What the JSON shows when the field is not on the wire: its default
    /// for a field without presence, nothing for one with it.
    pub(super) absent: Option<Value>,
    /// A repeated scalar written as one length-delimited run.
    pub(super) packed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Single,
    List,
    /// A map: each entry is a message of the plan, its key field 1 and its
    /// value field 2.
    Map {
        entry: usize,
    },
}

#[derive(Debug)]
pub(super) enum ValueKind {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Enum(EnumDescriptor),
    /// Index in the plan's messages.
    Message(usize),
}

impl ValueKind {
    /// The wire type of one value of this kind.
    pub(super) fn wire_type(&self) -> WireType {
        use ValueKind::*;
        match self {
            Int32 | Int64 | Uint32 | Uint64 | Sint32 | Sint64 | Bool | Enum(_) => WireType::Varint,
            Fixed32 | Sfixed32 | Float => WireType::ThirtyTwoBit,
            Fixed64 | Sfixed64 | Double => WireType::SixtyFourBit,
            String | Bytes | Message(_) => WireType::LengthDelimited,
        }
    }

    /// Whether a repeated field of this kind may come packed.
    pub(super) fn packable(&self) -> bool {
        !matches!(self.wire_type(), WireType::LengthDelimited)
    }
}

impl Plan {
    /// The plan for messages of type `root` (a method's request or its
    /// answer), or `None` if one of the types it may hold needs more than
    /// its fields to be JSON: a well-known type
    /// (a timestamp is a string, a `Struct` an object), a proto2 or editions
    /// file (closed enums, groups, custom defaults) or extensions.
    pub fn of(root: &MessageDescriptor) -> Option<Plan> {
        let mut builder = Builder::default();
        builder.message(root)?;
        Some(Plan {
            messages: builder.messages,
        })
    }
}

#[derive(Default)]
struct Builder {
    messages: Vec<MessagePlan>,
    index: HashMap<String, usize>,
}

impl Builder {
    /// The index of `message`'s plan, laid out first if it is new.
    fn message(&mut self, message: &MessageDescriptor) -> Option<usize> {
        if let Some(&index) = self.index.get(message.full_name()) {
            return Some(index);
        }
        if !plain(message.parent_file().syntax(), message.full_name())
            || message.extensions().len() > 0
        {
            return None;
        }
        let index = self.messages.len();
        self.index.insert(message.full_name().to_owned(), index);
        self.messages.push(MessagePlan {
            fields: Vec::new(),
            ambiguous: false,
        });
        // What prost-reflect shows for an empty message: every default.
        let defaults = match json::to_json(&prost_reflect::DynamicMessage::new(message.clone())) {
            Ok(Value::Object(defaults)) => defaults,
            _ => return None,
        };
        let fields = (message.fields())
            .map(|field| self.field(&field, &defaults))
            .collect::<Option<Vec<_>>>()?;
        let ambiguous = (fields.iter())
            .any(|f| (fields.iter()).any(|o| o.number != f.number && o.name == f.json_name));
        self.messages[index] = MessagePlan { fields, ambiguous };
        Some(index)
    }

    fn field(
        &mut self,
        field: &FieldDescriptor,
        defaults: &Map<String, Value>,
    ) -> Option<FieldPlan> {
        let shape = match field.kind() {
            Kind::Message(entry) if field.is_map() => Shape::Map {
                entry: self.message(&entry)?,
            },
            _ if field.is_list() => Shape::List,
            _ => Shape::Single,
        };
        let kind = match shape {
            // The entry's own plan reads its key and value.
            Shape::Map { entry } => ValueKind::Message(entry),
            _ => self.kind(field.kind())?,
        };
        Some(FieldPlan {
            number: field.number(),
            name: field.name().into(),
            json_name: field.json_name().into(),
            kind,
            shape,
            oneof: field.containing_oneof().and_then(|o| {
                let mut oneofs = field.parent_message().oneofs();
                oneofs.position(|other| other.name() == o.name())
            }),
            absent: match field.supports_presence() {
                true => None,
                false => Some(defaults.get(field.name())?.clone()),
            },
            packed: field.is_packed(),
        })
    }

    fn kind(&mut self, kind: Kind) -> Option<ValueKind> {
        Some(match kind {
            Kind::Double => ValueKind::Double,
            Kind::Float => ValueKind::Float,
            Kind::Int32 => ValueKind::Int32,
            Kind::Int64 => ValueKind::Int64,
            Kind::Uint32 => ValueKind::Uint32,
            Kind::Uint64 => ValueKind::Uint64,
            Kind::Sint32 => ValueKind::Sint32,
            Kind::Sint64 => ValueKind::Sint64,
            Kind::Fixed32 => ValueKind::Fixed32,
            Kind::Fixed64 => ValueKind::Fixed64,
            Kind::Sfixed32 => ValueKind::Sfixed32,
            Kind::Sfixed64 => ValueKind::Sfixed64,
            Kind::Bool => ValueKind::Bool,
            Kind::String => ValueKind::String,
            Kind::Bytes => ValueKind::Bytes,
            Kind::Enum(e) if plain(e.parent_file().syntax(), e.full_name()) => ValueKind::Enum(e),
            Kind::Enum(_) => return None,
            Kind::Message(m) => ValueKind::Message(self.message(&m)?),
        })
    }
}

/// A proto3 type outside `google.protobuf`, whose JSON is its fields.
fn plain(syntax: Syntax, full_name: &str) -> bool {
    syntax == Syntax::Proto3 && !full_name.starts_with("google.protobuf.")
}
