//! `maestro runs retry` on a state directory: a `compensation_failed` run
//! (from `maestro execute`) has its failed undo tried again and ends
//! `compensated`; retried once more, it starts again as a new run.

use std::process::{Command, Output};

use serde_json::Value;

use super::StateDir;
use crate::support::{Fault, RETRIED as WORKFLOW, ServiceProcess, env_for};

fn maestro(web: &ServiceProcess, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(args)
        .envs(env_for(&[web]))
        .output()
        .expect("maestro runs")
}

#[test]
fn a_run_is_retried_from_the_command_line() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("cli-retry");
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("retried.yaml");
    std::fs::write(&file, WORKFLOW).unwrap();
    web.set_fault(Fault::fail("POST /accounts/{id}/activate", 2, "503"));
    web.set_fault(Fault::fail("DELETE /accounts/{id}", 2, "503"));
    let input = r#"{"email": "ana@example.com"}"#;
    let file = file.to_str().unwrap();
    let first = maestro(
        &web,
        &["execute", file, "--input", input, "--state-dir", state],
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    let run = stderr
        .split_whitespace()
        .skip_while(|w| *w != "run")
        .nth(1)
        .expect("the run id on stderr")
        .to_owned();

    let retried = maestro(&web, &["runs", "retry", &run, "--state-dir", state]);
    let report: Value = serde_json::from_slice(&retried.stdout).expect("the report");
    assert_eq!(report["status"], "compensated", "{report}");
    assert_eq!(report["run_id"], run.as_str());
    assert_eq!(
        retried.status.code(),
        Some(1),
        "compensated, as `execute` says it"
    );
    let deletes = web.calls_to("DELETE /accounts/{id}");
    assert_eq!(deletes.len(), 3, "{deletes:?}");

    let again = maestro(&web, &["runs", "retry", &run[..13], "--state-dir", state]);
    let report: Value = serde_json::from_slice(&again.stdout).expect("the report");
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        (report["status"].as_str(), report["retry_of"].as_str()),
        (Some("succeeded"), Some(run.as_str()))
    );
}
