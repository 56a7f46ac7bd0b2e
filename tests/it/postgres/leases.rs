//! Runs owned through leases: a claim takes only runs whose owner's lease
//! expired (or that were let go), never one run twice, each claim with a
//! new epoch; a replica that lost a run can no longer write to it, not even
//! once it claimed the run back; and what the old owner was told is durable
//! is what the new owner reads.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use maestro::journal::{Journal, JournalError, RunQuery};
use maestro::runtime::RunStatus;

use super::{TestDb, begin, completed, count_of, definition, event, finished, started};

const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(60);

/// Begin `ids` as runs of `journal`'s replica, each with its start event.
async fn start_runs(journal: &dyn Journal, ids: &[String]) {
    let def = definition(1);
    let now = SystemTime::now();
    let mut acks = Vec::new();
    for id in ids {
        acks.push(journal.write(begin(id, &def, now)));
        acks.push(journal.write(event(id, 0, started(id), now)));
    }
    for ack in acks {
        ack.await.expect("durable");
    }
}

/// Wait out a lease of `ttl` that nobody renews.
async fn expire(ttl: Duration) {
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
}

fn ids(runs: &[maestro::journal::StoredRun]) -> BTreeSet<String> {
    runs.iter().map(|r| r.run_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_lost_its_run_is_fenced_off_and_the_new_owner_writes() {
    let db = TestDb::create().await;
    let a = db.journal("replica-a", SHORT).await;
    let run = vec!["run-1".to_string()];
    start_runs(&a, &run).await;
    a.write(event("run-1", 1, completed(1), SystemTime::now()))
        .await
        .unwrap();
    // Replica A stops renewing (its journal is gone, as in a crash) and its
    // lease runs out.
    drop(a);
    let b = db.journal("replica-b", LONG).await;
    assert!(b.claim().await.unwrap().is_empty(), "A's lease still holds");
    expire(SHORT).await;

    let claimed = b.claim().await.unwrap();
    assert_eq!(ids(&claimed), BTreeSet::from(["run-1".to_string()]));
    assert_eq!(claimed[0].events.len(), 2, "B resumes from every event");
    assert_eq!(claimed[0].epoch, 1, "the first claim of a run");
    assert!(b.holds("run-1", 1));
    assert!(b.claim().await.unwrap().is_empty(), "claimed once only");

    // A comes back (same replica name, a new connection): its writes to the
    // run are refused, and B's go through.
    let a = db.journal("replica-a", LONG).await;
    let late = a
        .write(event("run-1", 2, completed(2), SystemTime::now()))
        .await;
    assert_eq!(
        late,
        Err(JournalError::LeaseLost {
            run_id: "run-1".into()
        })
    );
    let late_end = a.write(event(
        "run-1",
        2,
        finished(RunStatus::Succeeded),
        SystemTime::now(),
    ));
    assert!(matches!(
        late_end.await,
        Err(JournalError::LeaseLost { .. })
    ));
    b.write(event("run-1", 2, completed(20), SystemTime::now()).with_epoch(1))
        .await
        .expect("the new owner writes");
    b.write(
        event(
            "run-1",
            3,
            finished(RunStatus::Succeeded),
            SystemTime::now(),
        )
        .with_epoch(1),
    )
    .await
    .unwrap();
    assert!(!b.holds("run-1", 1), "a finished run is held no more");

    let stored = b.load("run-1").await.unwrap().unwrap();
    let counts: Vec<u64> = stored.events.iter().filter_map(count_of).collect();
    assert_eq!(counts, [1, 20], "only the owner's events are kept");
    assert_eq!(stored.status, RunStatus::Succeeded);
    let row = &b.list(RunQuery::newest(1)).await.unwrap()[0];
    assert_eq!(row.owner.as_deref(), Some("replica-b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_takes_only_unfinished_runs_whose_lease_expired() {
    let db = TestDb::create().await;
    let live = db.journal("live", LONG).await;
    let dead = db.journal("dead", SHORT).await;
    start_runs(&live, &["live-1".into()]).await;
    start_runs(&dead, &["dead-1".into(), "dead-done".into()]).await;
    dead.write(event(
        "dead-done",
        1,
        finished(RunStatus::Succeeded),
        SystemTime::now(),
    ))
    .await
    .unwrap();
    drop(dead);
    expire(SHORT).await;

    let taker_lease = SHORT * 2;
    let taker = db.journal("taker", taker_lease).await;
    let claimed = taker.claim().await.unwrap();
    assert_eq!(ids(&claimed), BTreeSet::from(["dead-1".to_string()]));
    // The taker renews what it holds: past its lease, nobody else gets it.
    expire(taker_lease).await;
    let other = db.journal("other", LONG).await;
    assert!(other.claim().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_claiming_at_once_take_disjoint_runs_and_leave_none() {
    const RUNS: usize = 600;
    let db = TestDb::create().await;
    let all: Vec<String> = (0..RUNS).map(|i| format!("run-{i:03}")).collect();
    let dead = db.journal("dead", SHORT).await;
    start_runs(&dead, &all).await;
    drop(dead);
    expire(SHORT).await;

    let replicas: Vec<Arc<dyn Journal>> = vec![
        Arc::new(db.journal("replica-1", LONG).await),
        Arc::new(db.journal("replica-2", LONG).await),
        Arc::new(db.journal("replica-3", LONG).await),
    ];
    let tasks: Vec<_> = replicas
        .iter()
        .map(|journal| {
            let journal = journal.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                // Bounded: each claim takes at least one run while any is left.
                for _ in 0..RUNS {
                    let claimed = journal.claim().await.expect("claim");
                    if claimed.is_empty() {
                        break;
                    }
                    mine.extend(claimed.into_iter().map(|r| r.run_id));
                }
                mine
            })
        })
        .collect();
    let mut taken: Vec<Vec<String>> = Vec::new();
    for task in tasks {
        taken.push(task.await.unwrap());
    }
    let sizes: Vec<usize> = taken.iter().map(Vec::len).collect();
    println!("claims per replica: {sizes:?}");
    let union: BTreeSet<String> = taken.iter().flatten().cloned().collect();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        union.len(),
        "a run was claimed twice"
    );
    assert_eq!(union, all.iter().cloned().collect(), "every run is claimed");
    for (replica, runs) in taken.iter().enumerate() {
        let owner = format!("replica-{}", replica + 1);
        for row in replicas[0].list(RunQuery::newest(RUNS)).await.unwrap() {
            if runs.contains(&row.run_id) {
                assert_eq!(row.owner.as_deref(), Some(owner.as_str()), "{}", row.run_id);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_run_can_be_claimed_at_once() {
    let db = TestDb::create().await;
    let a = db.journal("replica-a", LONG).await;
    let b = db.journal("replica-b", LONG).await;
    start_runs(&a, &["run-1".into(), "run-2".into()]).await;
    assert!(b.claim().await.unwrap().is_empty());
    // Releasing a run someone else owns does nothing.
    b.release("run-1").await.unwrap();
    assert!(b.claim().await.unwrap().is_empty());

    a.release("run-1").await.unwrap();
    let claimed = b.claim().await.unwrap();
    assert_eq!(ids(&claimed), BTreeSet::from(["run-1".to_string()]));
    let late = a.write(event("run-1", 1, completed(1), SystemTime::now()));
    assert!(matches!(late.await, Err(JournalError::LeaseLost { .. })));
    a.write(event("run-2", 1, completed(1), SystemTime::now()))
        .await
        .expect("A still owns run-2");
}

/// One round of a takeover racing the old owner's writes: returns, per run,
/// how many events the old owner had acknowledged and how many the new
/// owner read when it claimed the run.
async fn race_round(db: &TestDb, round: usize) -> Vec<(String, u64, usize)> {
    const RUNS: usize = 50;
    let a = Arc::new(db.journal(&format!("a-{round}"), LONG).await);
    let b = db.journal(&format!("b-{round}"), LONG).await;
    let ids: Vec<String> = (0..RUNS).map(|i| format!("r{round}-{i:02}")).collect();
    start_runs(a.as_ref(), &ids).await;
    // A stalls past its lease (as in a long pause) while it keeps writing.
    db.client()
        .await
        .execute(
            "UPDATE maestro_runs SET lease_until = now() - interval '1 second'
             WHERE owner = $1",
            &[&format!("a-{round}")],
        )
        .await
        .unwrap();
    let writers: Vec<_> = ids
        .iter()
        .map(|id| {
            let (a, id) = (a.clone(), id.clone());
            tokio::spawn(async move {
                let mut acked = 0;
                for seq in 1..=200 {
                    match a
                        .write(event(&id, seq, completed(seq), SystemTime::now()))
                        .await
                    {
                        Ok(()) => acked = seq,
                        Err(JournalError::LeaseLost { .. }) => break,
                        Err(e) => panic!("{id}: {e}"),
                    }
                }
                (id, acked)
            })
        })
        .collect();
    // Let the writes get going, then take the runs over.
    tokio::time::sleep(Duration::from_millis(30)).await;
    // A run being written is skipped by a claim until the write commits,
    // so the claims go on until every run is taken, at most a few seconds.
    let mut loaded = std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while loaded.len() < RUNS && std::time::Instant::now() < deadline {
        for run in b.claim().await.unwrap() {
            loaded.insert(run.run_id.clone(), (run.events.len(), run.epoch));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(loaded.len(), RUNS, "every run is taken over");
    let mut out = Vec::new();
    for writer in writers {
        let (id, acked) = writer.await.unwrap();
        let (read, epoch) = loaded.get(&id).copied().unwrap_or((0, 0));
        // The new owner goes on right after what it read.
        let next = event(&id, read as u64, completed(1000), SystemTime::now());
        b.write(next.with_epoch(epoch))
            .await
            .unwrap_or_else(|e| panic!("{id}: the new owner cannot write after what it read: {e}"));
        out.push((id, acked, read));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_takeover_racing_the_old_owners_writes_reads_every_write_acknowledged() {
    let db = TestDb::create().await;
    for round in 0..3 {
        let outcome = race_round(&db, round).await;
        let acked: u64 = outcome.iter().map(|(_, a, _)| *a).sum();
        println!(
            "round {round}: {acked} events of the old owner acknowledged across {} runs taken over",
            outcome.len()
        );
        for (id, acked, read) in outcome {
            assert_eq!(
                read as u64,
                acked + 1,
                "{id}: the old owner's acknowledged events and the new owner's view differ"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_claimed_back_refuses_the_writes_of_its_first_claim() {
    let db = TestDb::create().await;
    let a = db.journal("replica-a", LONG).await;
    let b = db.journal("replica-b", LONG).await;
    start_runs(&a, &["run-1".into()]).await;
    assert!(a.holds("run-1", 0), "a replica holds the runs it began");
    // A lets the run go, B claims it and lets it go too, A claims it back.
    a.release("run-1").await.unwrap();
    assert!(!a.holds("run-1", 0));
    assert_eq!(b.claim().await.unwrap()[0].epoch, 1);
    b.release("run-1").await.unwrap();
    let again = a.claim().await.unwrap();
    assert_eq!(ids(&again), BTreeSet::from(["run-1".to_string()]));
    assert_eq!(again[0].epoch, 2);
    assert!(a.holds("run-1", 2));
    assert!(
        !a.holds("run-1", 0),
        "the first claim is fenced locally too"
    );

    // The actor of A's first claim writes on: refused, though A owns the
    // run again; and so is B's.
    let now = SystemTime::now();
    let stale = a.write(event("run-1", 1, completed(1), now)).await;
    assert_eq!(
        stale,
        Err(JournalError::LeaseLost {
            run_id: "run-1".into()
        })
    );
    let late_end = a.write(event("run-1", 1, finished(RunStatus::Cancelled), now));
    assert!(matches!(
        late_end.await,
        Err(JournalError::LeaseLost { .. })
    ));
    let by_b = b.write(event("run-1", 1, completed(2), now).with_epoch(1));
    assert!(matches!(by_b.await, Err(JournalError::LeaseLost { .. })));
    assert!(
        a.holds("run-1", 2),
        "a refused old claim leaves the new one"
    );

    a.write(event("run-1", 1, completed(3), now).with_epoch(2))
        .await
        .expect("the current claim writes");
    let end = event("run-1", 2, finished(RunStatus::Succeeded), now);
    a.write(end.with_epoch(2)).await.unwrap();
    let stored = a.load("run-1").await.unwrap().unwrap();
    let counts: Vec<u64> = stored.events.iter().filter_map(count_of).collect();
    assert_eq!(counts, [3], "only the current claim's events are kept");
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(stored.epoch, 2);
}

/// The tables as a version without claim epochs made them.
const SCHEMA_WITHOUT_EPOCHS: &str = "
CREATE TABLE maestro_definitions (
    hash text PRIMARY KEY, name text NOT NULL, path text NOT NULL, text text NOT NULL);
CREATE TABLE maestro_runs (
    run_id text PRIMARY KEY, workflow text NOT NULL,
    definition text NOT NULL REFERENCES maestro_definitions(hash),
    status text NOT NULL DEFAULT 'running', input jsonb NOT NULL,
    created_at timestamptz NOT NULL, finished_at timestamptz,
    owner text, lease_until timestamptz);
CREATE TABLE maestro_events (
    run_id text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL,
    kind text NOT NULL, body jsonb NOT NULL, PRIMARY KEY (run_id, seq));
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_made_before_claim_epochs_gains_them_and_its_runs_resume() {
    let db = TestDb::create().await;
    let client = db.client().await;
    client.batch_execute(SCHEMA_WITHOUT_EPOCHS).await.unwrap();
    let def = definition(1);
    client
        .execute(
            "INSERT INTO maestro_definitions VALUES ($1, $2, $3, $4)",
            &[&def.hash, &def.name, &def.path, &&*def.text],
        )
        .await
        .unwrap();
    // A run whose owner died before the upgrade.
    client
        .execute(
            "INSERT INTO maestro_runs (run_id, workflow, definition, input, created_at,
                                       owner, lease_until)
             VALUES ('old-1', $1, $2, '{}', now(), 'gone', now() - interval '1 second')",
            &[&def.name, &def.hash],
        )
        .await
        .unwrap();

    let b = db.journal("replica-b", LONG).await;
    let claimed = b.claim().await.unwrap();
    assert_eq!(ids(&claimed), BTreeSet::from(["old-1".to_string()]));
    assert_eq!(claimed[0].epoch, 1, "existing runs start from epoch 0");
    b.write(event("old-1", 0, started("old-1"), SystemTime::now()).with_epoch(1))
        .await
        .expect("the claim writes");
    // Opening it again changes nothing.
    drop(db.journal("replica-c", LONG).await);
    assert_eq!(b.load("old-1").await.unwrap().unwrap().epoch, 1);
}
