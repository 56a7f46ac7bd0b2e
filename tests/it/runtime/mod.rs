//! The runtime against the example services: circuit breaking, timeouts,
//! compensation order, retries, exact 64-bit integers, reflection flavours
//! and service actors killed mid-call. Workflows are written inline.

mod breaker;
mod calls;
mod data;
mod kill;
mod limits;
mod paths;
mod saga;
mod timeouts;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use maestro::runtime::{RunOptions, RunReport, Runtime, TransitionCounts};
use maestro::workflow::Workflow;
use serde_json::Value;

use crate::execute::Run;
use crate::support::{ServiceProcess, env_for};

/// No run in these tests may take longer: a hang fails instead of blocking.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Validates an inline workflow whose endpoints read `${MAESTRO_...}`.
pub fn load(yaml: &str, processes: &[&ServiceProcess]) -> Arc<Workflow> {
    let env: HashMap<String, String> = env_for(processes).into_iter().collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("inline.yaml");
    let workflow = maestro::workflow::load_str(yaml, &path, &|k| env.get(k).cloned())
        .unwrap_or_else(|d| panic!("the inline workflow is invalid:\n{d}"));
    Arc::new(workflow)
}

pub async fn start(workflow: &Workflow) -> Runtime {
    Runtime::start(&workflow.services)
        .await
        .expect("service actors start")
}

/// One run to its end, bounded by [`RUN_LIMIT`].
pub async fn run(runtime: &Runtime, workflow: &Arc<Workflow>, input: Value) -> RunReport {
    tokio::time::timeout(
        RUN_LIMIT,
        runtime.execute(workflow.clone(), input, RunOptions::default()),
    )
    .await
    .expect("the run ends")
    .expect("the run reports")
}

/// `closed`, `open` or `half_open`.
pub async fn breaker(runtime: &Runtime, service: &str) -> String {
    let health = runtime.health().await;
    let service = health
        .iter()
        .find(|h| h.name == service)
        .unwrap_or_else(|| panic!("no service `{service}` in {health:#?}"));
    service.breaker.expect("alive").label().to_string()
}

/// Breaker transitions of `service` since the runtime started.
pub async fn transitions(runtime: &Runtime, service: &str) -> TransitionCounts {
    let health = runtime.health().await;
    health
        .iter()
        .find(|h| h.name == service)
        .map(|h| h.transitions)
        .unwrap_or_else(|| panic!("no service `{service}` in {health:#?}"))
}

/// `maestro execute` on an inline workflow (written to a file of its own).
pub fn execute(yaml: &str, name: &str, args: &[&str], processes: &[&ServiceProcess]) -> Run {
    let file = workflow_file(name);
    std::fs::write(&file, yaml).expect("the workflow file is written");
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("execute")
        .arg(&file)
        .args(args)
        .envs(env_for(processes))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("maestro runs");
    let _ = std::fs::remove_file(&file);
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn workflow_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("maestro-it-{}-{name}.yaml", std::process::id()))
}

/// Polls (every 10 ms, at most 10 s) until `ready` holds.
pub async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Restarts of `service`'s actor once it is alive again (bounded wait).
pub async fn restarts_once_alive(runtime: &Runtime, service: &str) -> u32 {
    for _ in 0..200 {
        let health = runtime.health().await;
        let h = health.iter().find(|h| h.name == service).expect("known");
        if h.alive {
            return h.restarts;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("`{service}` did not come back");
}
