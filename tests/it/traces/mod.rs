//! Traces end to end: real `maestro execute` and `maestro serve` processes
//! export to real OTLP receivers (gRPC and HTTP) started here, and the
//! example services show the `traceparent` each call carried.

mod receiver;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::journal::StateDir;
use crate::serve::process::{Launch, ServeProcess};
use crate::support::{CallRecord, Fault, ServiceProcess, env_for, example_file};
use receiver::{Received, Receiver};

/// Batches leave every 100 ms rather than every 5 s: the tests wait less.
const FAST_BATCHES: (&str, &str) = ("OTEL_BSP_SCHEDULE_DELAY", "100");

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn maestro_execute(services: &[&ServiceProcess], workflow: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_maestro"));
    command
        .arg("execute")
        .arg(example_file(workflow))
        .args(args)
        .envs(env_for(services))
        .env(FAST_BATCHES.0, FAST_BATCHES.1)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    command
}

/// The root span of run `run_id`, once it arrived.
fn root_of(receiver: &Receiver, workflow: &str, run_id: &str) -> (Received, Vec<Received>) {
    let name = format!("run {workflow}");
    let is_root =
        |s: &Received| s.name() == name && s.attr("maestro.run_id").as_deref() == Some(run_id);
    let spans = receiver.wait_for(&format!("root span of {run_id}"), is_root);
    let root = spans.iter().find(|s| is_root(s)).cloned().expect("root");
    let trace: Vec<Received> = spans
        .into_iter()
        .filter(|s| s.trace_id() == root.trace_id())
        .collect();
    (root, trace)
}

fn named<'a>(spans: &'a [Received], name: &str) -> Vec<&'a Received> {
    spans.iter().filter(|s| s.name() == name).collect()
}

fn one<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "one `{name}` span in {spans:#?}");
    found[0]
}

/// The (trace id, parent id) a call's `traceparent` names.
fn traceparent(call: &CallRecord) -> (String, String) {
    let value = call
        .headers
        .get("traceparent")
        .unwrap_or_else(|| panic!("no traceparent on {call:?}"));
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(
        (parts.len(), parts[0], parts[3]),
        (4, "00", "01"),
        "{value}"
    );
    (parts[1].to_owned(), parts[2].to_owned())
}

#[test]
fn a_compensated_run_is_one_trace_over_http_protobuf_and_every_call_names_its_attempt() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let receiver = Receiver::http();
    let mut input: Value = serde_json::from_str(
        &std::fs::read_to_string(example_file("inputs/onboarding_premium.json")).unwrap(),
    )
    .unwrap();
    input["payment_method"] = json!("pm_card_declined");
    let output = maestro_execute(
        &[&web],
        "user_onboarding.yaml",
        &["--input", &input.to_string()],
    )
    .args(["--otlp-endpoint", &receiver.url()])
    .output()
    .expect("maestro execute");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "compensated: {stderr}");
    let calls = web.calls();
    let run_id = calls[0].run_id.clone().expect("run id header");
    let (root, spans) = root_of(&receiver, "user_onboarding", &run_id);

    assert_eq!(root.service, "maestro");
    assert_eq!(
        root.attr("maestro.workflow").as_deref(),
        Some("user_onboarding")
    );
    assert_eq!(
        root.attr("maestro.run.status").as_deref(),
        Some("compensated")
    );
    assert!(root.is_error() && root.parent_id().is_empty(), "{root:?}");

    // Steps and compensations under the run, attempts under them.
    let create = one(&spans, "step create_account");
    assert_eq!(create.parent_id(), root.span_id());
    let billing = one(&spans, "step premium_setup");
    assert!(billing.is_error());
    let declined = one(&spans, "attempt premium_setup");
    assert_eq!(declined.parent_id(), billing.span_id());
    assert_eq!(
        declined.attr("http.response.status_code").as_deref(),
        Some("402")
    );
    assert_eq!(
        declined.attr("maestro.error.class").as_deref(),
        Some("permanent")
    );
    assert_eq!(declined.attr("maestro.attempt").as_deref(), Some("1"));
    assert_eq!(
        declined.attr("http.request.method").as_deref(),
        Some("POST")
    );
    let undo = one(&spans, "compensate create_account");
    assert_eq!(undo.parent_id(), root.span_id());
    let undo_call = one(&spans, "compensation attempt create_account");
    assert_eq!(undo_call.parent_id(), undo.span_id());
    assert!(!undo_call.is_error());
    let created = one(&spans, "attempt create_account");
    assert_eq!(created.parent_id(), create.span_id());
    assert_eq!(
        created.attr("http.response.status_code").as_deref(),
        Some("201")
    );

    // Every call the service received names its attempt's span.
    let sent: BTreeSet<(String, String)> = calls.iter().map(traceparent).collect();
    let attempts: BTreeSet<(String, String)> = spans
        .iter()
        .filter(|s| {
            s.name().starts_with("attempt ") || s.name().starts_with("compensation attempt ")
        })
        .map(|s| (s.trace_id(), s.span_id()))
        .collect();
    assert_eq!(sent, attempts);
    assert_eq!(sent.len(), calls.len(), "one span per call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_on_post_is_continued_by_the_run_over_grpc() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let receiver = Receiver::grpc();
    let endpoint = receiver.url();
    let launch = Launch {
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "onboarding-api"),
            FAST_BATCHES,
        ],
        ..Launch::default()
    };
    let server = ServeProcess::try_spawn_with(
        std::slice::from_ref(&web),
        &["--workflows", "examples/workflows/user_onboarding.yaml"],
        &launch,
    )
    .expect("maestro serve");
    let input: Value = serde_json::from_str(
        &std::fs::read_to_string(example_file("inputs/onboarding_premium.json")).unwrap(),
    )
    .unwrap();
    let answer = server
        .client
        .post(server.url("/v1/workflows/user_onboarding/runs?wait=true"))
        .header("traceparent", CALLER)
        .json(&json!({ "input": input }))
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status(), 200);
    let run: Value = answer.json().await.expect("JSON");
    assert_eq!(run["status"], "succeeded", "{run}");
    let run_id = run["run_id"].as_str().expect("run id").to_owned();

    let (root, spans) = root_of(&receiver, "user_onboarding", &run_id);
    assert_eq!(root.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(root.parent_id(), "00f067aa0ba902b7");
    assert_eq!(root.service, "onboarding-api");
    assert_eq!(
        root.attr("maestro.run.status").as_deref(),
        Some("succeeded")
    );
    assert!(
        !named(&spans, "step activate_account").is_empty(),
        "{spans:#?}"
    );
    for call in web.calls() {
        assert_eq!(traceparent(&call).0, root.trace_id(), "{call:?}");
    }
}

#[test]
fn a_run_resumed_after_kill_9_continues_its_trace_over_grpc() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    core.set_fault(Fault::delay("GenerateContract", 5000).times(1));
    let receiver = Receiver::grpc();
    let dir = StateDir::new("traces");
    let args = [
        "--input",
        "{}",
        "--state-dir",
        dir.arg(),
        "--otlp-endpoint",
        &receiver.url(),
    ];
    let execute = || {
        let mut command = maestro_execute(&[&core], "loan_processing.yaml", &args);
        command.env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
        command
    };
    let mut killed = execute()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("maestro execute");
    core.wait_active("GenerateContract");
    killed.kill().expect("kill -9");
    let _ = killed.wait();

    let output = execute().output().expect("maestro execute");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let calls = core.calls_to("GenerateContract");
    let run_id = calls[0].run_id.clone().expect("run id");
    let resumed: Vec<&CallRecord> = calls
        .iter()
        .filter(|c| c.run_id.as_deref() == Some(&run_id))
        .collect();
    assert_eq!(resumed.len(), 2, "interrupted, then repeated: {calls:#?}");
    let (before, after) = (traceparent(resumed[0]), traceparent(resumed[1]));

    let (root, spans) = root_of(&receiver, "loan_processing", &run_id);
    assert_eq!(
        root.trace_id(),
        before.0,
        "the resumed run keeps the trace its first process began"
    );
    assert_eq!(after.0, before.0);
    assert_eq!(
        root.attr("maestro.run.status").as_deref(),
        Some("succeeded")
    );
    // The attempt the kill cut short is closed, under the id it was sent with.
    let attempts = named(&spans, "attempt generate_contract");
    let cut = attempts
        .iter()
        .find(|s| s.span_id() == before.1)
        .unwrap_or_else(|| panic!("the interrupted attempt in {attempts:#?}"));
    assert!(cut.is_error());
    let step = one(&spans, "step generate_contract");
    assert_eq!(cut.parent_id(), step.span_id());
    assert!(
        attempts
            .iter()
            .any(|s| s.span_id() == after.1 && !s.is_error())
    );
    assert_eq!(step.parent_id(), root.span_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_run_resumes_it_in_its_callers_trace() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    core.set_fault(Fault::delay("GenerateContract", 5000).times(1));
    let receiver = Receiver::http();
    let dir = StateDir::new("traces-serve");
    let endpoint = receiver.url();
    let args = [
        "--workflows",
        "examples/workflows/loan_processing.yaml",
        "--state-dir",
        dir.arg(),
        "--otlp-endpoint",
        &endpoint,
    ];
    let launch = Launch {
        env: vec![FAST_BATCHES],
        ..Launch::default()
    };
    let serve = || {
        ServeProcess::try_spawn_with(std::slice::from_ref(&core), &args, &launch)
            .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
    };
    let mut first = serve();
    let answer = first
        .client
        .post(first.url("/v1/workflows/loan_processing/runs"))
        .header("traceparent", CALLER)
        .json(&json!({ "input": {} }))
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status(), 202);
    let run_id = answer.json::<Value>().await.expect("JSON")["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    core.wait_active("GenerateContract");
    first.kill();

    // Taken over from the journal, the run goes on in the caller's trace.
    let second = serve();
    let run = second
        .wait_final(&run_id, std::time::Duration::from_secs(30))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let (root, _) = root_of(&receiver, "loan_processing", &run_id);
    assert_eq!(root.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(root.parent_id(), "00f067aa0ba902b7");
    for call in core
        .calls()
        .iter()
        .filter(|c| c.run_id.as_deref() == Some(&run_id))
    {
        assert_eq!(traceparent(call).0, root.trace_id(), "{call:?}");
    }
}

#[test]
fn an_unsupported_protocol_is_refused_at_start_naming_the_variable() {
    let bad = ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    let output = maestro_execute(&[], "user_onboarding.yaml", &["--input", "{}"])
        .args(["--otlp-endpoint", "http://127.0.0.1:4318"])
        .env(bad.0, bad.1)
        .output()
        .expect("maestro execute");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(bad.0) && stderr.contains("http/protobuf"),
        "{stderr}"
    );
    assert!(!stderr.contains("started"), "nothing ran: {stderr}");

    let launch = Launch {
        env: vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:4317")],
        ..Launch::default()
    };
    let args = ["--workflows", "examples/workflows/user_onboarding.yaml"];
    let refused = match ServeProcess::try_spawn_with(&[], &args, &launch) {
        Ok(_) => panic!("maestro serve started with an endpoint that is not a URL"),
        Err(refused) => refused,
    };
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{}",
        refused.stderr
    );
}
