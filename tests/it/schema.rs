//! The workflow file's JSON Schema: `maestro schema` prints the checked-in
//! copy, every example workflow names it and passes it, and files the
//! decoder refuses for their shape fail it too.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const CHECKED_IN: &str = "docs/workflow.schema.json";
const MODELINE: &str = "# yaml-language-server: $schema=../../docs/workflow.schema.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn printed() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("schema")
        .output()
        .expect("maestro runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&printed()).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("a valid 2020-12 schema")
}

fn as_json(path: &PathBuf) -> Value {
    let text = std::fs::read_to_string(path).expect("readable");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/workflows"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| !maestro::workflow::is_test_file(p))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    files
}

#[test]
fn the_checked_in_schema_is_the_one_maestro_prints() {
    let checked_in = std::fs::read_to_string(root().join(CHECKED_IN)).expect("checked in");
    assert!(
        checked_in == printed(),
        "{CHECKED_IN} drifted: run `maestro schema > {CHECKED_IN}`"
    );
}

#[test]
fn every_example_names_the_schema_and_passes_it() {
    let validator = validator();
    for file in examples() {
        let text = std::fs::read_to_string(&file).expect("readable");
        assert_eq!(text.lines().next(), Some(MODELINE), "{}", file.display());
        let errors: Vec<String> = validator
            .iter_errors(&as_json(&file))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
    }
}

#[test]
fn files_refused_for_their_shape_fail_the_schema() {
    let validator = validator();
    for name in [
        "attempts_zero.yaml",
        "compensate_as_step.yaml",
        "compensate_without_method.yaml",
        "duration_without_unit.yaml",
        "empty_parallel.yaml",
        "empty_steps.yaml",
        "foreach_concurrency_too_high.yaml",
        "foreach_empty_steps.yaml",
        "input_schema_invalid.yaml",
        "jitter_out_of_range.yaml",
        "missing_method.yaml",
        "missing_name.yaml",
        "multiplier_below_one.yaml",
        "negative_duration.yaml",
        "nested_parallel.yaml",
        "output_name_not_identifier.yaml",
        "pool_size_zero.yaml",
        "unknown_backoff.yaml",
        "unknown_field.yaml",
        "unknown_service_type.yaml",
        "version_as_number.yaml",
        "when_on_parallel_group.yaml",
        "wrong_type_attempts.yaml",
    ] {
        let file = root().join("tests/invalid").join(name);
        assert!(
            !validator.is_valid(&as_json(&file)),
            "{name} passes the schema"
        );
    }
}
