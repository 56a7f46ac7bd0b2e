//! A gRPC step's and compensation's `input` checked by `maestro validate`
//! against the request message of its `proto` files: unknown fields and
//! literals of the wrong type, each at its line and column; templates wait
//! for the run.

use std::process::Command;

#[test]
fn validate_checks_inputs_against_the_request_messages() {
    let out = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["validate", "tests/invalid/proto_input_mismatch.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("maestro runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("tests/invalid/proto_input_mismatch.yaml:"))
        .filter(|l| !l.starts_with(' '))
        .collect();
    assert_eq!(
        problems,
        [
            "13:17: steps[0].input.quantity: field `quantity` of `fixtures.v1.PlaceRequest` \
             takes a whole number, found the string `two`",
            "15:30: steps[0].input.total.unts: message `fixtures.v1.Money` has no field `unts`",
            "16:17: steps[0].input.tags[1]: field `tags` of `fixtures.v1.PlaceRequest` takes a \
             string, found a list",
            "17:14: steps[0].input.speed: enum `fixtures.v1.Speed` has no value `EXPRES`",
            "24:17: steps[0].compensate.input.reason: field `reason` of \
             `fixtures.v1.CancelRequest` takes a string, found the number 7",
            "25:9: steps[0].compensate.input.refund: message `fixtures.v1.CancelRequest` has no \
             field `refund`",
        ],
        "{stderr}"
    );
    assert!(stderr.contains("hint: did you mean `units`?"), "{stderr}");
    assert!(stderr.contains("hint: did you mean `EXPRESS`?"), "{stderr}");
}
