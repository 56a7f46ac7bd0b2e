//! The request writer against prost-reflect on random JSON: what it writes
//! must be the message prost-reflect builds, and what it leaves (`None`)
//! goes to prost-reflect.

use proptest::prelude::*;
use prost::Message;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::super::json::{to_json, to_message};
use super::super::plan::Plan;
use super::super::wire::tests::{Rng, all};
use super::encode;

/// A random JSON for `desc`: mostly what a template renders, sometimes a
/// form only prost-reflect takes (a number as a string, `null`, a name it
/// does not know, a fraction for an integer, an out-of-range number).
fn object(desc: &MessageDescriptor, rng: &mut Rng, depth: u32) -> Value {
    let fields: Vec<_> = desc.fields().collect();
    let mut out = Map::new();
    for _ in 0..rng.below(8) {
        if rng.below(40) == 0 {
            out.insert("nonesuch".into(), json!(1));
            continue;
        }
        let field = &fields[rng.below(fields.len() as u64) as usize];
        let name = match rng.below(4) {
            0 => field.json_name().to_owned(),
            _ => field.name().to_owned(),
        };
        let value = if field.is_map() {
            let entry = field.kind();
            let entry = entry.as_message().unwrap();
            let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
            let entries = (0..rng.below(3))
                .map(|_| (map_key(&key.kind(), rng), one(&value.kind(), rng, depth)));
            Value::Object(entries.collect())
        } else if field.is_list() {
            Value::Array(
                (0..rng.below(4))
                    .map(|_| one(&field.kind(), rng, depth))
                    .collect(),
            )
        } else {
            one(&field.kind(), rng, depth)
        };
        out.insert(name, value);
    }
    Value::Object(out)
}

fn map_key(kind: &Kind, rng: &mut Rng) -> String {
    match kind {
        Kind::Bool => ["true", "false", "yes"][rng.below(3) as usize].into(),
        Kind::String => format!("k{}", rng.below(3)),
        _ => ["0", "7", "-3", "+4", "4294967296", "x"][rng.below(6) as usize].into(),
    }
}

fn one(kind: &Kind, rng: &mut Rng, depth: u32) -> Value {
    if rng.below(30) == 0 {
        return [
            Value::Null,
            json!("12"),
            json!(1.5),
            json!(2.0),
            json!(1e40),
        ][rng.below(5) as usize]
            .clone();
    }
    match kind {
        Kind::Message(m) if depth < 3 => object(m, rng, depth + 1),
        Kind::Message(_) => json!({}),
        Kind::String => json!(["", "a", "ünï", "x y"][rng.below(4) as usize]),
        Kind::Bytes => json!("aGk="),
        Kind::Bool => json!(rng.below(2) == 0),
        Kind::Enum(_) => json!(["MOOD_UNSPECIFIED", "HAPPY", "SAD", "GLAD"][rng.below(4) as usize]),
        Kind::Double | Kind::Float => json!([0.0, -1.25, 3.0e10, 7.0][rng.below(4) as usize]),
        _ => match rng.below(4) {
            0 => json!(0),
            1 => json!(rng.below(1000)),
            2 => json!(-(rng.below(1000) as i64)),
            _ => json!(rng.next()),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn writes_what_prost_reflect_builds(seed in 1u64..) {
        let desc = all();
        let plan = Plan::of(&desc).expect("a plain proto3 message");
        let json = object(&desc, &mut Rng(seed), 0);
        if let Some(bytes) = encode(&plan, &json) {
            let expected = to_message(desc.clone(), &json);
            prop_assert!(expected.is_ok(), "written, but prost-reflect refuses {json}: {expected:?}");
            // Compared as JSON: prost-reflect's messages recurse without end
            // when compared with a map set but empty.
            let written = DynamicMessage::decode(desc.clone(), bytes.as_slice()).unwrap();
            prop_assert_eq!(to_json(&written), to_json(&expected.unwrap()), "for {}", json);
        }
    }
}

#[test]
fn plain_requests_are_written_here() {
    let desc = all();
    let plan = Plan::of(&desc).unwrap();
    let json = json!({
        "s": "Ada", "i64": -9007199254740993i64, "u64": 18446744073709551615u64,
        "mood": "SAD", "inner": {"note": "n", "moods": ["HAPPY"]}, "rd": [0.5, 2],
        "by_int": {"-3": "x"}, "pickN": 5, "maybe": 0,
    });
    let bytes = encode(&plan, &json).expect("plain JSON is written directly");
    let written = DynamicMessage::decode(desc.clone(), bytes.as_slice()).unwrap();
    assert_eq!(
        to_json(&written),
        to_json(&to_message(desc, &json).unwrap())
    );
    // A field with presence is sent at its default; one without is not.
    assert!(written.has_field_by_name("maybe"));
    assert_eq!(
        written.encode_to_vec(),
        bytes,
        "the same bytes as prost-reflect's"
    );
}

#[test]
fn other_forms_are_left_to_prost_reflect() {
    let plan = Plan::of(&all()).unwrap();
    for json in [
        json!({"i32": "12"}),
        json!({"i32": 1.0}),
        json!({"s": null}),
        json!({"by": "aGk="}),
        json!({"nonesuch": 1}),
        json!({"i32": 1, "i32": 2, "pick_s": "a", "pickN": 1}),
        json!({"mood": "GLAD"}),
        json!({"by_u64": {"-0": 1.0}}),
        json!([1]),
    ] {
        assert!(encode(&plan, &json).is_none(), "{json}");
    }
}
