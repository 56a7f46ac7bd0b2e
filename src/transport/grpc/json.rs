//! JSON to protobuf and back for messages known only at run time. Field
//! names stay as in the `.proto`, zero values are kept, 64-bit integers stay
//! exact JSON numbers and enums travel by name.

use prost_reflect::{
    DeserializeOptions, DynamicMessage, MessageDescriptor, ReflectMessage, SerializeOptions,
};
use serde_json::Value;

/// Unknown fields are refused: a misspelt field would otherwise be dropped
/// silently and the call made with its zero value.
const DESERIALIZE: DeserializeOptions = DeserializeOptions::new().deny_unknown_fields(true);

/// The output as a workflow reads it: `{"order_id": 0}`, not `{}`, and
/// `{"amount": 9007199254740993}`, not `"9007199254740993"`.
const SERIALIZE: SerializeOptions = SerializeOptions::new()
    .skip_default_fields(false)
    .use_proto_field_name(true)
    .stringify_64_bit_integers(false)
    .use_enum_numbers(false);

/// A step's rendered input as a request message; `null` is the empty
/// message. The error names the offending field by its path.
pub fn to_message(descriptor: MessageDescriptor, input: &Value) -> Result<DynamicMessage, String> {
    if input.is_null() {
        return Ok(DynamicMessage::new(descriptor));
    }
    // Kept for the error message; the name is not copied unless one is made.
    let name = descriptor.clone();
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(input, &mut track);
    DynamicMessage::deserialize_with_options(descriptor, deserializer, &DESERIALIZE).map_err(|e| {
        let (name, path) = (name.full_name(), track.path().to_string());
        if path == "." || path.is_empty() {
            format!("input does not fit `{name}`: {e}")
        } else {
            format!("input does not fit `{name}` at `{path}`: {e}")
        }
    })
}

/// A response message as the step's output.
pub fn to_json(message: &DynamicMessage) -> Result<Value, String> {
    message
        .serialize_with_options(serde_json::value::Serializer, &SERIALIZE)
        .map_err(|e| {
            format!(
                "cannot read the `{}` response as JSON: {e}",
                message.descriptor().full_name()
            )
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use prost::Message;
    use prost_reflect::DescriptorPool;
    use serde_json::json;

    use super::*;

    pub(crate) const TEST_PROTO: &str = r#"
        syntax = "proto3";
        package test.v1;
        enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; }
        message Line { string sku = 1; int32 qty = 2; }
        message Order {
          int64 big = 1;
          uint64 ubig = 2;
          int32 line_count = 3;
          string customer_name = 4;
          bool gift = 5;
          Color color = 6;
          Line first_line = 7;
          repeated Line lines = 8;
          repeated int64 amounts = 9;
          map<string, int64> totals = 10;
          double ratio = 11;
        }
        service Orders { rpc Place(Order) returns (Order); }
    "#;

    /// One `.proto` file given as text; the well-known types it imports
    /// come from protox's own copies.
    struct OneFile {
        name: &'static str,
        source: &'static str,
    }

    impl protox::file::FileResolver for OneFile {
        fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
            match name == self.name {
                true => protox::file::File::from_source(name, self.source),
                false => protox::file::GoogleFileResolver::new().open_file(name),
            }
        }
    }

    /// The descriptors of a test's own `.proto` file.
    pub(crate) fn compile(name: &'static str, source: &'static str) -> DescriptorPool {
        let mut compiler = protox::Compiler::with_file_resolver(OneFile { name, source });
        compiler.open_file(name).expect("the test proto compiles");
        compiler.descriptor_pool()
    }

    pub(crate) fn test_pool() -> DescriptorPool {
        compile("test.proto", TEST_PROTO)
    }

    fn order() -> MessageDescriptor {
        test_pool().get_message_by_name("test.v1.Order").unwrap()
    }

    /// Through the wire format and back, as a call would go.
    fn round_trip(input: Value) -> Value {
        let message = to_message(order(), &input).unwrap();
        let bytes = message.encode_to_vec();
        let decoded = DynamicMessage::decode(order(), bytes.as_slice()).unwrap();
        to_json(&decoded).unwrap()
    }

    #[test]
    fn int64_above_2_pow_53_stays_exact() {
        let out = round_trip(json!({
            "big": 9007199254740993i64,
            "ubig": 18446744073709551615u64,
            "amounts": [-9007199254740993i64, 1],
        }));
        assert_eq!(out["big"], json!(9007199254740993i64));
        assert_eq!(out["ubig"], json!(18446744073709551615u64));
        assert_eq!(out["amounts"], json!([-9007199254740993i64, 1]));
        // Proto3 JSON also allows 64-bit integers as strings on input.
        let out = round_trip(json!({"big": "9007199254740995"}));
        assert_eq!(out["big"], json!(9007199254740995i64));
    }

    #[test]
    fn defaults_are_kept_under_proto_field_names() {
        let out = round_trip(json!({}));
        assert_eq!(
            out,
            json!({
                "big": 0, "ubig": 0, "line_count": 0, "customer_name": "",
                "gift": false, "color": "COLOR_UNSPECIFIED",
                "lines": [], "amounts": [], "totals": {}, "ratio": 0.0,
            })
        );
    }

    #[test]
    fn nested_repeated_maps_and_enums_by_name() {
        let input = json!({
            "customer_name": "Ada",
            "color": "GREEN",
            "first_line": {"sku": "A1", "qty": 2},
            "lines": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 0}],
            "totals": {"eur": 12},
            "ratio": 0.5,
        });
        let out = round_trip(input);
        assert_eq!(out["color"], json!("GREEN"));
        assert_eq!(out["first_line"], json!({"sku": "A1", "qty": 2}));
        assert_eq!(out["lines"][1], json!({"sku": "B2", "qty": 0}));
        assert_eq!(out["totals"], json!({"eur": 12}));
        assert_eq!(out["customer_name"], json!("Ada"));
    }

    #[test]
    fn camel_case_names_are_accepted_on_input() {
        let out = round_trip(json!({"customerName": "Ada", "lineCount": 3}));
        assert_eq!(out["customer_name"], json!("Ada"));
        assert_eq!(out["line_count"], json!(3));
    }

    #[test]
    fn null_input_is_the_empty_message() {
        assert_eq!(round_trip(Value::Null)["big"], json!(0));
    }

    #[test]
    fn unknown_fields_are_refused_with_their_path() {
        let err = to_message(order(), &json!({"first_line": {"skew": "A1"}})).unwrap_err();
        assert!(err.contains("first_line"), "{err}");
        assert!(err.contains("skew"), "{err}");
        assert!(err.contains("test.v1.Order"), "{err}");
    }

    #[test]
    fn wrong_types_are_refused_with_their_path() {
        let err = to_message(order(), &json!({"lines": [{"qty": "many"}]})).unwrap_err();
        assert!(err.contains("lines[0].qty"), "{err}");
        let err = to_message(order(), &json!({"color": "PURPLE"})).unwrap_err();
        assert!(err.contains("color"), "{err}");
        assert!(to_message(order(), &json!([1])).is_err());
    }
}
