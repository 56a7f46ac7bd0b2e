//! `input_schema` end to end, with `examples/workflows/signup_checked.yaml`
//! and the example HTTP service: a refused input calls nothing and starts no
//! run (`execute` exits 2, `serve` answers 422 with every violation), and
//! the schema's defaults reach the service and the journal.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::journal::StateDir;
use crate::serve::process::ServeProcess;
use crate::support::{ServiceProcess, env_for, example_file};

const WORKFLOW: &str = "signup_checked.yaml";
const LIMIT: Duration = Duration::from_secs(20);

/// Five violations, one of them nested, one a missing property.
fn wrong_input() -> Value {
    json!({
        "name": "",
        "plan": "gold",
        "preferences": {"locale": "english", "theme": "dark"},
        "card": "4111-secret",
    })
}

/// The pointers of the violations `wrong_input` breaks, sorted.
const WRONG_PATHS: [&str; 6] = [
    "",
    "",
    "/name",
    "/plan",
    "/preferences",
    "/preferences/locale",
];

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn maestro(web: &ServiceProcess, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(args)
        .envs(env_for(&[web]))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("maestro runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn execute(web: &ServiceProcess, input: &Value, state: &StateDir) -> Run {
    let file = example_file(WORKFLOW);
    let input = input.to_string();
    let args = [
        "execute",
        file.to_str().unwrap(),
        "--input",
        &input,
        "--state-dir",
        state.arg(),
    ];
    maestro(web, &args)
}

/// The runs the journal holds, as `maestro runs list --json` prints them.
fn journaled(web: &ServiceProcess, state: &StateDir) -> Vec<Value> {
    let listed = maestro(web, &["runs", "list", "--json", "--state-dir", state.arg()]);
    listed
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn request_of(web: &ServiceProcess, method: &str) -> Value {
    let calls = web.calls_to(method);
    assert_eq!(calls.len(), 1, "{calls:#?}");
    calls[0].request.clone()
}

#[test]
fn execute_refuses_the_input_with_every_violation_and_calls_nothing() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let state = StateDir::new("input-schema-refused");
    let run = execute(&web, &wrong_input(), &state);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    for line in [
        "error: the input does not match the workflow's input_schema:",
        "  at (root): \"email\" is a required property",
        "  at /name: the value is shorter than 1 character",
        "  at /plan: the value is not one of \"free\", \"pro\" or \"premium\"",
        "  at /preferences/locale: the value does not match \"^[a-z]{2}$\"",
        "  at /preferences: Additional properties are not allowed ('theme' was unexpected)",
        "  at (root): Additional properties are not allowed ('card' was unexpected)",
    ] {
        assert!(
            run.stderr.lines().any(|l| l == line),
            "no `{line}` in:\n{}",
            run.stderr
        );
    }
    // No value of the input is repeated back.
    assert!(!run.stderr.contains("4111-secret") && !run.stderr.contains("english"));
    assert!(!run.stderr.contains("started"), "{}", run.stderr);
    assert_eq!(web.calls().len(), 0);
    // Refused before the journal was opened: no state was even created.
    assert!(!state.path().exists(), "{}", state.arg());
    assert_eq!(journaled(&web, &state), Vec::<Value>::new());
}

#[test]
fn execute_fills_defaults_that_reach_the_service_and_the_journal() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let state = StateDir::new("input-schema-defaults");
    let given = json!({"email": "sarah@example.com", "name": "Sarah"});
    let run = execute(&web, &given, &state);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let output: Value = serde_json::from_str(&run.stdout).expect("output JSON");
    assert_eq!(
        (&output["plan"], &output["locale"]),
        (&json!("free"), &json!("en"))
    );
    assert_eq!(request_of(&web, "POST /accounts")["plan"], "free");
    assert_eq!(request_of(&web, "POST /emails")["locale"], "en");

    let runs = journaled(&web, &state);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = runs[0]["run_id"].as_str().expect("a run id");
    let shown = maestro(
        &web,
        &["runs", "show", id, "--json", "--state-dir", state.arg()],
    );
    let shown: Value = serde_json::from_str(&shown.stdout).expect("runs show --json");
    let started = shown["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["event"] == "run_started"))
        .unwrap_or_else(|| panic!("no run_started: {shown}"));
    let filled = json!({
        "email": "sarah@example.com",
        "name": "Sarah",
        "plan": "free",
        "preferences": {"locale": "en"},
    });
    assert_eq!(started["input"], filled, "{started}");
    assert_eq!(shown["input"], filled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_422_with_every_violation_and_starts_nothing() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let workflow = example_file(WORKFLOW);
    let server = ServeProcess::try_spawn(
        std::slice::from_ref(&web),
        &["--workflows", workflow.to_str().unwrap()],
    )
    .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"));

    let path = "/v1/workflows/signup_checked/runs";
    let (status, body) = server.post(path, &json!({"input": wrong_input()})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input");
    let violations = body["error"]["violations"].as_array().expect("violations");
    let mut paths: Vec<&str> = violations
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, WRONG_PATHS, "{body}");
    assert!(
        violations
            .iter()
            .any(|v| v["message"] == "\"email\" is a required property"),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("(6 violations)"), "{message}");
    assert!(!body.to_string().contains("4111-secret"), "{body}");
    let (_, listed) = server.get("/v1/runs").await;
    assert_eq!(listed["runs"], json!([]), "{listed}");
    assert_eq!(web.calls().len(), 0);

    let (status, info) = server.get("/v1/workflows/signup_checked").await;
    assert_eq!(status, 200);
    assert_eq!(info["input_schema"]["required"], json!(["email", "name"]));

    let given = json!({"email": "sarah@example.com", "name": "Sarah", "plan": "pro"});
    let id = server.submit("signup_checked", &given).await;
    let report = server.wait_final(&id, LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["output"]["plan"], "pro", "{report}");
    assert_eq!(request_of(&web, "POST /accounts")["plan"], "pro");
    assert_eq!(request_of(&web, "POST /emails")["locale"], "en");
}

#[test]
fn validate_names_a_template_reading_an_undeclared_input_at_its_line_and_column() {
    let out = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["validate", "tests/invalid/input_undeclared.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("maestro runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let expected = [
        "tests/invalid/input_undeclared.yaml:21:17: steps[0].input.customer: `.input.customer_id`: input_schema does not declare `customer_id` in `.input`, whose `additionalProperties` is false",
        "tests/invalid/input_undeclared.yaml:22:14: steps[0].input.speed: `.input.shipping.sped`: input_schema does not declare `sped` in `.input.shipping`, whose `additionalProperties` is false",
        "  hint: did you mean `speed`?",
    ];
    for line in expected {
        assert!(
            stderr.lines().any(|l| l == line),
            "no `{line}` in:\n{stderr}"
        );
    }
}
