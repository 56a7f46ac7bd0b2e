//! Single calls through whole workflows: gRPC retries keep one idempotency
//! key and permanent codes are not retried, 64-bit integers survive input to
//! output, and every way of describing a gRPC service works in `maestro
//! execute` (reflection v1 only, v1alpha only, `.proto` files without any).

use maestro::runtime::RunStatus;
use serde_json::json;

use super::{execute, load, run, start};
use crate::support::{Fault, ServiceProcess};

const PROCESS: &str = r#"
name: process
services:
  fast:
    type: grpc
    endpoint: "${MAESTRO_CORE_GRPC}"
    retry: {attempts: 4, initial_interval: 20ms}
steps:
  - id: process
    service: fast
    method: Process
    input:
      data: "{{ .input.data }}"
      sequence: "{{ .input.sequence }}"
    output: processed
output:
  sequence: "{{ .processed.sequence }}"
  result: "{{ .processed.result }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_retries_keep_one_key_and_permanent_codes_are_called_once() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let workflow = load(PROCESS, &[&core]);
    let runtime = start(&workflow).await;
    let input = json!({"data": "  two   words ", "sequence": 7});

    for failures in [1, 3] {
        core.clear_calls();
        core.set_fault(Fault::fail("Process", failures, "UNAVAILABLE"));
        let report = run(&runtime, &workflow, input.clone()).await;
        assert_eq!(report.status, RunStatus::Succeeded, "{report:#?}");
        assert_eq!(report.steps[0].attempts, failures + 1);
        let calls = core.calls_to("Process");
        let outcomes: Vec<&str> = calls.iter().map(|c| c.outcome.as_str()).collect();
        let mut expected = vec!["UNAVAILABLE"; failures as usize];
        expected.push("ok");
        assert_eq!(outcomes, expected);
        let key = calls[0].idempotency_key.clone().expect("a key");
        assert!(key.ends_with(":process"), "{key}");
        assert!(
            calls
                .iter()
                .all(|c| c.idempotency_key.as_ref() == Some(&key))
        );
        let attempts: Vec<u32> = calls.iter().map(|c| c.attempt).collect();
        assert_eq!(attempts, (1..=failures + 1).collect::<Vec<_>>());
    }

    core.clear_calls();
    core.set_fault(Fault::fail("Process", 1, "INVALID_ARGUMENT"));
    let report = run(&runtime, &workflow, input).await;
    assert_eq!(report.status, RunStatus::Compensated);
    assert_eq!(report.steps[0].attempts, 1);
    assert_eq!(
        core.calls_to("Process").len(),
        1,
        "a permanent code is final"
    );
}

#[test]
fn an_int64_above_2_pow_53_survives_the_whole_workflow() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    // 2^53 + 1: the first integer a double cannot hold.
    let input = r#"{"data": "x", "sequence": 9007199254740993}"#;
    let run = execute(PROCESS, "int64", &["--input", input], &[&core]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stdout.contains("9007199254740993"),
        "exact in the output: {}",
        run.stdout
    );
    let sequence = &run.json()["sequence"];
    let exact = sequence
        .as_u64()
        .or_else(|| sequence.as_str().and_then(|s| s.parse().ok()));
    assert_eq!(exact, Some(9_007_199_254_740_993), "{sequence}");
    let sent = &core.calls_to("Process")[0].request["sequence"];
    assert!(
        sent.to_string().contains("9007199254740993"),
        "the service got {sent}"
    );
}

#[test]
fn reflection_v1_v1alpha_and_proto_files_each_work_in_maestro_execute() {
    let cases = [
        (
            "core_grpc",
            "v1",
            "seed_000_my_workflow.yaml",
            r#"--input={"payload":"Revenue grew strongly"}"#,
            "Process",
        ),
        (
            "docs_grpc",
            "v1alpha",
            "document_pipeline.yaml",
            "--input-file=examples/inputs/document_medical.json",
            "ExtractText",
        ),
        (
            "commerce_grpc",
            "none",
            "order_checkout.yaml",
            "--input-file=examples/inputs/order.json",
            "Reserve",
        ),
    ];
    for (example, reflection, file, input, method) in cases {
        let fleet = [
            ServiceProcess::spawn("web_http", &[]),
            ServiceProcess::spawn(example, &["--reflection", reflection]),
        ];
        let run = crate::execute::execute(&fleet, file, &[input]);
        assert_eq!(
            run.code, 0,
            "{example} --reflection {reflection}:\n{}",
            run.stderr
        );
        assert!(run.json().is_object());
        assert!(
            !fleet[1].calls_to(method).is_empty(),
            "{example}: {method} was called"
        );
    }
}
