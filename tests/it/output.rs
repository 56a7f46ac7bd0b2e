//! Output a script can rely on: the real binary against the example
//! services, read as a script would read it: the run id at start, JSON
//! reports with numbers, JSON-only stderr on request, the timeline naming
//! what was really sent, and resuming only the workflow asked for.

use std::sync::Arc;
use std::time::SystemTime;

use maestro::journal::sqlite::SqliteJournal;
use maestro::journal::{Definition, Journal, NewRun, RunQuery, SyncMode, Write};
use maestro::runtime::{Recorded, RunEvent};
use serde_json::{Value, json};

use crate::execute::execute;
use crate::journal::StateDir;
use crate::support::{Fault, ServiceProcess, example_file};

const ORDER: &[&str] = &["--input-file", "examples/inputs/order.json"];

#[test]
fn json_logs_make_every_stderr_line_one_object_timeline_included() {
    let commerce = ServiceProcess::spawn("commerce_grpc", &[]);
    let run = execute(
        std::slice::from_ref(&commerce),
        "checkout_declined.yaml",
        &[ORDER, &["--log-format", "json", "--debug"]].concat(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| panic!("not one JSON object: {line:?}\n{}", run.stderr))
        })
        .collect();
    let timeline: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "maestro::timeline")
        .collect();
    assert!(
        timeline
            .iter()
            .any(|l| l["fields"]["event"] == "step_failed"
                && l["fields"]["step"] == "charge_payment"),
        "{}",
        run.stderr
    );
    assert!(
        lines.iter().any(|l| l["level"] == "ERROR"
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("steps that ran"))),
        "the failure summary is an object too:\n{}",
        run.stderr
    );
}

#[test]
fn a_failed_run_says_its_id_first_and_prints_nothing_but_its_json_report() {
    let commerce = ServiceProcess::spawn("commerce_grpc", &[]);
    let fleet = std::slice::from_ref(&commerce);
    let plain = execute(fleet, "checkout_declined.yaml", ORDER);
    assert_eq!(plain.code, 1, "{}", plain.stderr);
    assert_eq!(plain.stdout, "", "a failed run prints nothing on stdout");
    let run = execute(
        fleet,
        "checkout_declined.yaml",
        &[ORDER, &["--output", "json"]].concat(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let id = report["run_id"].as_str().expect("a run id");
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("run {id} started")),
        "{}",
        run.stderr
    );
    assert!(report["duration_ms"].is_u64(), "{report:#}");
    let reserve = &report["steps"][0];
    assert_eq!(reserve["id"], "reserve_inventory");
    assert!(reserve["duration_ms"].is_u64(), "{report:#}");
    assert!(
        reserve["output"]["reservation_id"].is_string(),
        "{report:#}"
    );
    let charge = &report["steps"][4];
    assert_eq!(charge["outcome"], "failed");
    assert!(
        charge.get("output").is_none(),
        "a failed step has no output"
    );
}

#[test]
fn the_timeline_shows_the_undos_own_method_and_the_paths_sent() {
    let web = ServiceProcess::spawn("web_http", &[]);
    web.set_fault(Fault::fail("POST /accounts/{id}/activate", 1, "400"));
    let run = execute(
        std::slice::from_ref(&web),
        "user_onboarding.yaml",
        &["--input-file", "examples/inputs/onboarding_free.json"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let row = |step: &str, outcome: &str| {
        run.stderr
            .lines()
            .find(|l| l.contains(&format!(" {step} ")) && l.contains(&format!("  {outcome}")))
            .unwrap_or_else(|| panic!("no {outcome} row for {step}:\n{}", run.stderr))
            .to_owned()
    };
    let failed = row("activate_account", "failed");
    assert!(failed.contains("accounts POST /accounts/acc_"), "{failed}");
    assert!(failed.contains("/activate"), "{failed}");
    let undone = row("create_account", "compensated");
    assert!(
        undone.contains("accounts DELETE /accounts/acc_"),
        "{undone}"
    );
}

/// A run of the example `file` (whose workflow is `name`) begun in the
/// journal and cut short.
async fn unfinished_run(journal: &SqliteJournal, file: &str, name: &str, run_id: &str) {
    let path = example_file(file);
    let text = std::fs::read_to_string(&path).expect("example");
    let definition = Definition {
        hash: format!("{:064x}", text.len()),
        name: name.into(),
        path: path.display().to_string(),
        text: text.into(),
    };
    let id: Arc<str> = run_id.into();
    journal
        .write(Write::Begin(NewRun {
            run_id: id.clone(),
            definition: Arc::new(definition),
            input: json!({}),
            created_at: SystemTime::now(),
        }))
        .await
        .expect("begun");
    let started = Recorded {
        at: SystemTime::now(),
        event: RunEvent::RunStarted {
            run_id: run_id.into(),
            workflow: name.into(),
            input: json!({}).into(),
            retry_of: None,
            traceparent: None,
        },
    };
    let write = Write::event(&id, 0, &started).expect("serializable");
    journal.write(write).await.expect("journaled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_with_a_state_dir_resumes_only_the_workflow_asked_for() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let dir = StateDir::new("resume-only");
    {
        let journal = SqliteJournal::open(dir.path(), SyncMode::Full).expect("journal");
        unfinished_run(
            &journal,
            "loan_processing.yaml",
            "loan_processing",
            "other-run",
        )
        .await;
        unfinished_run(
            &journal,
            "seed_000_my_workflow.yaml",
            "my_workflow",
            "same-run",
        )
        .await;
    }
    let web = ServiceProcess::spawn("web_http", &[]);
    let fleet = [core, web];
    let run = tokio::task::block_in_place(|| {
        execute(
            &fleet,
            "seed_000_my_workflow.yaml",
            &["--input", r#"{"payload":"x"}"#, "--state-dir", dir.arg()],
        )
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("resumed run same-run"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("resumed run other-run"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("left 1 unfinished run of other workflows in the journal: other-run"),
        "{}",
        run.stderr
    );
    let journal = SqliteJournal::open_read_only(dir.path()).expect("journal");
    let rows = journal.list(RunQuery::newest(10)).await.expect("list");
    let other = rows.iter().find(|r| r.run_id == "other-run").expect("kept");
    assert!(!other.status.is_final(), "{other:?}");
}

fn maestro(args: &[&str], stdout: std::process::Stdio) -> crate::execute::Run {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(args)
        .stdout(stdout)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("maestro runs");
    crate::execute::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A journal holding two unfinished runs whose ids share a start.
async fn two_runs() -> StateDir {
    let dir = StateDir::new("prefix");
    let journal = SqliteJournal::open(dir.path(), SyncMode::Normal).expect("journal");
    for id in ["run-abc-1", "run-abd-2"] {
        unfinished_run(&journal, "loan_processing.yaml", "loan_processing", id).await;
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_show_takes_a_unique_start_of_a_run_id() {
    let dir = two_runs().await;
    let piped = std::process::Stdio::piped;
    let show = |id: &str| maestro(&["runs", "show", id, "--state-dir", dir.arg()], piped());
    let run = tokio::task::block_in_place(|| show("run-abc"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("run run-abc-1 "), "{}", run.stdout);
    let run = tokio::task::block_in_place(|| show("run-ab"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("more than one run id"),
        "{}",
        run.stderr
    );
    let run = tokio::task::block_in_place(|| show("zzz"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no run zzz"), "{}", run.stderr);
}

#[test]
fn runs_help_shows_only_the_flags_that_apply_to_reading() {
    for command in ["list", "show"] {
        let help = maestro(&["runs", command, "--help"], std::process::Stdio::piped());
        assert_eq!(help.code, 0, "{}", help.stderr);
        assert!(help.stdout.contains("--state-dir"), "{}", help.stdout);
        for writer_only in ["--lease", "--sync"] {
            assert!(
                !help.stdout.contains(writer_only),
                "{command}: {}",
                help.stdout
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_into_a_closed_pipe_ends_quietly() {
    let dir = two_runs().await;
    let loan = example_file("loan_processing.yaml");
    let loan = loan.to_str().expect("a UTF-8 path");
    for args in [
        &["runs", "list", "--state-dir", dir.arg()][..],
        &["runs", "show", "run-abc-1", "--state-dir", dir.arg()],
        &["graph", loan],
        &["validate", loan],
    ] {
        // The reader is gone before maestro writes a byte.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let run = tokio::task::block_in_place(|| maestro(args, writer.into()));
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr, "", "{args:?}");
    }
}
