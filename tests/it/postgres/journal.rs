//! What a run writes comes back as written: its row, its definition (kept
//! once per text), its events in order, also when many runs write at once
//! and their writes share group commits; pruning keeps what it should; and
//! lost connections are opened again.

use std::time::{Duration, SystemTime};

use maestro::journal::postgres::{LeaseConfig, PostgresJournal};
use maestro::journal::{Cursor, Definition, Journal, JournalError, RunQuery};
use maestro::runtime::{RunEvent, RunStatus};
use serde_json::json;

use super::{TestDb, begin, completed, count_of, definition, event, finished, started};

const TTL: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_writes_come_back_in_order_with_its_definition() {
    let db = TestDb::create().await;
    let journal = db.journal("replica-a", TTL).await;
    let def = definition(1);
    let t0 = SystemTime::now() - Duration::from_secs(60);
    let at = |s: u64| t0 + Duration::from_secs(s);

    // Queued without waiting: the journal keeps their order.
    let acks = vec![
        journal.write(begin("run-1", &def, t0)),
        journal.write(event("run-1", 0, started("run-1"), at(1))),
        journal.write(event("run-1", 1, completed(1), at(2))),
        journal.write(event("run-1", 2, completed(2), at(3))),
        journal.write(event("run-1", 3, finished(RunStatus::Succeeded), at(4))),
        journal.write(begin("run-2", &def, at(5))),
        journal.write(event("run-2", 0, started("run-2"), at(6))),
    ];
    for ack in acks {
        ack.await.expect("durable");
    }

    let run = journal.load("run-1").await.unwrap().expect("run-1 is kept");
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(run.is_finished());
    assert_eq!(run.definition, def, "the definition comes back whole");
    assert_eq!(run.input, json!({"run": "run-1"}));
    assert_eq!(run.events.len(), 4);
    assert!(
        matches!(&run.events[0].event, RunEvent::RunStarted { run_id, .. } if run_id == "run-1")
    );
    let counts: Vec<Option<u64>> = run.events.iter().map(count_of).collect();
    assert_eq!(counts, [None, Some(1), Some(2), None]);
    assert_eq!(run.events[3].event, finished(RunStatus::Succeeded));
    assert_eq!(
        run.events[1].at,
        at(2),
        "timestamps survive to the millisecond"
    );
    assert!(journal.load("run-3").await.unwrap().is_none());

    let listed = journal.list(RunQuery::newest(10)).await.unwrap();
    let rows: Vec<(&str, RunStatus)> = listed
        .iter()
        .map(|r| (r.run_id.as_str(), r.status))
        .collect();
    assert_eq!(
        rows,
        [
            ("run-2", RunStatus::Running),
            ("run-1", RunStatus::Succeeded)
        ],
        "newest first"
    );
    assert_eq!(listed[0].owner.as_deref(), Some("replica-a"));
    assert!(listed[0].finished_at.is_none() && listed[1].finished_at.is_some());
    assert_eq!(journal.list(RunQuery::newest(1)).await.unwrap().len(), 1);

    // Two runs of one text keep one copy of it; another text is another.
    let other = definition(2);
    assert_ne!(other.hash, def.hash);
    journal.write(begin("run-3", &other, at(7))).await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM maestro_definitions").await,
        2
    );
    assert_eq!(db.count("SELECT count(*) FROM maestro_runs").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_write_fails_alone_and_its_neighbours_are_durable() {
    let db = TestDb::create().await;
    let journal = db.journal("replica-a", TTL).await;
    let def = definition(1);
    let now = SystemTime::now();
    journal.write(begin("run-1", &def, now)).await.unwrap();
    journal
        .write(event("run-1", 0, started("run-1"), now))
        .await
        .unwrap();
    // Queued together: one group, with a duplicate event in the middle.
    let before = journal.write(event("run-1", 1, completed(1), now));
    let duplicate = journal.write(event("run-1", 1, completed(9), now));
    let after = journal.write(begin("run-2", &def, now));
    assert_eq!(before.await, Ok(()));
    assert!(matches!(duplicate.await, Err(JournalError::Write(_))));
    assert_eq!(after.await, Ok(()));
    let run = journal.load("run-1").await.unwrap().unwrap();
    assert_eq!(
        run.events.iter().filter_map(count_of).collect::<Vec<_>>(),
        [1]
    );
    assert!(journal.load("run-2").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_share_group_commits_and_lose_nothing() {
    const WRITERS: usize = 64;
    const EVENTS: u64 = 50;
    let db = TestDb::create().await;
    let journal = std::sync::Arc::new(db.journal("replica-a", TTL).await);
    let def = definition(1);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (journal, def) = (journal.clone(), def.clone());
            tokio::spawn(async move {
                let id = format!("run-{w:02}");
                let now = SystemTime::now();
                journal.write(begin(&id, &def, now)).await?;
                journal.write(event(&id, 0, started(&id), now)).await?;
                // Each write awaited before the next, as a run does.
                for n in 1..=EVENTS {
                    let at = SystemTime::now();
                    journal.write(event(&id, n, completed(n), at)).await?;
                }
                Ok::<_, JournalError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task").expect("every ack is Ok");
    }
    for w in 0..WRITERS {
        let run = journal
            .load(&format!("run-{w:02}"))
            .await
            .unwrap()
            .expect("every run is kept");
        let counts: Vec<u64> = run.events.iter().filter_map(count_of).collect();
        assert_eq!(counts, (1..=EVENTS).collect::<Vec<_>>(), "run-{w:02}");
    }
    let rows = db.count("SELECT count(*) FROM maestro_events").await;
    assert_eq!(rows, (WRITERS as i64) * (EVENTS as i64 + 1));
    assert_eq!(
        db.count("SELECT count(*) FROM maestro_definitions").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_only_runs_that_finished_before_the_cutoff() {
    let db = TestDb::create().await;
    let journal = db.journal("replica-a", TTL).await;
    let (old_def, new_def) = (definition(1), definition(2));
    let now = SystemTime::now();
    let hours_ago = |h: u64| now - Duration::from_secs(h * 3600);
    let writes = vec![
        // Finished three hours ago: pruned, with its definition.
        begin("old-done", &old_def, hours_ago(4)),
        event("old-done", 0, started("old-done"), hours_ago(4)),
        event(
            "old-done",
            1,
            finished(RunStatus::Compensated),
            hours_ago(3),
        ),
        // Started long ago and still running: kept.
        begin("old-running", &new_def, hours_ago(5)),
        event("old-running", 0, started("old-running"), hours_ago(5)),
        // Finished a minute ago: kept.
        begin("new-done", &new_def, now),
        event("new-done", 0, started("new-done"), now),
        event("new-done", 1, finished(RunStatus::Succeeded), now),
    ];
    for write in writes {
        journal.write(write).await.unwrap();
    }
    assert_eq!(journal.prune(hours_ago(1)).await, Ok(1));
    assert!(journal.load("old-done").await.unwrap().is_none());
    let kept = journal.load("old-running").await.unwrap().expect("kept");
    assert_eq!(kept.events.len(), 1);
    assert!(journal.load("new-done").await.unwrap().is_some());
    let events = "SELECT count(*) FROM maestro_events WHERE run_id = 'old-done'";
    assert_eq!(db.count(events).await, 0, "its events go with it");
    assert_eq!(
        db.count("SELECT count(*) FROM maestro_definitions").await,
        1,
        "a definition no run uses goes too"
    );
    assert_eq!(journal.prune(hours_ago(1)).await, Ok(0), "nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_opens_its_connections_again_once_they_are_lost() {
    let db = TestDb::create().await;
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}application_name=doomed", db.url);
    let ttl = Duration::from_secs(1);
    let lease = LeaseConfig {
        owner: "replica-a".into(),
        ttl,
    };
    let journal = PostgresJournal::connect(&url, lease).await.unwrap();
    let now = SystemTime::now();
    journal
        .write(begin("run-1", &definition(1), now))
        .await
        .unwrap();
    journal
        .write(event("run-1", 0, started("run-1"), now))
        .await
        .unwrap();

    // As when the server restarts: every session of the journal ends.
    let admin = db.client().await;
    let sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'doomed'";
    let ended: Vec<i32> = admin
        .query(
            "WITH doomed AS MATERIALIZED
                 (SELECT pid FROM pg_stat_activity WHERE application_name = 'doomed')
             SELECT pid FROM doomed WHERE pg_terminate_backend(pid)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(ended.len(), 2, "a writer and a reader session");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&ended],
            )
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "terminated sessions linger"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    journal
        .write(event("run-1", 1, completed(1), SystemTime::now()))
        .await
        .expect("the writer connects again");
    let run = journal
        .load("run-1")
        .await
        .expect("the reader connects again");
    assert_eq!(run.expect("kept").events.len(), 2);
    // Leases are renewed over the new session: past the lease, the run is
    // still this replica's.
    tokio::time::sleep(ttl * 2).await;
    let other = db.journal("replica-b", ttl).await;
    assert!(other.claim().await.unwrap().is_empty());
    assert_eq!(db.count(sessions).await, 2);
}

/// Every page of the listing of `query`, `limit` rows at a time: the ids
/// in the order listed.
async fn walk(journal: &PostgresJournal, query: RunQuery) -> Vec<String> {
    let (mut seen, mut after) = (Vec::new(), None);
    for _ in 0..50 {
        let page = journal
            .list(RunQuery {
                after: after.clone(),
                ..query.clone()
            })
            .await
            .expect("a page");
        seen.extend(page.iter().map(|r| r.run_id.clone()));
        if page.len() < query.limit {
            return seen;
        }
        after = page.last().map(|r| r.cursor());
    }
    panic!("the pages never ended: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_after_a_cursor_list_every_run_once_newest_first() {
    let db = TestDb::create().await;
    let journal = db.journal("replica-a", TTL).await;
    let def = definition(1);
    let other = Definition {
        name: "other".into(),
        ..definition(2)
    };
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let us = |n: u64| t0 + Duration::from_micros(n);
    // Microseconds apart (a cursor kept to the millisecond would skip
    // some), ties on the time broken by id byte by byte (`B` before `a`).
    let runs = [
        ("run-a", us(0), &def, Some(RunStatus::Succeeded)),
        ("run-B", us(0), &def, None),
        ("run-c", us(1), &other, Some(RunStatus::Cancelled)),
        ("run-d", us(2), &def, None),
        ("run-e", us(2), &def, Some(RunStatus::Succeeded)),
        ("run-f", us(1_000), &other, None),
        ("run-g", us(1_001), &def, Some(RunStatus::Compensated)),
    ];
    for (id, at, definition, end) in runs {
        journal.write(begin(id, definition, at)).await.unwrap();
        if let Some(status) = end {
            journal
                .write(event(id, 0, finished(status), at))
                .await
                .unwrap();
        }
    }
    let newest_first = [
        "run-g", "run-f", "run-e", "run-d", "run-c", "run-a", "run-B",
    ];
    for limit in 1..=4 {
        assert_eq!(
            walk(&journal, RunQuery::newest(limit)).await,
            newest_first,
            "limit {limit}"
        );
        let of = |workflow: &str, status| RunQuery {
            workflow: Some(workflow.into()),
            status,
            ..RunQuery::newest(limit)
        };
        assert_eq!(
            walk(&journal, of("journaled", Some(RunStatus::Queued))).await,
            ["run-d", "run-B"],
            "queued and running both mean unfinished; limit {limit}"
        );
        assert_eq!(
            walk(&journal, of("journaled", Some(RunStatus::Succeeded))).await,
            ["run-e", "run-a"]
        );
        assert_eq!(walk(&journal, of("other", None)).await, ["run-f", "run-c"]);
        let range = RunQuery {
            since: Some(us(1)),
            until: Some(us(1_000)),
            ..RunQuery::newest(limit)
        };
        assert_eq!(walk(&journal, range).await, ["run-e", "run-d", "run-c"]);
        let prefix = RunQuery {
            id_prefix: Some("run-B".into()),
            ..RunQuery::newest(limit)
        };
        assert_eq!(walk(&journal, prefix).await, ["run-B"], "case kept");
    }
    // A cursor past the oldest run lists nothing; one from the future, all.
    let last = journal.list(RunQuery::newest(10)).await.unwrap();
    let oldest = RunQuery {
        after: Some(last.last().unwrap().cursor()),
        ..RunQuery::newest(10)
    };
    assert!(journal.list(oldest).await.unwrap().is_empty());
    let future = RunQuery {
        after: Some(Cursor {
            created_at: SystemTime::now() + Duration::from_secs(3600),
            run_id: String::new(),
        }),
        ..RunQuery::newest(10)
    };
    assert_eq!(journal.list(future).await.unwrap().len(), runs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_batch_takes_runs_that_started_before_a_backlog_that_never_did() {
    // More unstarted runs than a claim takes at once (256), all older.
    const BACKLOG: usize = 300;
    let db = TestDb::create().await;
    let owner = db.journal("replica-a", TTL).await;
    let def = definition(1);
    let t0 = SystemTime::now() - Duration::from_secs(3600);
    let acks: Vec<_> = (0..BACKLOG)
        .map(|i| owner.write(begin(&format!("a-{i:04}"), &def, t0)))
        .collect();
    for ack in acks {
        ack.await.unwrap();
    }
    let started_ids = ["z-1", "z-2", "z-3"];
    for id in started_ids {
        owner
            .write(begin(id, &def, SystemTime::now()))
            .await
            .unwrap();
        owner
            .write(event(id, 0, started(id), SystemTime::now()))
            .await
            .unwrap();
    }
    // The owner is gone: every run is free to claim.
    drop(owner);
    db.client()
        .await
        .execute(
            "UPDATE maestro_runs SET owner = NULL, lease_until = NULL",
            &[],
        )
        .await
        .unwrap();

    let taker = db.journal("replica-b", TTL).await;
    let claimed = taker.claim().await.expect("a claim");
    assert!(
        claimed.len() < BACKLOG,
        "a batch is bounded: {}",
        claimed.len()
    );
    for id in started_ids {
        assert!(
            claimed.iter().any(|r| r.run_id == id),
            "{id} is in the first batch"
        );
    }
}
