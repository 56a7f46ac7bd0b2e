//! `kill -9` in the middle of runs, then a restart on the same state
//! directory: every run reaches a final state, no idempotency key has two
//! effects at a service, and no step whose completion was journaled before
//! the kill is called again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use maestro::journal::sqlite::SqliteJournal;
use maestro::journal::{Journal, RunQuery};
use maestro::runtime::RunEvent;
use serde_json::{Value, json};

use super::StateDir;
use crate::serve::process::ServeProcess;
use crate::support::{CallRecord, Fault, ServiceProcess, env_for};

const RUNS: usize = 200;
/// Contract calls refused, so their runs compensate (CancelApproval).
const REFUSED: u32 = 60;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as u64
}

/// The keys (`run:step`) of the steps whose completion the journal holds,
/// and how many runs were compensating.
async fn completed_steps(dir: &StateDir) -> (HashSet<String>, usize) {
    let journal = SqliteJournal::open_read_only(dir.path()).expect("journal");
    let (mut done, mut compensating) = (HashSet::new(), 0);
    for row in journal.list(RunQuery::newest(10_000)).await.expect("list") {
        let run = journal.load(&row.run_id).await.unwrap().unwrap();
        let mut halted = false;
        for recorded in run.events {
            match recorded.event {
                RunEvent::StepCompleted { step, .. } => {
                    done.insert(format!("{}:{step}", row.run_id));
                }
                RunEvent::RunHalted { .. } => halted = true,
                _ => {}
            }
        }
        compensating += usize::from(halted && !run.status.is_final());
    }
    (done, compensating)
}

/// Keys with more than one applied effect (answered ok, not replayed).
fn applied_twice(calls: &[CallRecord]) -> Vec<String> {
    let mut applied: HashMap<&str, usize> = HashMap::new();
    for call in calls.iter().filter(|c| c.ok && !c.replayed) {
        if let Some(key) = &call.idempotency_key {
            *applied.entry(key).or_default() += 1;
        }
    }
    applied
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k.to_string())
        .collect()
}

/// Poll until `ready`, at most 30 s.
async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Submit `n` runs at once; their ids.
async fn submit_at_once(server: &ServeProcess, n: usize) -> Vec<String> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = server.client.clone();
            let url = server.url("/v1/workflows/loan_processing/runs");
            tokio::spawn(async move {
                let response = client.post(url).json(&json!({"input": {}})).send().await;
                let body: Value = response.expect("POST").json().await.expect("JSON");
                body["run_id"].as_str().expect("a run id").to_string()
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(n);
    for task in tasks {
        ids.push(task.await.expect("submitted"));
    }
    ids
}

fn spawn_serve(core: &ServiceProcess, dir: &StateDir) -> ServeProcess {
    let args = [
        "--workflows",
        "examples/workflows/loan_processing.yaml",
        "--state-dir",
        dir.arg(),
    ];
    ServeProcess::try_spawn(std::slice::from_ref(core), &args)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_server_resumes_every_run_and_repeats_no_effect() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    core.set_fault(Fault::delay("*", 300));
    core.set_fault(Fault::fail("GenerateContract", REFUSED, "INVALID_ARGUMENT"));
    let dir = StateDir::new("crash");
    let mut first = spawn_serve(&core, &dir);

    // The first wave compensates (60 refused contracts) while the second
    // starts: the kill finds runs at every stage, undoing included.
    let mut ids = submit_at_once(&first, RUNS / 2).await;
    let started = |method: &str| {
        core.calls()
            .iter()
            .chain(&core.active_calls())
            .filter(|c| c.is(method))
            .count()
    };
    wait_for("a compensation starts", || started("CancelApproval") > 0).await;
    let identities = started("VerifyIdentity");
    ids.extend(submit_at_once(&first, RUNS / 2).await);
    wait_for("the second wave starts", || {
        started("VerifyIdentity") > identities
    })
    .await;
    first.kill();
    let killed_at = now_us();
    let (done_before, compensating) = completed_steps(&dir).await;

    let second = spawn_serve(&core, &dir);
    let mut statuses = BTreeMap::new();
    let mut compensated_runs = BTreeSet::new();
    let (mut lost, mut stuck) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(90);
    for id in &ids {
        let run = loop {
            let (code, run) = second.get(&format!("/v1/runs/{id}")).await;
            if code != 200 {
                lost += 1;
                break Value::Null;
            }
            let status = run["status"].as_str().unwrap_or_default().to_string();
            if !matches!(status.as_str(), "queued" | "running") {
                break run;
            }
            if Instant::now() > deadline {
                stuck += 1;
                break run;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let status = run["status"].as_str().unwrap_or("lost").to_string();
        if status == "compensated" {
            compensated_runs.insert(id.clone());
        }
        *statuses.entry(status).or_insert(0usize) += 1;
    }
    let calls = core.calls();
    let again: Vec<&CallRecord> = calls
        .iter()
        .filter(|c| c.start_us > killed_at)
        .filter(|c| {
            c.idempotency_key
                .as_ref()
                .is_some_and(|k| done_before.contains(k))
        })
        .collect();
    let twice = applied_twice(&calls);
    let resumed = calls.iter().filter(|c| c.start_us > killed_at).count();
    println!(
        "crash: runs={RUNS} succeeded={} compensated={} compensation_failed={} lost={lost} \
         stuck={stuck} steps_done_before_kill={} compensating_at_kill={compensating} \
         calls_after_restart={resumed}",
        statuses.get("succeeded").unwrap_or(&0),
        statuses.get("compensated").unwrap_or(&0),
        statuses.get("compensation_failed").unwrap_or(&0),
        done_before.len(),
    );
    assert_eq!((lost, stuck), (0, 0), "{statuses:?}");
    assert!(again.is_empty(), "completed steps called again: {again:?}");
    assert!(twice.is_empty(), "keys applied twice: {twice:?}");
    assert_eq!(
        statuses.get("succeeded").copied().unwrap_or(0)
            + statuses.get("compensated").copied().unwrap_or(0),
        RUNS,
        "{statuses:?}"
    );
    // A refusal decided for a call the kill cut short is spent on a call
    // that never answered, and its run's retry then succeeds: a run is
    // compensated exactly when the last answer its contract got was the
    // refusal.
    let mut last_contract: HashMap<&str, &CallRecord> = HashMap::new();
    for call in calls
        .iter()
        .filter(|c| c.is("GenerateContract") && c.outcome != "cancelled")
    {
        if let Some(run) = &call.run_id {
            last_contract.insert(run, call);
        }
    }
    let refused: BTreeSet<String> = last_contract
        .iter()
        .filter(|(_, c)| c.outcome == "INVALID_ARGUMENT")
        .map(|(run, _)| run.to_string())
        .collect();
    assert!(!refused.is_empty(), "no contract was refused");
    assert_eq!(compensated_runs, refused, "compensated runs");
    // Every approval of a compensated run was cancelled exactly once.
    let cancels = calls
        .iter()
        .filter(|c| c.is("CancelApproval") && c.ok && !c.replayed)
        .count();
    assert_eq!(cancels, refused.len());
    assert!(resumed > 0, "the restarted server went on with the runs");
}

fn execute(core: &ServiceProcess, dir: &StateDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_maestro"));
    command
        .args(["execute", "examples/workflows/loan_processing.yaml"])
        .args(["--input", "{}", "--state-dir", dir.arg()])
        .envs(env_for(&[core]))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    command
}

fn runs_cli(dir: &StateDir, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("runs")
        .args(args)
        .args(["--state-dir", dir.arg()])
        .output()
        .expect("maestro runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_finishes_a_run_its_killed_predecessor_left() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    core.set_fault(Fault::delay("GenerateContract", 5000).times(1));
    let dir = StateDir::new("execute");
    let mut killed = execute(&core, &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("maestro execute");
    core.wait_active("GenerateContract");
    killed.kill().expect("kill -9");
    let _ = killed.wait();

    let output = execute(&core, &dir).output().expect("maestro execute");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let first = runs_cli(&dir, &["list", "--json"]);
    let rows: Vec<Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(rows.len(), 2, "{first}");
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{first}");
    let resumed_id = rows[1]["run_id"].as_str().expect("id");
    assert!(
        stderr.contains(&format!(
            "resumed run {resumed_id} (loan_processing): succeeded"
        )),
        "{stderr}"
    );

    // The resumed run called each completed step once, and repeated the
    // interrupted contract call under the same key.
    let key = |step: &str| format!("{resumed_id}:{step}");
    let calls = core.calls();
    let with_key = |step: &str| {
        calls
            .iter()
            .filter(|c| c.idempotency_key.as_deref() == Some(key(step).as_str()))
            .count()
    };
    for step in ["verify_identity", "credit_check", "auto_approve"] {
        assert_eq!(with_key(step), 1, "{step} is called once");
    }
    assert_eq!(
        with_key("generate_contract"),
        2,
        "interrupted, then repeated"
    );
    assert!(applied_twice(&calls).is_empty());

    let shown = runs_cli(&dir, &["show", resumed_id]);
    for expected in [
        "resumed from the journal",
        "generate_contract",
        "run succeeded",
        "output: {\"contract_id\"",
    ] {
        assert!(shown.contains(expected), "{expected:?} in:\n{shown}");
    }
}
