//! Property-based fuzzing of everything that reads outside input: workflow
//! YAML, templates and the JSON <-> protobuf conversion. Each runs a bounded
//! number of cases; `PROPTEST_CASES=5000` runs a long session instead.

mod grpc_json;
mod templates;
mod yaml;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Number, Value};

/// `cases` unless `PROPTEST_CASES` asks for more (or fewer). Failures are
/// saved under `proptest-regressions/` and replayed first on later runs.
pub fn config(cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// Any finite JSON number, integers across the whole i64 and u64 ranges.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
}

/// Strings a template or a workflow might hold, and arbitrary ones.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{0,8}",
        "[a-z{}. '\"\\[\\]0-9|&!?:=<>()-]{0,24}",
        any::<String>(),
    ]
}

/// Arbitrary JSON, a few levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}
