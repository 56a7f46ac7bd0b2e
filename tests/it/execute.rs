//! `maestro execute` end to end: the real binary runs the example workflows
//! against the example services on 127.0.0.1, and the services' call logs
//! show what really happened (retries, overlaps, compensation order).

use std::process::Command;

use serde_json::Value;

use crate::support::{EXAMPLES, Fault, ServiceProcess, compensations, env_for, example_file};

/// Every example process, on free ports.
fn fleet() -> Vec<ServiceProcess> {
    EXAMPLES
        .iter()
        .map(|name| ServiceProcess::spawn(name, &[]))
        .collect()
}

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

pub(crate) fn execute(fleet: &[ServiceProcess], workflow: &str, args: &[&str]) -> Run {
    let processes: Vec<&ServiceProcess> = fleet.iter().collect();
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("execute")
        .arg(example_file(workflow))
        .args(args)
        .envs(env_for(&processes))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("maestro runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn process<'a>(fleet: &'a [ServiceProcess], name: &str) -> &'a ServiceProcess {
    fleet
        .iter()
        .find(|p| p.name == name)
        .expect("example process")
}

const SEED_INPUT: &str = r#"{"payload":"Quarterly revenue grew strongly in every region"}"#;

#[test]
fn every_example_workflow_runs_to_its_documented_end() {
    let fleet = fleet();
    let cases: &[(&str, &[&str], i32)] = &[
        ("seed_000_my_workflow.yaml", &["--input", SEED_INPUT], 0),
        ("loan_processing.yaml", &["--input", "{}"], 0),
        (
            "loan_application.yaml",
            &["--input-file", "examples/inputs/loan_approved.json"],
            0,
        ),
        (
            "loan_application.yaml",
            &["--input-file", "examples/inputs/loan_manual_review.json"],
            0,
        ),
        (
            "loan_application.yaml",
            &["--input-file", "examples/inputs/loan_rejected.json"],
            0,
        ),
        (
            "order_checkout.yaml",
            &["--input-file", "examples/inputs/order.json"],
            0,
        ),
        (
            "checkout_declined.yaml",
            &["--input-file", "examples/inputs/order.json"],
            1,
        ),
        (
            "user_onboarding.yaml",
            &["--input-file", "examples/inputs/onboarding_premium.json"],
            0,
        ),
        (
            "user_onboarding.yaml",
            &["--input-file", "examples/inputs/onboarding_free.json"],
            0,
        ),
        (
            "document_pipeline.yaml",
            &["--input-file", "examples/inputs/document_medical.json"],
            0,
        ),
        (
            "document_pipeline.yaml",
            &["--input-file", "examples/inputs/document_invoice.json"],
            0,
        ),
    ];
    for (workflow, args, expected) in cases {
        let run = execute(&fleet, workflow, args);
        assert_eq!(
            run.code, *expected,
            "{workflow} {args:?}: exit {}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        );
        if *expected == 0 {
            assert!(
                run.json().is_object(),
                "{workflow}: the output is a JSON object"
            );
        }
    }
}

#[test]
fn a_failed_checkout_is_undone_newest_first_with_the_data_of_earlier_steps() {
    let fleet = fleet();
    let run = execute(
        &fleet,
        "checkout_declined.yaml",
        &[
            "--input-file",
            "examples/inputs/order.json",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let report = run.json();
    assert_eq!(report["status"], "compensated");
    let undone: Vec<&str> = compensations(&report).iter().map(|c| c.0).collect();
    assert_eq!(undone, ["redeem_points", "reserve_inventory"]);

    let commerce = process(&fleet, "commerce_grpc");
    let calls = commerce.calls();
    let position = |method: &str| {
        calls
            .iter()
            .position(|c| c.method == method)
            .unwrap_or_else(|| panic!("no call to {method} in {calls:#?}"))
    };
    assert!(
        position("RestorePoints") < position("Release"),
        "newest first"
    );
    // The undo of step 1 carries what step 1 produced.
    let reserved = calls
        .iter()
        .find(|c| c.method == "Reserve")
        .expect("Reserve");
    let release = calls
        .iter()
        .find(|c| c.method == "Release")
        .expect("Release");
    let reservation = reserved.response.as_ref().expect("Reserve answered");
    let id = reservation
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.ends_with("id"))
                .map(|(_, v)| v.clone())
        })
        .expect("the reservation has an id");
    assert!(
        release.request.to_string().contains(&id.to_string()),
        "Release {} carries the reservation id {id}",
        release.request
    );
    // The declined charge is permanent: called once, and not compensated.
    assert_eq!(calls.iter().filter(|c| c.method == "Charge").count(), 1);
    assert!(calls.iter().all(|c| c.method != "Refund"));
}

#[test]
fn retryable_failures_are_retried_with_one_idempotency_key_and_permanent_ones_are_not() {
    let fleet = fleet();
    let web = process(&fleet, "web_http");

    web.set_fault(Fault::fail("POST /enrich", 2, "503"));
    let run = execute(
        &fleet,
        "seed_000_my_workflow.yaml",
        &["--input", SEED_INPUT],
    );
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let enrich = web.calls_to("POST /enrich");
    assert_eq!(enrich.len(), 3, "two failures, then success: {enrich:#?}");
    assert!(
        enrich
            .windows(2)
            .all(|w| w[0].idempotency_key == w[1].idempotency_key)
    );
    assert!(enrich[0].idempotency_key.is_some());

    web.clear_calls();
    web.clear_faults();
    web.set_fault(Fault::fail("POST /enrich", 1, "400"));
    let run = execute(
        &fleet,
        "seed_000_my_workflow.yaml",
        &["--input", SEED_INPUT],
    );
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    assert_eq!(
        web.calls_to("POST /enrich").len(),
        1,
        "a permanent error is not retried"
    );
}

#[test]
fn parallel_branches_are_in_the_services_at_the_same_time() {
    let fleet = fleet();
    let core = process(&fleet, "core_grpc");
    let web = process(&fleet, "web_http");
    core.set_fault(Fault::delay("Analyze", 200));
    web.set_fault(Fault::delay("POST /enrich", 200));
    let run = execute(
        &fleet,
        "seed_000_my_workflow.yaml",
        &["--input", SEED_INPUT],
    );
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let analyze = core.calls_to("Analyze");
    let enrich = web.calls_to("POST /enrich");
    assert_eq!((analyze.len(), enrich.len()), (1, 1));
    assert!(
        analyze[0].overlaps(&enrich[0]),
        "server-side intervals overlap: {:?} and {:?}",
        (analyze[0].start_us, analyze[0].end_us),
        (enrich[0].start_us, enrich[0].end_us)
    );
}

/// `maestro ARGS` in the crate's folder, with no example service.
fn maestro(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("maestro runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maestros_own_failures_exit_5_and_say_which() {
    use maestro::journal::{StateSpec, SyncMode};

    // A state directory another process holds.
    let dir = crate::journal::StateDir::new("exit-codes");
    let spec = StateSpec::Dir {
        path: dir.path().to_path_buf(),
        sync: SyncMode::Normal,
    };
    let held = maestro::journal::open(&spec)
        .await
        .expect("the journal opens");
    let workflow = example_file("workflows/seed_000_my_workflow.yaml");
    let workflow = workflow.to_str().expect("UTF-8");
    let run = maestro(&[
        "execute",
        workflow,
        "--input",
        SEED_INPUT,
        "--state-dir",
        dir.arg(),
    ]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("in use by another maestro process"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "nothing on stdout");

    // A run the journal does not hold is the caller's mistake.
    drop(held);
    let run = maestro(&["runs", "show", "no-such-run", "--state-dir", dir.arg()]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    // A port another socket holds.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("bound").port().to_string();
    let run = maestro(&["serve", "--port", &port, "--workflows", workflow]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("cannot listen"), "{}", run.stderr);
}
