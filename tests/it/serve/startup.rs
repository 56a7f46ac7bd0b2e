//! What `maestro serve` says when its workflows cannot all be loaded: every
//! invalid file, as `maestro validate` reports them, in one go.

use super::process::ServeProcess;

#[test]
fn every_invalid_workflow_file_is_reported_not_only_the_first() {
    let refused = ServeProcess::try_spawn(
        &[],
        &[
            "--workflows",
            "tests/invalid/unknown_service.yaml",
            "examples/workflows/loan_processing.yaml",
            "tests/invalid/missing_method.yaml",
            "tests/invalid/bad_duration.yaml",
        ],
    )
    .err()
    .expect("invalid workflows are refused");
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    for file in [
        "unknown_service.yaml:",
        "missing_method.yaml:",
        "bad_duration.yaml:",
    ] {
        assert!(
            refused.stderr.contains(file),
            "names {file}:\n{}",
            refused.stderr
        );
    }
    assert!(
        !refused.stderr.contains("loan_processing.yaml:"),
        "{}",
        refused.stderr
    );
}
