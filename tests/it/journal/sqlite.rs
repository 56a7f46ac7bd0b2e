//! The SQLite journal through its trait: what is written comes back in
//! order, concurrent writers share commits, one process owns a directory,
//! and pruning drops only old finished runs.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use maestro::journal::sqlite::SqliteJournal;
use maestro::journal::{Definition, Journal, JournalError, NewRun, RunQuery, SyncMode, Write};
use maestro::runtime::{Recorded, RunEvent, RunStatus};
use serde_json::json;

use super::StateDir;

fn definition(text: &str) -> Definition {
    Definition {
        hash: format!("{:064x}", text.len()),
        name: "wf".into(),
        path: "wf.yaml".into(),
        text: text.into(),
    }
}

fn begin(run_id: &str, created_at: SystemTime) -> Write {
    Write::Begin(NewRun {
        run_id: run_id.into(),
        definition: Arc::new(definition("name: wf")),
        input: json!({"n": 1}),
        created_at,
    })
}

fn event(run_id: &Arc<str>, seq: u64, event: RunEvent) -> Write {
    let recorded = Recorded {
        at: SystemTime::now(),
        event,
    };
    Write::event(run_id, seq, &recorded).expect("serializable")
}

fn skipped(step: usize) -> RunEvent {
    RunEvent::StepSkipped {
        step: format!("s{step}"),
    }
}

fn finished() -> RunEvent {
    RunEvent::RunFinished {
        status: RunStatus::Succeeded,
        output: Some(json!({})),
        error: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_share_commits_and_read_back_in_order() {
    let dir = StateDir::new("order");
    let journal = Arc::new(SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens"));
    const RUNS: usize = 32;
    const EVENTS: u64 = 40;
    let writers: Vec<_> = (0..RUNS)
        .map(|r| {
            let journal = journal.clone();
            tokio::spawn(async move {
                let id: Arc<str> = format!("run-{r:03}").into();
                journal.write(begin(&id, SystemTime::now())).await?;
                for seq in 0..EVENTS {
                    journal
                        .write(event(&id, seq, skipped(seq as usize)))
                        .await?;
                }
                Ok::<_, JournalError>(())
            })
        })
        .collect();
    for writer in writers {
        writer
            .await
            .expect("task")
            .expect("every write acknowledged");
    }
    let rows = journal.list(RunQuery::newest(1000)).await.expect("list");
    assert_eq!(rows.len(), RUNS);
    for row in &rows {
        let run = journal.load(&row.run_id).await.expect("load").expect("run");
        assert_eq!(run.events.len(), EVENTS as usize);
        for (i, recorded) in run.events.iter().enumerate() {
            assert_eq!(recorded.event, skipped(i), "{} event {i}", row.run_id);
        }
        assert_eq!(run.input, json!({"n": 1}));
        assert_eq!(run.status, RunStatus::Running);
    }
    // Unfinished runs are claimed once, by the directory's one owner.
    assert_eq!(journal.claim().await.expect("claim").len(), RUNS);
    assert!(journal.claim().await.expect("claim").is_empty());
}

#[tokio::test]
async fn a_state_directory_has_one_writer_and_any_number_of_readers() {
    let dir = StateDir::new("lock");
    let owner = SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens");
    let second = SqliteJournal::open(dir.path(), SyncMode::Full);
    assert!(
        matches!(second, Err(JournalError::Locked { .. })),
        "a second writer is refused"
    );
    let id: Arc<str> = "run-1".into();
    owner.write(begin(&id, SystemTime::now())).await.unwrap();
    owner.write(event(&id, 0, finished())).await.unwrap();
    let reader = SqliteJournal::open_read_only(dir.path()).expect("a reader opens");
    let rows = reader.list(RunQuery::newest(10)).await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, RunStatus::Succeeded);
    assert!(rows[0].finished_at.is_some());
    assert!(
        reader
            .write(begin("run-2", SystemTime::now()))
            .await
            .is_err(),
        "a reader cannot write"
    );
    drop(owner);
    SqliteJournal::open(dir.path(), SyncMode::Full).expect("the lock goes with its owner");
}

#[tokio::test]
async fn a_duplicate_write_fails_alone() {
    let dir = StateDir::new("dup");
    let journal = SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens");
    let id: Arc<str> = "run-1".into();
    journal.write(begin(&id, SystemTime::now())).await.unwrap();
    // Queued together: the second repeats seq 0 and must not sink the third.
    let first = journal.write(event(&id, 0, skipped(0)));
    let repeat = journal.write(event(&id, 0, skipped(9)));
    let third = journal.write(event(&id, 1, skipped(1)));
    assert!(first.await.is_ok());
    assert!(matches!(repeat.await, Err(JournalError::Write(_))));
    assert!(third.await.is_ok());
    let run = journal.load("run-1").await.unwrap().unwrap();
    let events: Vec<_> = run.events.into_iter().map(|r| r.event).collect();
    assert_eq!(events, [skipped(0), skipped(1)]);
}

#[tokio::test]
async fn pruning_drops_old_finished_runs_only() {
    let dir = StateDir::new("prune");
    let journal = SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens");
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    for (id, done) in [("old-done", true), ("old-running", false)] {
        let id: Arc<str> = id.into();
        journal.write(begin(&id, long_ago)).await.unwrap();
        if done {
            let recorded = Recorded {
                at: long_ago,
                event: finished(),
            };
            journal
                .write(Write::event(&id, 0, &recorded).unwrap())
                .await
                .unwrap();
        }
    }
    let fresh: Arc<str> = "fresh-done".into();
    journal
        .write(begin(&fresh, SystemTime::now()))
        .await
        .unwrap();
    journal.write(event(&fresh, 0, finished())).await.unwrap();

    let pruned = journal
        .prune(SystemTime::now() - Duration::from_secs(60))
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
    let mut left: Vec<String> = journal
        .list(RunQuery::newest(10))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    left.sort();
    assert_eq!(left, ["fresh-done", "old-running"]);
    assert!(journal.load("old-done").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_nobody_waits_for_are_committed_with_the_next_or_alone() {
    let dir = StateDir::new("held");
    let journal = SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens");
    let id: Arc<str> = "run-1".into();
    journal.write(begin(&id, SystemTime::now())).await.unwrap();
    // Dropped acks: held back for a commit somebody waits for.
    drop(journal.write(event(&id, 0, skipped(0))));
    drop(journal.write(event(&id, 1, skipped(1))));
    journal.write(event(&id, 2, skipped(2))).await.unwrap();
    let run = journal.load(&id).await.unwrap().expect("run");
    let kinds: Vec<_> = run.events.iter().map(|r| r.event.clone()).collect();
    assert_eq!(kinds, vec![skipped(0), skipped(1), skipped(2)]);
    // Alone, it is committed all the same, a moment later.
    drop(journal.write(event(&id, 3, skipped(3))));
    let mut seen = 0;
    for _ in 0..500 {
        seen = journal.load(&id).await.unwrap().expect("run").events.len();
        if seen == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen, 4, "a write nobody waits for is committed on its own");
    // And before the journal closes.
    drop(journal.write(event(&id, 4, finished())));
    drop(journal);
    let reopened = SqliteJournal::open_read_only(dir.path()).expect("reopens");
    let mut status = RunStatus::Running;
    for _ in 0..500 {
        status = reopened.load(&id).await.unwrap().expect("run").status;
        if status == RunStatus::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, RunStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_beginning_is_refused_gets_no_event() {
    let dir = StateDir::new("refused");
    let journal = SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens");
    // The database itself refuses one run's row, as a failing disk would.
    let side = rusqlite::Connection::open(dir.path().join(maestro::journal::sqlite::FILE_NAME))
        .expect("a second connection");
    side.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON runs WHEN NEW.run_id = 'bad'
         BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .expect("trigger");
    let (bad, good): (Arc<str>, Arc<str>) = ("bad".into(), "good".into());
    // Queued together, as a server queues a run's beginning and its run's
    // first events: the good run's writes go through, the bad one's none.
    let begun = journal.write(begin(&bad, SystemTime::now()));
    let other = journal.write(begin(&good, SystemTime::now()));
    let first = journal.write(event(&bad, 0, skipped(0)));
    let good_event = journal.write(event(&good, 0, skipped(0)));
    assert!(matches!(begun.await, Err(JournalError::Write(_))));
    assert!(other.await.is_ok());
    assert!(matches!(first.await, Err(JournalError::Write(_))));
    assert!(good_event.await.is_ok());
    // And in a later group.
    let later = journal.write(event(&bad, 1, skipped(1)));
    assert!(matches!(later.await, Err(JournalError::Write(_))));
    let orphans: i64 = side
        .query_row(
            "SELECT count(*) FROM events WHERE run_id = 'bad'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(orphans, 0, "no event stands without its run");
    assert!(journal.load("bad").await.unwrap().is_none());
    assert_eq!(
        journal
            .load("good")
            .await
            .unwrap()
            .expect("run")
            .events
            .len(),
        1
    );
}
