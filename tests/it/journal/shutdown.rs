//! SIGTERM on a `maestro serve` whose run slots are full: with a journal,
//! runs that never started are left for the next start, which finishes
//! them, and nothing reports them cancelled; a run cancelled while queued
//! stays cancelled. Without a journal, queued runs are cancelled and the
//! log and the API say why. On restart, runs that had started resume
//! before runs that never did.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use maestro::journal::sqlite::SqliteJournal;
use maestro::journal::{Definition, Journal, NewRun, SyncMode, Write};
use maestro::runtime::{Recorded, RunEvent, RunStatus};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::StateDir;
use crate::serve::process::ServeProcess;
use crate::support::{Fault, ServiceProcess, example_file};

const WORKFLOW: &str = "examples/workflows/loan_processing.yaml";

fn serve(core: &ServiceProcess, extra: &[&str]) -> ServeProcess {
    let mut args = vec!["--workflows", WORKFLOW, "--max-running", "1"];
    args.extend_from_slice(extra);
    ServeProcess::try_spawn(std::slice::from_ref(core), &args)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

/// Poll until `ready`, at most 30 s.
async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A run in the only slot, held there by a slow first step, and `queued`
/// more runs waiting behind it; their ids, the running one first.
async fn fill_the_slot(server: &ServeProcess, core: &ServiceProcess, queued: usize) -> Vec<String> {
    core.set_fault(Fault::delay("VerifyIdentity", 20_000));
    let running = server.submit("loan_processing", &json!({})).await;
    let in_service = |id: &str| {
        core.active_calls()
            .iter()
            .any(|c| c.is("VerifyIdentity") && c.run_id.as_deref() == Some(id))
    };
    wait_for("the first run is inside the service", || {
        in_service(&running)
    })
    .await;
    let mut ids = vec![running];
    for _ in 0..queued {
        let id = server.submit("loan_processing", &json!({})).await;
        let (_, run) = server.get(&format!("/v1/runs/{id}")).await;
        assert_eq!(run["status"], "queued", "{run}");
        ids.push(id);
    }
    ids
}

/// A client that submits one more run with `?wait=true` and waits for
/// the answer, returned once the run is queued (behind `queued` others):
/// the answer's status and body.
async fn waiting_client(server: &ServeProcess, queued: usize) -> JoinHandle<(u16, Value)> {
    let url = server.url("/v1/workflows/loan_processing/runs?wait=true");
    let client = server.client.clone();
    let waiting = tokio::spawn(async move {
        let response = client.post(url).json(&json!({"input": {}})).send().await;
        let response = response.expect("POST");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON"))
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = server.get("/v1/runs?status=queued").await;
        if list["runs"].as_array().map_or(0, Vec::len) == queued + 1 {
            return waiting;
        }
        assert!(Instant::now() < deadline, "the run never queued: {list}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// SIGTERM; the exit code and stderr.
async fn terminate(mut server: ServeProcess) -> (Option<i32>, String) {
    tokio::task::spawn_blocking(move || {
        let status = server.terminate(Duration::from_secs(60));
        (status.and_then(|s| s.code()), server.stderr())
    })
    .await
    .expect("the server exits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_leaves_runs_not_started_to_the_next_start_which_finishes_them() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let dir = StateDir::new("leave");
    let state = ["--state-dir", dir.arg(), "--grace", "300ms"];
    let first = serve(&core, &state);
    let mut ids = fill_the_slot(&first, &core, 3).await;
    let deleted = ids.pop().expect("a third queued run");
    let (code, _) = first.delete(&format!("/v1/runs/{deleted}")).await;
    assert_eq!(code, 202);
    let cancelled = first.wait_final(&deleted, Duration::from_secs(10)).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let waiting = waiting_client(&first, 2).await;

    let (code, stderr) = terminate(first).await;
    assert_eq!(code, Some(0), "{stderr}");
    // The waiting client is told to follow its run, which has not ended.
    let (status, answer) = waiting.await.expect("the client hears");
    assert_eq!(
        (status, answer["status"].as_str()),
        (202, Some("queued")),
        "{answer}"
    );
    ids.push(answer["run_id"].as_str().expect("its id").to_string());
    let (running, left) = (&ids[0], &ids[1..]);
    assert!(
        stderr.contains("3 queued runs left for resume"),
        "the log says what became of the queued runs:\n{stderr}"
    );
    for id in left {
        let cancel = stderr
            .lines()
            .find(|l| l.contains(id.as_str()) && l.contains("cancel"));
        assert!(cancel.is_none(), "{id} is logged as cancelled: {cancel:?}");
    }

    // The journal agrees: untouched, not finished; the deleted one and the
    // one in flight past the grace period have ended.
    let journal = SqliteJournal::open_read_only(dir.path()).expect("the journal");
    for id in left {
        let run = journal.load(id).await.unwrap().expect("journaled");
        assert_eq!(run.status, RunStatus::Running, "{id}");
        assert!(
            run.events.is_empty(),
            "{id} never started: {:?}",
            run.events
        );
    }
    let run = journal.load(&deleted).await.unwrap().expect("journaled");
    assert_eq!(
        run.status,
        RunStatus::Cancelled,
        "a cancel of a queued run is journaled"
    );
    let run = journal.load(running).await.unwrap().expect("journaled");
    assert!(run.is_finished(), "{:?}", run.status);
    drop(journal);

    core.clear_faults();
    let second = serve(&core, &state);
    for id in left {
        let run = second.wait_final(id, Duration::from_secs(60)).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert!(run["error"].is_null(), "{run}");
    }
    let (_, run) = second.get(&format!("/v1/runs/{deleted}")).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    let calls = core.calls();
    let called = |id: &str| {
        calls
            .iter()
            .filter(|c| c.run_id.as_deref() == Some(id))
            .count()
    };
    assert_eq!(called(&deleted), 0, "the cancelled run never ran");
    for id in left {
        assert!(called(id) > 0, "{id} ran after the restart");
    }
    let stderr = second.stderr();
    let taken: HashSet<&str> = stderr
        .lines()
        .filter(|l| l.contains("run taken over from the journal"))
        .filter_map(|l| {
            ids.iter()
                .chain([&deleted])
                .find(|id| l.contains(id.as_str()))
        })
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = left.iter().map(String::as_str).collect();
    assert_eq!(taken, expected, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_journal_sigterm_cancels_queued_runs_and_says_why() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let server = serve(&core, &["--grace", "300ms"]);
    fill_the_slot(&server, &core, 0).await;
    // A client waiting for a queued run hears how it ended.
    let waiting = waiting_client(&server, 0).await;

    let (code, stderr) = terminate(server).await;
    assert_eq!(code, Some(0), "{stderr}");
    let (status, report) = waiting.await.expect("the client hears");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "cancelled", "{report}");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("shut down before the run started"),
        "{report}"
    );
    assert!(
        stderr.contains("cancelling the queued runs: without a journal nothing keeps them"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cancelling the runs still going"),
        "{stderr}"
    );
    assert!(!stderr.contains("left for resume"), "{stderr}");
}

/// A run as the journal keeps it, its definition the example workflow's.
fn begin(definition: &Arc<Definition>, id: &str, created_at: SystemTime) -> Write {
    Write::Begin(NewRun {
        run_id: id.into(),
        definition: definition.clone(),
        input: json!({}),
        created_at,
    })
}

fn event(id: &str, seq: u64, event: RunEvent) -> Write {
    let recorded = Recorded {
        at: SystemTime::now(),
        event,
    };
    Write::event(&Arc::from(id), seq, &recorded).expect("serializable")
}

/// What a server killed with a full queue leaves: two runs accepted long
/// ago that never started, two newer ones stopped after their first step.
async fn journal_after_a_crash(dir: &StateDir, never: &[&str], started: &[&str]) {
    let workflow = maestro::workflow::load_file(example_file("loan_processing.yaml"))
        .expect("the example loads");
    let definition = Arc::new(Definition::of(&workflow));
    let journal = SqliteJournal::open(dir.path(), SyncMode::Full).expect("the journal");
    let t0 = SystemTime::now() - Duration::from_secs(600);
    for (i, id) in never.iter().enumerate() {
        journal
            .write(begin(&definition, id, t0 + Duration::from_secs(i as u64)))
            .await
            .unwrap();
    }
    for (i, id) in started.iter().enumerate() {
        let at = t0 + Duration::from_secs(60 + i as u64);
        journal.write(begin(&definition, id, at)).await.unwrap();
        let start = RunEvent::RunStarted {
            run_id: id.to_string(),
            workflow: "loan_processing".into(),
            input: json!({}).into(),
            retry_of: None,
            traceparent: None,
        };
        let step = RunEvent::StepCompleted {
            step: "verify_identity".into(),
            attempts: 1,
            output: json!({"verified": true}).into(),
        };
        journal.write(event(id, 0, start)).await.unwrap();
        journal.write(event(id, 1, step)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_restart_runs_that_started_resume_before_runs_that_never_did() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    let dir = StateDir::new("order");
    let never = [
        "0190a000-0000-7000-8000-000000000001",
        "0190a000-0000-7000-8000-000000000002",
    ];
    let started = [
        "0190b000-0000-7000-8000-000000000003",
        "0190b000-0000-7000-8000-000000000004",
    ];
    journal_after_a_crash(&dir, &never, &started).await;

    let server = serve(&core, &["--state-dir", dir.arg()]);
    for id in never.iter().chain(&started) {
        let run = server.wait_final(id, Duration::from_secs(60)).await;
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    // One slot: each run goes from its first call to its last before the
    // next begins, so the order of first calls is the order of resumption.
    let mut order: Vec<String> = Vec::new();
    for call in core.calls() {
        if let Some(id) = call.run_id
            && !order.contains(&id)
        {
            order.push(id);
        }
    }
    assert_eq!(order.len(), 4, "{order:?}");
    let first_two: HashSet<&str> = order[..2].iter().map(String::as_str).collect();
    assert_eq!(first_two, started.into_iter().collect(), "{order:?}");
    let verified = core.calls_to("VerifyIdentity");
    assert!(
        verified
            .iter()
            .all(|c| never.contains(&c.run_id.as_deref().unwrap_or_default())),
        "a completed step is not called again"
    );
}
