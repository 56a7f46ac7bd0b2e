//! `maestro validate` as a user runs it: every example workflow is valid, and
//! every fixture in `tests/invalid/` fails with exit 2 and a message that
//! names the offending line and value.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const INVALID: i32 = 2;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `maestro validate FILES...` run from the crate root, so that messages
/// carry the same relative paths a user would see.
fn validate(files: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maestro"))
        .current_dir(root())
        .arg("validate")
        .args(files)
        .env_remove("MAESTRO_FIXTURE_UNSET_PORT")
        .output()
        .expect("maestro runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter(|p| !maestro::workflow::is_test_file(p))
        .map(|p| {
            p.strip_prefix(root())
                .expect("under the root")
                .to_path_buf()
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_workflow_is_valid() {
    let files = yaml_files("examples/workflows");
    for file in &files {
        if let Err(diagnostics) = maestro::workflow::load_file(root().join(file)) {
            panic!("{} does not load:\n{diagnostics}", file.display());
        }
    }
    if files.is_empty() {
        return;
    }
    let args: Vec<&str> = files
        .iter()
        .map(|f| f.to_str().expect("utf-8 path"))
        .collect();
    let out = validate(&args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", text(&out.stderr));
    for file in &args {
        assert!(
            stdout.contains(&format!("{file}: ok: workflow ")),
            "no ok line for {file}:\n{stdout}"
        );
    }
}

/// (fixture, line of the problem, text the message must hold: the offending
/// name or value, and what is wrong with it).
const FIXTURES: &[(&str, usize, &str)] = &[
    (
        "attempts_zero.yaml",
        11,
        "retry.attempts: must be at least 1, got 0",
    ),
    ("bad_duration.yaml", 2, "`5 parsecs` is not a duration"),
    ("bad_grpc_endpoint.yaml", 5, "`scorer-host` has no port"),
    (
        "bad_http_endpoint.yaml",
        5,
        "`api-service:3000` has no scheme",
    ),
    (
        "compensate_without_method.yaml",
        12,
        "compensate: missing field `method`",
    ),
    (
        "compensation_reads_later_output.yaml",
        15,
        "`.invoice.id` comes from step `bill`",
    ),
    (
        "duplicate_output.yaml",
        14,
        "output `customer` is already produced by step `first`",
    ),
    (
        "compensate_as_step.yaml",
        10,
        "`compensate` is read as a step of its own",
    ),
    ("duplicate_step_id.yaml", 10, "duplicate step id `reserve`"),
    (
        "duration_without_unit.yaml",
        6,
        "timeout: expected a duration such as `30s`, found the number 30",
    ),
    ("empty_parallel.yaml", 10, "`parallel` lists no steps"),
    ("empty_steps.yaml", 6, "a workflow needs at least one step"),
    (
        "foreach_body_output_read_after.yaml",
        19,
        "`.reservation.id` comes from step `reserve` (line 10), inside foreach `reserve_all`",
    ),
    (
        "foreach_concurrency_too_high.yaml",
        9,
        "concurrency: must be at most 1000, got 5000",
    ),
    (
        "foreach_empty_steps.yaml",
        5,
        "a `foreach` needs at least one step",
    ),
    (
        "grpc_method_malformed.yaml",
        9,
        "`POST /score` is not a gRPC method name",
    ),
    (
        "grpc_method_not_in_proto.yaml",
        10,
        "no service offers method `SayGoodbye`",
    ),
    (
        "headers_on_grpc_step.yaml",
        11,
        "`headers` apply to http services only",
    ),
    ("http_method_bad_verb.yaml", 9, "unknown HTTP verb `SEND`"),
    (
        "http_method_without_path.yaml",
        9,
        "`SubmitOrder` is not `VERB /path`",
    ),
    (
        "jitter_out_of_range.yaml",
        7,
        "jitter: must be between 0 and 1, got 1.5",
    ),
    (
        "input_schema_invalid.yaml",
        4,
        "input_schema.required: invalid JSON Schema: \"order_id\" is not of type \"array\"",
    ),
    (
        "input_undeclared.yaml",
        21,
        "`.input.customer_id`: input_schema does not declare `customer_id` in `.input`",
    ),
    ("many_problems.yaml", 2, "`soon` is not a duration"),
    (
        "max_interval_below_initial.yaml",
        11,
        "`max_interval` (1s) is shorter than `initial_interval` (5s)",
    ),
    ("missing_method.yaml", 7, "steps[0]: missing field `method`"),
    ("negative_duration.yaml", 2, "`-1s` is negative"),
    ("missing_name.yaml", 1, "missing field `name`"),
    (
        "multiplier_below_one.yaml",
        8,
        "multiplier: must be at least 1, got 0.5",
    ),
    (
        "nested_parallel.yaml",
        11,
        "parallel groups cannot be nested",
    ),
    (
        "output_name_not_identifier.yaml",
        10,
        "output name `credit-score` is not an identifier",
    ),
    (
        "pool_on_http_service.yaml",
        6,
        "`pool` applies to grpc services only",
    ),
    (
        "pool_size_zero.yaml",
        7,
        "pool.size: must be at least 1, got 0",
    ),
    (
        "proto_input_mismatch.yaml",
        13,
        "field `quantity` of `fixtures.v1.PlaceRequest` takes a whole number",
    ),
    (
        "proto_does_not_compile.yaml",
        6,
        "do not compile: broken.proto:6:31: name '…' is not defined",
    ),
    (
        "proto_file_missing.yaml",
        6,
        "`protos/missing.proto` does not exist",
    ),
    (
        "query_input_not_a_mapping.yaml",
        11,
        "a GET request has no body, so `input` must be a mapping, not a list",
    ),
    (
        "reference_before_producer.yaml",
        11,
        "`.analysis.confidence` comes from step `analyze` (line 12), which runs later",
    ),
    (
        "reference_in_same_parallel_group.yaml",
        16,
        "`.analysis.score` comes from step `analyze` (line 8), which runs in the same parallel group",
    ),
    (
        "reference_to_unknown_output.yaml",
        15,
        "no step outputs `custmer`",
    ),
    (
        "seed_001_loan_as_printed.yaml",
        6,
        "unknown service `kyc_service`",
    ),
    (
        "service_headers_read_step_output.yaml",
        7,
        "service headers can only read `.input` and `.run`, not `.login.token`",
    ),
    (
        "template_syntax.yaml",
        11,
        "template `{{ .input.customer_id + }}` does not parse",
    ),
    ("unknown_backoff.yaml", 7, "unknown backoff `exponentail`"),
    ("unknown_field.yaml", 10, "unknown field `retires`"),
    ("unknown_service.yaml", 11, "unknown service `payment`"),
    (
        "unknown_service_type.yaml",
        4,
        "unknown service type `grcp`",
    ),
    (
        "unset_environment_variable.yaml",
        5,
        "environment variable `MAESTRO_FIXTURE_UNSET_PORT` is not set",
    ),
    (
        "unquoted_template.yaml",
        11,
        "unquoted `{{ }}`: YAML reads the braces as a mapping",
    ),
    (
        "version_as_number.yaml",
        2,
        "version: expected a string, found the number 1.1",
    ),
    ("when_not_single_template.yaml", 14, "`score is` is outside"),
    (
        "when_without_braces.yaml",
        14,
        "`.score.value > 700` is not a `{{ }}` template",
    ),
    (
        "wrong_type_attempts.yaml",
        7,
        "expected a whole number, found the string `three`",
    ),
    (
        "yaml_bad_indentation.yaml",
        5,
        "invalid YAML: mapping values are not allowed",
    ),
    (
        "when_on_parallel_group.yaml",
        7,
        "a parallel group has no `when`",
    ),
    (
        "yaml_duplicate_key.yaml",
        7,
        "duplicate mapping key `timeout`",
    ),
    ("yaml_tab_indentation.yaml", 4, "invalid YAML: tabs"),
    (
        "workflow_child_missing.yaml",
        4,
        "`children/absent.yaml` does not exist",
    ),
    (
        "workflow_cycle.yaml",
        6,
        "workflow `workflow_cycle_back.yaml` is invalid: 1 problem",
    ),
    (
        "workflow_cycle_back.yaml",
        4,
        "workflow `workflow_cycle.yaml` is invalid: 1 problem",
    ),
    (
        "workflow_service_clash.yaml",
        8,
        "service `payments` of `tests/invalid/children/payment.yaml` (http at \
         http://localhost:9000/) is not the one `tests/invalid/workflow_service_clash.yaml` \
         declares (grpc at http://localhost:9000/)",
    ),
];

#[test]
fn every_invalid_fixture_fails_at_its_line() {
    let mut failures = Vec::new();
    for (file, line, expected) in FIXTURES {
        let path = format!("tests/invalid/{file}");
        let out = validate(&[&path]);
        let stderr = text(&out.stderr);
        let prefix = format!("{path}:{line}:");
        let found = stderr
            .lines()
            .any(|l| l.starts_with(&prefix) && l.contains(expected));
        if out.status.code() != Some(INVALID) || !found || !out.stdout.is_empty() {
            failures.push(format!(
                "{path}: expected exit 2 and `{prefix} ... {expected}`, got {:?}:\n{stderr}",
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_is_in_the_table() {
    let listed: Vec<&str> = FIXTURES.iter().map(|(f, _, _)| *f).collect();
    for file in yaml_files("tests/invalid") {
        let name = file.file_name().and_then(|n| n.to_str()).expect("a name");
        assert!(listed.contains(&name), "{name} has no row in FIXTURES");
    }
    assert!(FIXTURES.len() >= 30);
}

#[test]
fn messages_are_stable_from_run_to_run() {
    let files: Vec<String> = FIXTURES
        .iter()
        .map(|(f, _, _)| format!("tests/invalid/{f}"))
        .collect();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let first = validate(&args);
    let second = validate(&args);
    assert_eq!(first.status.code(), Some(INVALID));
    assert_eq!(text(&first.stderr), text(&second.stderr));
}

#[test]
fn a_file_with_many_problems_reports_all_of_them() {
    let out = validate(&["tests/invalid/many_problems.yaml"]);
    let stderr = text(&out.stderr);
    let expected = [
        "many_problems.yaml:2:10: timeout: `soon` is not a duration",
        "many_problems.yaml:6:15: services.payments.endpoint: `payments:8080` has no scheme",
        "many_problems.yaml:8:17: services.payments.retry.attempts: must be at least 1, got 0",
        "many_problems.yaml:12:18: services.scorer.pool.size: must be at least 1, got 0",
        "many_problems.yaml:16:13: steps[0].method: `GET /score` is not a gRPC method name",
        "many_problems.yaml:23:19: steps[1].parallel[0].input.amount: `.refund.amount`: no step outputs `refund`",
        "many_problems.yaml:25:13: steps[1].parallel[1].id: duplicate step id `charge`",
        "many_problems.yaml:26:9: steps[1].parallel[1].servce: unknown field `servce`",
        "many_problems.yaml:29:14: steps[2].service: unknown service `mailer`",
        "many_problems.yaml:31:11: steps[2].when: template `{{ .score.value > 700 }} and more` does not parse",
        "many_problems.yaml:3:1: services: service `mailer` is used but not defined",
    ];
    let located = "tests/invalid/many_problems.yaml:";
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.strip_prefix(located)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    assert_eq!(problems.len(), expected.len(), "{stderr}");
    for (line, expected) in problems.iter().zip(expected) {
        assert!(
            line.contains(expected),
            "expected `{expected}`, got `{line}`"
        );
    }
    assert!(
        stderr.contains("  hint: did you mean `service`?"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("tests/invalid/many_problems.yaml: 11 problems\n"),
        "{stderr}"
    );
}

#[test]
fn a_cycle_of_child_workflows_is_reported_in_each_file_with_the_chain() {
    let out = validate(&["tests/invalid/workflow_cycle.yaml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(INVALID), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("  hint"))
        .collect();
    assert_eq!(
        lines,
        [
            "tests/invalid/workflow_cycle.yaml:6:15: steps[1].workflow: workflow \
             `workflow_cycle_back.yaml` is invalid: 1 problem",
            "tests/invalid/workflow_cycle_back.yaml:4:15: steps[0].workflow: workflow \
             `workflow_cycle.yaml` uses itself: tests/invalid/workflow_cycle.yaml → \
             tests/invalid/workflow_cycle_back.yaml → tests/invalid/workflow_cycle.yaml",
            "tests/invalid/workflow_cycle.yaml: 2 problems",
        ]
    );
}

#[test]
fn the_seed_loan_workflow_lists_each_missing_service() {
    let out = validate(&["tests/invalid/seed_001_loan_as_printed.yaml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(INVALID));
    let missing = [
        (6, "kyc_service"),
        (12, "credit_bureau"),
        (17, "employer_api"),
        (22, "fraud_detection"),
        (28, "loan_service"),
        (38, "review_queue"),
        (52, "document_service"),
    ];
    for (line, name) in missing {
        let needle = format!("seed_001_loan_as_printed.yaml:{line}:");
        let found = stderr
            .lines()
            .any(|l| l.contains(&needle) && l.contains(&format!("unknown service `{name}`")));
        assert!(found, "no diagnostic for {name} at line {line}:\n{stderr}");
    }
    // Each service once, at its first use: loan_service is used twice.
    assert_eq!(stderr.matches("unknown service `loan_service`").count(), 1);
    assert!(stderr.contains(
        "7 services are used but not defined: `kyc_service`, `credit_bureau`, `employer_api`, \
         `fraud_detection`, `loan_service`, `review_queue` and `document_service`"
    ));
}

#[test]
fn valid_files_still_get_their_ok_line_when_others_fail() {
    let dir = std::env::temp_dir().join(format!("maestro-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("good.yaml");
    std::fs::write(
        &good,
        "name: good\nservices:\n  api: {type: http, endpoint: \"http://127.0.0.1:9\"}\n\
         steps:\n  - parallel:\n      - {id: a, service: api, method: \"GET /a\"}\n      \
         - {id: b, service: api, method: \"GET /b\"}\n  - {id: c, service: api, method: \"GET /c\"}\n",
    )
    .expect("write");
    let good = good.to_str().expect("utf-8").to_string();
    let out = validate(&[&good, "tests/invalid/unknown_field.yaml"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(INVALID));
    assert_eq!(
        text(&out.stdout),
        format!("{good}: ok: workflow good, 3 steps (1 parallel group), 1 service\n")
    );
    assert!(text(&out.stderr).contains("unknown field `retires`"));
}

#[test]
fn a_missing_file_is_reported_without_a_position() {
    let out = validate(&["tests/invalid/no_such_file.yaml"]);
    assert_eq!(out.status.code(), Some(INVALID));
    assert!(
        text(&out.stderr).starts_with("tests/invalid/no_such_file.yaml: cannot read the file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_summary_names_loops_and_child_workflows() {
    let dir = std::env::temp_dir().join(format!("maestro-validate-loops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let parent = dir.join("checkout.yaml");
    std::fs::write(
        &parent,
        "name: checkout\nservices:\n  api: {type: http, endpoint: \"http://127.0.0.1:9\"}\n\
         steps:\n  - id: each\n    foreach: \"{{ .input.items }}\"\n    steps:\n      \
         - {id: reserve, service: api, method: \"POST /r\"}\n      \
         - {id: approve, wait: approval}\n  - {id: pay, workflow: payment.yaml}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("payment.yaml"),
        "name: payment\nservices:\n  pay: {type: http, endpoint: \"http://127.0.0.1:9\"}\n\
         steps:\n  - {id: charge, service: pay, method: \"POST /charge\"}\n",
    )
    .expect("write");
    let file = parent.to_str().expect("utf-8").to_string();
    let out = validate(&[&file]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{file}: ok: workflow checkout, 4 steps (1 loop, 1 child workflow: payment.yaml), \
             2 services; waits for signal `approval`: execute it with --state-dir or --state\n"
        )
    );
}
