//! The wire reader against prost-reflect's decoding and JSON, on random
//! encodings: fields repeated, packed and not, merged, out of order,
//! unknown, of the wrong wire type, strings that are not UTF-8.

use std::sync::LazyLock;

use proptest::prelude::*;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor};
use serde_json::json;

use super::super::json::tests::compile;
use super::super::json::to_json;
use super::super::plan::Plan;
use super::decode;

const PROTO: &str = r#"
    syntax = "proto3";
    package wire.v1;
    import "google/protobuf/timestamp.proto";
    enum Mood { MOOD_UNSPECIFIED = 0; HAPPY = 1; SAD = 2; }
    message Inner { string note = 1; int32 n = 2; repeated Mood moods = 3; Inner next = 4; }
    message All {
      double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5;
      uint64 u64 = 6; sint32 s32 = 7; sint64 s64 = 8; fixed32 fx32 = 9;
      fixed64 fx64 = 10; sfixed32 sfx32 = 11; sfixed64 sfx64 = 12; bool b = 13;
      string s = 14; bytes by = 15; Mood mood = 16; Inner inner = 17;
      repeated int32 ri32 = 18; repeated double rd = 19; repeated string rs = 20;
      repeated Inner rinner = 21; repeated Mood rmood = 22; repeated bytes rby = 23;
      repeated sint64 rs64 = 24; repeated bool rb = 25;
      map<string, Inner> by_name = 26; map<int32, string> by_int = 27;
      map<bool, Mood> by_bool = 28; map<uint64, double> by_u64 = 29;
      map<sint32, bytes> by_s32 = 30;
      oneof pick { string pick_s = 31; Inner pick_inner = 32; int64 pick_n = 33; }
      optional int32 maybe = 34; optional Inner maybe_inner = 35;
      repeated float rf = 36; repeated fixed32 rfx32 = 37;
    }
    message Stamped { google.protobuf.Timestamp at = 1; }
    service S { rpc M(All) returns (All); }
"#;

/// Compiled once: each random case reads its descriptors from here.
static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| compile("wire.proto", PROTO));

pub(crate) fn pool() -> DescriptorPool {
    POOL.clone()
}

pub(crate) fn all() -> MessageDescriptor {
    pool().get_message_by_name("wire.v1.All").unwrap()
}

/// What the answer reads as through a `DynamicMessage`; `None` if refused.
fn reference(desc: &MessageDescriptor, bytes: &[u8]) -> Option<serde_json::Value> {
    let message = DynamicMessage::decode(desc.clone(), bytes).ok()?;
    to_json(&message).ok()
}

/// A small deterministic generator: the cases come from proptest's seeds.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random encoding of a `desc`, mostly well formed.
fn message(desc: &MessageDescriptor, rng: &mut Rng, depth: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let fields: Vec<_> = desc.fields().collect();
    for _ in 0..rng.below(10) {
        if rng.below(12) == 0 {
            let wire = [
                WireType::Varint,
                WireType::SixtyFourBit,
                WireType::LengthDelimited,
            ];
            let wire = wire[rng.below(3) as usize];
            encode_key(1000 + rng.below(5) as u32, wire, &mut out);
            value_of_wire(wire, rng, &mut out);
            continue;
        }
        let field = &fields[rng.below(fields.len() as u64) as usize];
        let kind = field.kind();
        if field.is_list() && !field.is_map() && packable(&kind) && rng.below(2) == 0 {
            let mut packed = Vec::new();
            for _ in 0..rng.below(4) {
                value(&kind, rng, depth, &mut packed);
            }
            encode_key(field.number(), WireType::LengthDelimited, &mut out);
            encode_varint(packed.len() as u64, &mut out);
            out.extend(packed);
            continue;
        }
        let right = wire_of(&kind);
        // prost-reflect reads a map field without checking its wire type
        // (a varint is taken for the entry's length); here it is refused,
        // so only the right one is sent to both.
        let wire = match rng.below(25) {
            0 if !field.is_map() => WireType::ThirtyTwoBit,
            1 if !field.is_map() => WireType::Varint,
            _ => right,
        };
        encode_key(field.number(), wire, &mut out);
        match wire == right {
            true => value(&kind, rng, depth, &mut out),
            false => value_of_wire(wire, rng, &mut out),
        }
    }
    out
}

fn packable(kind: &Kind) -> bool {
    wire_of(kind) != WireType::LengthDelimited
}

fn wire_of(kind: &Kind) -> WireType {
    match kind {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => WireType::SixtyFourBit,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => WireType::ThirtyTwoBit,
        Kind::String | Kind::Bytes | Kind::Message(_) => WireType::LengthDelimited,
        _ => WireType::Varint,
    }
}

fn value(kind: &Kind, rng: &mut Rng, depth: u32, out: &mut Vec<u8>) {
    match kind {
        Kind::Message(m) => {
            let inner = match depth < 3 {
                true => message(m, rng, depth + 1),
                false => Vec::new(),
            };
            encode_varint(inner.len() as u64, out);
            out.extend(inner);
        }
        Kind::String => {
            let text: Vec<u8> = (0..rng.below(5))
                .map(|_| match rng.below(30) {
                    0 => 0xff,
                    _ => b'a' + rng.below(26) as u8,
                })
                .collect();
            encode_varint(text.len() as u64, out);
            out.extend(text);
        }
        Kind::Enum(_) => encode_varint(rng.below(4), out),
        Kind::Bool => encode_varint(rng.below(3), out),
        _ => value_of_wire(wire_of(kind), rng, out),
    }
}

/// Any value of a wire type: bytes for the fixed ones, a varint that is
/// small, large or negative.
fn value_of_wire(wire: WireType, rng: &mut Rng, out: &mut Vec<u8>) {
    match wire {
        WireType::Varint => match rng.below(3) {
            0 => encode_varint(rng.below(300), out),
            1 => encode_varint(rng.next(), out),
            _ => encode_varint((-(rng.below(1000) as i64)) as u64, out),
        },
        WireType::ThirtyTwoBit => out.extend((rng.next() as u32).to_le_bytes()),
        WireType::SixtyFourBit => out.extend(rng.next().to_le_bytes()),
        _ => {
            let bytes: Vec<u8> = (0..rng.below(6)).map(|_| rng.next() as u8).collect();
            encode_varint(bytes.len() as u64, out);
            out.extend(bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reads_as_prost_reflect_does(seed in 1u64..) {
        let desc = all();
        let plan = Plan::of(&desc).expect("a plain proto3 message");
        let bytes = message(&desc, &mut Rng(seed), 0);
        prop_assert_eq!(decode(&plan, &bytes).ok(), reference(&desc, &bytes));
    }
}

#[test]
fn fields_in_number_order_with_defaults_and_presence() {
    let desc = all();
    let plan = Plan::of(&desc).unwrap();
    let mut bytes = Vec::new();
    encode_key(31, WireType::LengthDelimited, &mut bytes);
    encode_varint(2, &mut bytes);
    bytes.extend(b"hi");
    encode_key(3, WireType::Varint, &mut bytes);
    encode_varint(7, &mut bytes);
    let got = decode(&plan, &bytes).unwrap();
    let keys: Vec<&str> = got
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let want: Vec<String> = reference(&desc, &bytes)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, want);
    assert_eq!(got["i32"], json!(7));
    assert_eq!(got["pick_s"], json!("hi"));
    assert_eq!(got["mood"], json!("MOOD_UNSPECIFIED"));
    // Fields with presence are left out unless sent.
    for absent in ["inner", "maybe", "maybe_inner", "pick_n", "pick_inner"] {
        assert!(got.get(absent).is_none(), "{absent} in {got}");
    }
}

#[test]
fn a_message_sent_many_times_is_merged_field_by_field() {
    let desc = all();
    let plan = Plan::of(&desc).unwrap();
    // `inner` 20,000 times, each setting its note and adding a mood: read
    // again from the start at every one, this would be quadratic.
    let mut part = Vec::new();
    encode_key(1, WireType::LengthDelimited, &mut part);
    encode_varint(1, &mut part);
    part.push(b'x');
    encode_key(3, WireType::Varint, &mut part);
    encode_varint(1, &mut part);
    let mut bytes = Vec::new();
    for _ in 0..20_000 {
        encode_key(17, WireType::LengthDelimited, &mut bytes);
        encode_varint(part.len() as u64, &mut bytes);
        bytes.extend(&part);
    }
    let got = decode(&plan, &bytes).unwrap();
    assert_eq!(got["inner"]["moods"].as_array().unwrap().len(), 20_000);
    assert_eq!(Some(got), reference(&desc, &bytes));
}

#[test]
fn a_map_field_of_another_wire_type_is_refused() {
    let desc = all();
    let plan = Plan::of(&desc).unwrap();
    let mut bytes = Vec::new();
    encode_key(29, WireType::Varint, &mut bytes);
    encode_varint(0, &mut bytes);
    assert!(decode(&plan, &bytes).is_err());
}

#[test]
fn nesting_past_the_limit_is_refused() {
    let desc = pool().get_message_by_name("wire.v1.Inner").unwrap();
    let plan = Plan::of(&desc).unwrap();
    let mut bytes = Vec::new();
    for _ in 0..150 {
        let mut outer = Vec::new();
        encode_key(4, WireType::LengthDelimited, &mut outer);
        encode_varint(bytes.len() as u64, &mut outer);
        outer.extend(bytes);
        bytes = outer;
    }
    assert!(decode(&plan, &bytes).is_err());
    assert!(reference(&desc, &bytes).is_none());
}

#[test]
fn well_known_types_take_the_dynamic_path() {
    let stamped = pool().get_message_by_name("wire.v1.Stamped").unwrap();
    assert!(Plan::of(&stamped).is_none());
    let pool = super::super::json::tests::test_pool();
    assert!(Plan::of(&pool.get_message_by_name("test.v1.Order").unwrap()).is_some());
}
