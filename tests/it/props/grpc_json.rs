//! JSON to protobuf and back, against every message of the `.proto` files
//! in examples/workflows/proto/ (compiled with protox as a workflow's `proto:` would be):
//! random JSON is accepted or refused with the message named, and valid
//! messages survive JSON -> wire -> JSON exactly, 64-bit integers included.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use maestro::proto::compile_files;
use maestro::transport::grpc::json::{to_json, to_message};
use proptest::prelude::*;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Number, Value};

use super::{config, json};

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workflows/proto");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("proto/")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "proto"))
            .collect();
        files.sort();
        compile_files(&dir, &files, &[]).expect("proto/ compiles")
    })
}

fn messages() -> Vec<MessageDescriptor> {
    pool().all_messages().collect()
}

/// A JSON value of `kind` in the canonical form `to_json` writes.
fn single(kind: Kind, depth: u32) -> BoxedStrategy<Value> {
    match kind {
        Kind::Double => any::<f64>()
            .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number))
            .boxed(),
        Kind::Float => any::<f32>()
            .prop_filter_map("finite", |f| {
                Number::from_f64(f64::from(f)).map(Value::Number)
            })
            .boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => any::<i32>().prop_map(Value::from).boxed(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => any::<i64>().prop_map(Value::from).boxed(),
        Kind::Uint32 | Kind::Fixed32 => any::<u32>().prop_map(Value::from).boxed(),
        Kind::Uint64 | Kind::Fixed64 => any::<u64>().prop_map(Value::from).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::String => any::<String>().prop_map(Value::String).boxed(),
        // No proto/ message has bytes; the empty string is their base64.
        Kind::Bytes => Just(Value::String(String::new())).boxed(),
        Kind::Enum(e) => {
            let names: Vec<Value> = e.values().map(|v| Value::from(v.name())).collect();
            prop::sample::select(names).boxed()
        }
        Kind::Message(_) if depth == 0 => Just(Value::Object(Map::new())).boxed(),
        Kind::Message(m) => message(m, depth - 1),
    }
}

fn field(f: &FieldDescriptor, depth: u32) -> BoxedStrategy<Value> {
    if f.is_map() {
        let Kind::Message(entry) = f.kind() else {
            unreachable!("a map field's kind is its entry message")
        };
        let key = single(entry.map_entry_key_field().kind(), 0).prop_map(|k| match k {
            Value::String(s) => s,
            other => other.to_string(),
        });
        let value = single(entry.map_entry_value_field().kind(), depth);
        prop::collection::vec((key, value), 0..3)
            .prop_map(|e| Value::Object(e.into_iter().collect()))
            .boxed()
    } else if f.is_list() {
        prop::collection::vec(single(f.kind(), depth), 0..3)
            .prop_map(Value::Array)
            .boxed()
    } else {
        single(f.kind(), depth)
    }
}

/// Some of the message's fields, each with a valid value. proto/ has no
/// oneofs; their fields would need one member at most, so they are left out.
fn message(descriptor: MessageDescriptor, depth: u32) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = descriptor
        .fields()
        .filter(|f| f.containing_oneof().is_none())
        .map(|f| {
            let name = f.name().to_owned();
            prop::option::of(field(&f, depth))
                .prop_map(move |v| v.map(|v| (name.clone(), v)))
                .boxed()
        })
        .collect();
    fields
        .prop_map(|entries| Value::Object(entries.into_iter().flatten().collect()))
        .boxed()
}

fn any_message() -> impl Strategy<Value = MessageDescriptor> {
    prop::sample::select(messages())
}

/// Everything in `sent` is in `got` with the same value; `got` may have
/// more (the fields left out come back with their defaults).
fn assert_holds(got: &Value, sent: &Value, at: &str) {
    match (got, sent) {
        (Value::Object(got), Value::Object(sent)) => {
            for (key, value) in sent {
                let inner = got.get(key).unwrap_or_else(|| panic!("{at}.{key} is gone"));
                assert_holds(inner, value, &format!("{at}.{key}"));
            }
        }
        (Value::Array(got), Value::Array(sent)) => {
            assert_eq!(got.len(), sent.len(), "{at}");
            for (i, (g, s)) in got.iter().zip(sent).enumerate() {
                assert_holds(g, s, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(got, sent, "{at}"),
    }
}

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn random_json_is_converted_or_refused_naming_the_message(
        descriptor in any_message(),
        input in json(),
    ) {
        match to_message(descriptor.clone(), &input) {
            Ok(message) => prop_assert!(to_json(&message).is_ok()),
            Err(err) => {
                let name = format!("input does not fit `{}`", descriptor.full_name());
                prop_assert!(err.starts_with(&name), "{err}");
            }
        }
    }

    #[test]
    fn valid_messages_survive_json_wire_and_back_exactly(
        (descriptor, sent) in any_message().prop_flat_map(|d| (Just(d.clone()), message(d, 2))),
    ) {
        let message = to_message(descriptor.clone(), &sent)
            .unwrap_or_else(|e| panic!("{sent}: {e}"));
        let wire = message.encode_to_vec();
        let decoded = DynamicMessage::decode(descriptor.clone(), wire.as_slice()).expect("decodes");
        let back = to_json(&decoded).expect("to JSON");
        // Fields set to their zero value are not sent on the wire, so the
        // messages differ in what is set; as JSON (defaults written) they
        // must not.
        prop_assert_eq!(&back, &to_json(&message).expect("to JSON"));
        assert_holds(&back, &sent, descriptor.full_name());
        let again = to_message(descriptor, &back).expect("its own JSON converts");
        prop_assert_eq!(to_json(&again).expect("to JSON"), back);
    }
}
