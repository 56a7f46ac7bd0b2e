//! A replica frozen (SIGSTOP) in the middle of its runs: a second replica
//! takes the runs over once the lease expires and finishes them; the first
//! is then thawed (SIGCONT). It must send no call, neither step nor undo,
//! and answer `GET /v1/runs/{id}` as the journal does, not from its memory.
//! Frozen either while the database commits its announced attempts (it
//! would send them on waking) or while a statement of its transaction runs
//! (the writer sends a group's COMMIT with its statements, so the database
//! ends the transaction, and frees its row locks, without the frozen
//! replica; the other replica must still get every run).

mod service;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use maestro::journal::Journal;
use maestro::journal::postgres::PostgresJournal;
use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};

use super::TestDb;
use crate::serve::process::{Launch, ServeProcess};
use service::{Call, Recorder};

const RUNS: usize = 40;
/// Every wait of this test, at most.
const LIMIT: Duration = Duration::from_secs(60);

const WORKFLOW: &str = r#"
name: fenced
services:
  api:
    type: http
    endpoint: "${FENCE_SERVICE}"
    timeout: 60s
    headers:
      X-Replica: "${FENCE_REPLICA}"
      X-Outcome: "{{ .input.outcome }}"
steps:
  - id: s1
    service: api
    method: "POST /step/s1"
    compensate: {method: "POST /undo/s1"}
  - parallel:
      - id: s2a
        service: api
        method: "POST /step/s2a"
        compensate: {method: "POST /undo/s2a"}
      - id: s2b
        service: api
        method: "POST /step/s2b"
  - id: s3
    service: api
    method: "POST /step/s3"
  - id: s4
    service: api
    method: "POST /step/s4"
"#;

/// Where replica A's writer is slowed down (as under load), so that the
/// test can freeze A at that point.
#[derive(Debug, Clone, Copy)]
enum SlowAt {
    /// At the commit of announced attempts (a deferred trigger): A is
    /// frozen between the database committing an announcement and A
    /// hearing of it, the moment after which A would send the call.
    Commit,
    /// At the insert of announced attempts: A is frozen inside its
    /// transaction, holding the runs' rows locked.
    Insert,
}

/// Sleeps once per transaction of replica A that announces attempts.
const SLOW_FUNCTION: &str = "
CREATE FUNCTION fence_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('application_name') = 'replica-a'
       AND current_setting('fence_test.slept', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('fence_test.slept', 'yes', true);
        PERFORM pg_sleep(0.1);
    END IF;
    RETURN NULL;
END $$;
";

impl SlowAt {
    fn trigger(self) -> String {
        let (kind, when) = match self {
            SlowAt::Commit => ("CONSTRAINT", "DEFERRABLE INITIALLY DEFERRED"),
            SlowAt::Insert => ("", ""),
        };
        format!(
            "{SLOW_FUNCTION}
            CREATE {kind} TRIGGER fence_test_slow AFTER INSERT ON maestro_events {when}
            FOR EACH ROW WHEN (NEW.kind IN ('attempt_started', 'compensation_started'))
            EXECUTE FUNCTION fence_test_slow();"
        )
    }
}

/// How long A's writer must have been in one slowed statement before A is
/// frozen: every call A was sending when it began has left by then.
const QUIET: Duration = Duration::from_millis(40);

/// Wait until A's writer is in a slowed statement of announcements and has
/// been for `QUIET`: the moment to freeze A.
async fn wait_for_a_slow_write(db: &TestDb) {
    // Replicas of tests running at once have the same names: this
    // test's database tells them apart.
    const SLEEPING: &str = "SELECT xact_start FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'replica-a'
          AND wait_event = 'PgSleep'";
    let client = db.client().await;
    let deadline = Instant::now() + LIMIT;
    loop {
        assert!(Instant::now() < deadline, "A never wrote an announcement");
        let Some(first) = client.query_opt(SLEEPING, &[]).await.unwrap() else {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        };
        let began: std::time::SystemTime = first.get(0);
        tokio::time::sleep(QUIET).await;
        let still = client.query_opt(SLEEPING, &[]).await.unwrap();
        if still.is_some_and(|row| row.get::<_, std::time::SystemTime>(0) == began) {
            return;
        }
    }
}

/// The workflow file, removed when dropped.
struct WorkflowFile(std::path::PathBuf);

impl Drop for WorkflowFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spawn_replica(db: &TestDb, file: &WorkflowFile, service: &str, name: &str) -> ServeProcess {
    let path = file.0.display().to_string();
    // The database tells the replicas' sessions apart by this name.
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}application_name=replica-{name}", db.url);
    let args = [
        "--workflows",
        &path,
        "--state",
        &url,
        "--lease",
        "2s",
        // Some runs still wait for a slot when the replica freezes.
        "--max-running",
        "30",
    ];
    let launch = Launch {
        env: vec![("FENCE_SERVICE", service), ("FENCE_REPLICA", name)],
        open_files: None,
    };
    ServeProcess::try_spawn_with(&[], &args, &launch)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

fn signal(server: &ServeProcess, signal: Signal) {
    let pid = Pid::from_raw(server.pid() as i32).expect("a child's pid is positive");
    kill_process(pid, signal).expect("the signal is sent");
}

/// What run `i` is given: most go through, some are refused at `s3` and
/// undo, some have A's first call held for as long as the test wants.
fn outcome(i: usize) -> &'static str {
    match i % 8 {
        1 | 5 => "fail",
        3 => "hold",
        _ => "ok",
    }
}

/// Submit every run to `server` at once; returns their ids.
async fn submit_all(server: &ServeProcess) -> Vec<String> {
    let url = server.url("/v1/workflows/fenced/runs");
    let tasks: Vec<_> = (0..RUNS)
        .map(|i| {
            let (client, url) = (server.client.clone(), url.clone());
            tokio::spawn(async move {
                let body = json!({ "input": { "outcome": outcome(i) } });
                let response = client.post(url).json(&body).send().await.expect("POST");
                assert_eq!(response.status().as_u16(), 202, "the run is accepted");
                let accepted: Value = response.json().await.expect("JSON");
                accepted["run_id"].as_str().expect("a run id").to_string()
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("submit task"));
    }
    out
}

/// Wait until the journal says every run has ended; their final statuses.
async fn wait_all_ended(db: &TestDb, runs: &[String], b: &ServeProcess) -> Vec<String> {
    let journal = PostgresJournal::connect_reader(&db.url).await.unwrap();
    let deadline = Instant::now() + LIMIT;
    'poll: loop {
        assert!(
            Instant::now() < deadline,
            "runs never ended while A was frozen\n{}",
            b.stderr()
        );
        let mut out = Vec::new();
        for id in runs {
            let stored = journal.load(id).await.unwrap().expect("a journaled run");
            if !stored.is_finished() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue 'poll;
            }
            out.push(stored.status.label().to_string());
        }
        return out;
    }
}

/// Whether `server` still drives any run it holds in memory.
async fn drives_any(server: &ServeProcess) -> bool {
    let (_, list) = server.get("/v1/runs?limit=1000").await;
    let runs = list["runs"].as_array().cloned().unwrap_or_default();
    runs.iter()
        .any(|r| matches!(r["status"].as_str(), Some("queued" | "running")))
}

/// `server` answers for each run as the journal does.
async fn answers_as_the_journal(server: &ServeProcess, runs: &[String], ends: &[String]) {
    for (id, end) in runs.iter().zip(ends) {
        let (status, body) = server.get(&format!("/v1/runs/{id}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["status"].as_str(),
            Some(end.as_str()),
            "A's answer for run {id} differs from the journal's: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_frozen_while_committing_calls_nothing_once_thawed_and_answers_from_the_journal()
{
    freeze_and_thaw(SlowAt::Commit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_frozen_inside_a_transaction_keeps_no_run_from_the_other() {
    freeze_and_thaw(SlowAt::Insert).await;
}

async fn freeze_and_thaw(slow: SlowAt) {
    let db = TestDb::create().await;
    let (addr, service) = service::start().await;
    let endpoint = format!("http://{addr}");
    let file = WorkflowFile(
        std::env::temp_dir().join(format!("maestro-freeze-{}.yaml", std::process::id())),
    );
    std::fs::write(&file.0, WORKFLOW).expect("the workflow is written");
    let a = spawn_replica(&db, &file, &endpoint, "a");
    let b = spawn_replica(&db, &file, &endpoint, "b");
    db.client()
        .await
        .batch_execute(&slow.trigger())
        .await
        .expect("the slowing trigger is created");

    let runs = submit_all(&a).await;
    // Freeze A while its runs are well under way (calls in flight, runs
    // waiting for a slot), in the middle of writing announcements.
    let deadline = Instant::now() + LIMIT;
    while service.calls().len() < RUNS {
        assert!(Instant::now() < deadline, "the runs never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_for_a_slow_write(&db).await;
    signal(&a, Signal::STOP);
    let frozen = Instant::now();

    // B takes every unfinished run over and ends it.
    let ends = wait_all_ended(&db, &runs, &b).await;
    let thawed = Instant::now();
    signal(&a, Signal::CONT);

    // At once, though A still has calls in flight for some runs.
    answers_as_the_journal(&a, &runs, &ends).await;
    service.release();
    // A lets go of every run it held when it froze.
    let deadline = Instant::now() + LIMIT;
    while drives_any(&a).await {
        assert!(Instant::now() < deadline, "A never let its runs go");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    no_call_after(&service, slow, &ends, frozen, thawed);
    answers_as_the_journal(&a, &runs, &ends).await;
}

/// Print what each replica sent; fail on any call sent after the thaw.
fn no_call_after(
    service: &Recorder,
    slow: SlowAt,
    ends: &[String],
    frozen: Instant,
    thawed: Instant,
) {
    let calls = service.calls();
    let count = |replica: &str, from: Option<Instant>, to: Option<Instant>| {
        let within =
            |c: &&Call| from.is_none_or(|from| c.at >= from) && to.is_none_or(|to| c.at < to);
        calls
            .iter()
            .filter(|c| c.replica == replica)
            .filter(within)
            .count()
    };
    let mut tally = BTreeMap::<&str, usize>::new();
    for end in ends {
        *tally.entry(end.as_str()).or_default() += 1;
    }
    println!(
        "freeze at {slow:?}: runs={RUNS} ends={tally:?} calls={} calls_by_a_before_freeze={} \
         calls_by_b_before_freeze={} calls_by_b_during_freeze={} calls_by_a_after_thaw={} \
         calls_by_b_after_thaw={}",
        calls.len(),
        count("a", None, Some(frozen)),
        count("b", None, Some(frozen)),
        count("b", Some(frozen), Some(thawed)),
        count("a", Some(thawed), None),
        count("b", Some(thawed), None),
    );
    let late: Vec<String> = calls
        .iter()
        .filter(|c| c.at >= thawed)
        .map(|c| format!("{} {} by {}", c.path, c.key, c.replica))
        .collect();
    assert!(
        late.is_empty(),
        "calls sent after every run had ended elsewhere: {late:?}"
    );
    assert!(
        count("b", Some(frozen), Some(thawed)) > 0,
        "B took no run over"
    );
}
