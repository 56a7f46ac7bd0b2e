//! `maestro test`: the examples' tests pass with no service running, and
//! JUnit XML says so; a failing test shows each difference, a run that
//! never ends is named, and a misspelt test file is refused.

use std::process::Command;

fn maestro_test(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("test")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("MAESTRO_WEB_HTTP")
        .output()
        .expect("maestro test runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), stderr)
}

#[test]
fn the_examples_tests_pass_without_any_service() {
    let junit = std::env::temp_dir().join(format!("maestro-junit-{}.xml", std::process::id()));
    let (code, stderr) = maestro_test(&["examples/workflows", "--junit", junit.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("0 failed"), "{stderr}");
    let xml = std::fs::read_to_string(&junit).expect("JUnit XML");
    let _ = std::fs::remove_file(&junit);
    assert!(
        xml.contains("account_approval.test.yaml\" tests=\"3\" failures=\"0\""),
        "{xml}"
    );
    assert!(
        xml.contains("user_onboarding.test.yaml\" tests=\"4\" failures=\"0\""),
        "{xml}"
    );
}

#[test]
fn a_failing_test_shows_each_difference() {
    let (code, stderr) = maestro_test(&["tests/fixtures/tests/approval.test.yaml"]);
    assert_eq!(code, 1, "{stderr}");
    for line in [
        "FAIL tests/fixtures/tests/approval.test.yaml: expects what does not happen",
        "status: expected compensated, got succeeded",
        r#"output: expected {"account_id":"acc_9"}, got {"account_id":"acc_1","approved_by":"ana","status":"active"}"#,
        "attempts of `activate_account`: expected 1, got 2",
        r#"compensated: expected ["create_account"], got []"#,
        "the run did not end: does a `wait` miss its signal?",
        "the test is invalid: workflow `account_approval` has no step `nowhere`",
        "3 tests: 0 passed, 3 failed",
    ] {
        assert!(stderr.contains(line), "missing {line:?} in:\n{stderr}");
    }
}

#[test]
fn a_misspelt_test_file_is_refused_naming_it() {
    let (code, stderr) = maestro_test(&["tests/fixtures/tests/misspelt.test.yaml"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("misspelt.test.yaml"), "{stderr}");
    assert!(stderr.contains("inputs"), "{stderr}");
}
