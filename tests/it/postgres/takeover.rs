//! Two `maestro serve` replicas share a PostgreSQL journal; one is killed
//! with SIGKILL in the middle of 100 runs (services slowed, some runs
//! failing so compensations are in flight). The other takes every
//! unfinished run over once the lease expires and drives it to its end,
//! without applying any step twice or calling a completed step again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use maestro::journal::postgres::PostgresJournal;
use maestro::journal::{Journal, StoredRun};
use maestro::runtime::{RunEvent, RunStatus};
use serde_json::{Value, json};

use super::{TestDb, connect};
use crate::serve::process::{ServeProcess, fleet, process};
use crate::support::{CallRecord, Fault, ServiceProcess, example_file};

const RUNS: usize = 100;
/// The whole takeover, from the kill to the last run's end, at most.
const LIMIT: Duration = Duration::from_secs(40);

/// Run `i`'s input and the status it must end with: most succeed, some
/// have their card declined (the stock is released), some an address the
/// carrier refuses (the charge is refunded, then the stock released).
fn order(i: usize) -> (Value, RunStatus) {
    let text = std::fs::read_to_string(example_file("inputs/order.json")).expect("order input");
    let mut input: Value = serde_json::from_str(&text).expect("JSON");
    input["order_id"] = json!(format!("ord_takeover_{i:03}"));
    match i % 4 {
        1 => {
            input["payment"]["card_token"] = json!("tok_declined");
            (input, RunStatus::Compensated)
        }
        2 => {
            input["shipping_address"]["postal_code"] = json!("");
            (input, RunStatus::Compensated)
        }
        _ => (input, RunStatus::Succeeded),
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as u64
}

/// What the journal says of one run.
struct Journaled {
    status: RunStatus,
    /// Keys whose effect the journal holds: completed steps' and completed
    /// compensations'. The runtime's keys are `RUN:STEP` and
    /// `RUN:STEP:compensate`.
    settled: BTreeSet<String>,
    /// Steps with an attempt announced and no outcome.
    in_flight: BTreeSet<String>,
    /// Steps whose compensation failed for good.
    undo_failed: BTreeSet<String>,
}

impl Journaled {
    fn of(stored: &StoredRun) -> Self {
        let id = &stored.run_id;
        let mut out = Journaled {
            status: stored.status,
            settled: BTreeSet::new(),
            in_flight: BTreeSet::new(),
            undo_failed: BTreeSet::new(),
        };
        for recorded in &stored.events {
            match &recorded.event {
                RunEvent::AttemptStarted { step, .. } => {
                    out.in_flight.insert(step.clone());
                }
                RunEvent::StepCompleted { step, .. } => {
                    out.in_flight.remove(step);
                    out.settled.insert(format!("{id}:{step}"));
                }
                RunEvent::StepFailed { step, .. } | RunEvent::StepCancelled { step, .. } => {
                    out.in_flight.remove(step);
                }
                RunEvent::CompensationCompleted { step, .. } => {
                    out.settled.insert(format!("{id}:{step}:compensate"));
                }
                RunEvent::CompensationFailed { step, .. } => {
                    out.undo_failed.insert(step.clone());
                }
                _ => {}
            }
        }
        out
    }

    /// Whether the run ended as its input says. A step in flight at the kill
    /// has an unknown outcome, so it is compensated when it then fails; the
    /// example's compensations read the step's own output, which such a step
    /// never produced, so that compensation alone fails (docs/workflow.md).
    fn ended_as(&self, expected: RunStatus, at_kill: &Journaled) -> bool {
        self.status == expected
            || (expected == RunStatus::Compensated
                && self.status == RunStatus::CompensationFailed
                && self.undo_failed.is_subset(&at_kill.in_flight))
    }
}

/// Submit every order to `server` at once; returns run ids by input index.
async fn submit_all(server: &ServeProcess) -> Vec<(String, RunStatus)> {
    let tasks: Vec<_> = (0..RUNS)
        .map(|i| {
            let (client, url) = (
                server.client.clone(),
                server.url("/v1/workflows/order_checkout/runs"),
            );
            let (input, expected) = order(i);
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .json(&json!({ "input": input }))
                    .send()
                    .await
                    .expect("POST");
                assert_eq!(response.status().as_u16(), 202, "the run is accepted");
                let body: Value = response.json().await.expect("JSON");
                (
                    body["run_id"].as_str().expect("a run id").to_string(),
                    expected,
                )
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("submit task"));
    }
    out
}

/// Wait until some runs have ended and the commerce service is undoing
/// some runs while going forward with others, so the kill cuts through
/// every phase. Returns the calls in flight then.
async fn wait_for_every_phase(server: &ServeProcess, commerce: &ServiceProcess) -> Vec<CallRecord> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let active = commerce.active_calls();
        let undoing = |c: &CallRecord| c.is("Release") || c.is("Refund");
        let (_, list) = server.get("/v1/runs?limit=1000").await;
        let ended = list["runs"].as_array().map_or(0, |runs| {
            runs.iter()
                .filter(|r| !matches!(r["status"].as_str(), Some("queued" | "running")))
                .count()
        });
        if ended >= RUNS / 10 && active.iter().any(undoing) && !active.iter().all(undoing) {
            return active;
        }
        assert!(
            Instant::now() < deadline,
            "the runs never reached every phase at once"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Wait until the killed replica's database sessions are gone, so nothing
/// it sent can still commit after the journal is read.
async fn wait_sessions_gone(db: &TestDb, application: &str) {
    let client = connect(&db.url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&application],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{application}'s sessions linger");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn replica_url(db: &TestDb, name: &str) -> String {
    let sep = if db.url.contains('?') { '&' } else { '?' };
    format!("{}{sep}application_name={name}", db.url)
}

fn spawn_replica(fleet: &[ServiceProcess], url: &str) -> ServeProcess {
    let args = [
        "--workflows",
        "examples/workflows",
        "--state",
        url,
        "--lease",
        "2s",
        // Some runs still wait for a slot when the replica dies.
        "--max-running",
        "40",
    ];
    ServeProcess::try_spawn(fleet, &args)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_replica_takes_over_every_run_of_a_killed_one() {
    let db = TestDb::create().await;
    let fleet = fleet();
    let commerce = process(&fleet, "commerce_grpc");
    for (method, ms) in [
        ("Reserve", 300),
        ("Charge", 500),
        ("CreateShipment", 400),
        ("Refund", 400),
        ("Release", 400),
    ] {
        commerce.set_fault(Fault::delay(method, ms));
    }
    let mut a = spawn_replica(&fleet, &replica_url(&db, "replica-a"));
    let b = spawn_replica(&fleet, &replica_url(&db, "replica-b"));

    let runs = submit_all(&a).await;
    let active = wait_for_every_phase(&a, commerce).await;
    a.kill();
    let kill_us = now_us();
    wait_sessions_gone(&db, "replica-a").await;

    // What the journal held when the replica died.
    let journal = PostgresJournal::connect_reader(&db.url).await.unwrap();
    let mut before = HashMap::new();
    for (id, _) in &runs {
        let stored = journal
            .load(id)
            .await
            .unwrap()
            .expect("an accepted run is journaled");
        before.insert(id.clone(), Journaled::of(&stored));
    }
    let unfinished: Vec<&String> = runs
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !before[*id].status.is_final())
        .collect();
    assert!(!unfinished.is_empty(), "every run ended before the kill");

    // The survivor takes each unfinished run over and ends it.
    let deadline = Instant::now() + LIMIT;
    let (mut stuck, mut taken_over) = (Vec::new(), 0);
    for id in &unfinished {
        let mut seen = false;
        loop {
            let (status, body) = b.get(&format!("/v1/runs/{id}")).await;
            let state = body["status"].as_str().unwrap_or_default();
            seen |= status == 200;
            if status == 200 && !matches!(state, "queued" | "running") {
                break;
            }
            if Instant::now() > deadline {
                stuck.push(format!("{id}: {status} {state}"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        taken_over += usize::from(seen);
    }

    let mut tally = BTreeMap::<RunStatus, usize>::new();
    let (mut wrong, mut lost) = (Vec::new(), 0);
    let mut after = HashMap::new();
    for (id, expected) in &runs {
        let Some(stored) = journal.load(id).await.unwrap() else {
            lost += 1;
            continue;
        };
        let end = Journaled::of(&stored);
        *tally.entry(end.status).or_default() += 1;
        if end.status.is_final() && !end.ended_as(*expected, &before[id]) {
            wrong.push(format!("{id}: {:?}, expected {expected:?}", end.status));
        }
        after.insert(id.clone(), end);
    }
    let count = |s: RunStatus| tally.get(&s).copied().unwrap_or(0);
    println!(
        "takeover: runs={RUNS} succeeded={} compensated={} compensation_failed={} lost={lost} \
         stuck={} taken_over={taken_over} ended_before_kill={} calls_in_flight_at_kill={}",
        count(RunStatus::Succeeded),
        count(RunStatus::Compensated),
        count(RunStatus::CompensationFailed),
        stuck.len(),
        RUNS - unfinished.len(),
        active.len(),
    );
    let stderr = b.stderr();
    let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
    assert!(stuck.is_empty(), "runs not ended: {stuck:?}\n{tail:#?}");
    assert_eq!(lost, 0);
    assert!(wrong.is_empty(), "runs ended wrongly: {wrong:?}");
    assert_eq!(taken_over, unfinished.len());

    // The service's log: each key's effect applied once, and a step the
    // journal held as done before the kill never called again.
    let calls = commerce.calls();
    let mut applied = BTreeMap::<String, usize>::new();
    for call in calls.iter().filter(|c| c.ok && !c.replayed) {
        let key = call.idempotency_key.clone().expect("maestro sends a key");
        *applied.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = applied.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "effects applied twice: {twice:?}");
    for end in after.values() {
        for key in &end.settled {
            assert_eq!(
                applied.get(key),
                Some(&1),
                "{key} is done but was never applied"
            );
        }
    }
    let again: Vec<String> = calls
        .iter()
        .filter(|c| c.start_us > kill_us)
        .filter_map(|c| c.idempotency_key.clone())
        .filter(|key| before.values().any(|at_kill| at_kill.settled.contains(key)))
        .collect();
    assert!(
        again.is_empty(),
        "completed before the kill, called again: {again:?}"
    );
}
