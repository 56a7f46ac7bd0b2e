//! The SQLite journal's file: the WAL is copied into the database while
//! runs go on, and a journal made by an earlier version trades its
//! whole-table status indexes for partial ones.

use std::sync::Arc;
use std::time::SystemTime;

use maestro::journal::sqlite::{FILE_NAME, SqliteJournal};
use maestro::journal::{Definition, Journal, NewRun, SyncMode, Write};
use maestro::runtime::{Recorded, RunEvent, RunStatus};
use rusqlite::Connection;
use serde_json::json;

use super::StateDir;

fn begin(run_id: &str) -> Write {
    Write::Begin(NewRun {
        run_id: run_id.into(),
        definition: Arc::new(Definition {
            hash: format!("{:064x}", 7),
            name: "wf".into(),
            path: "wf.yaml".into(),
            text: "name: wf".into(),
        }),
        input: json!({"padding": "x".repeat(600)}),
        created_at: SystemTime::now(),
    })
}

fn event(run_id: &str, seq: u64, event: RunEvent) -> Write {
    let recorded = Recorded {
        at: SystemTime::now(),
        event,
    };
    Write::event(&Arc::from(run_id), seq, &recorded).expect("serializable")
}

fn finished() -> RunEvent {
    RunEvent::RunFinished {
        status: RunStatus::Succeeded,
        output: Some(json!({"padding": "y".repeat(600)})),
        error: None,
    }
}

/// Runs begun and finished, `at_once` of them in flight.
async fn journal_runs(journal: &Arc<SqliteJournal>, runs: usize, at_once: usize) {
    for batch in 0..runs.div_ceil(at_once) {
        let acks: Vec<_> = (batch * at_once..((batch + 1) * at_once).min(runs))
            .flat_map(|i| {
                let id = format!("run-{i:05}");
                [
                    journal.write(begin(&id)),
                    journal.write(event(&id, 0, finished())),
                ]
            })
            .collect();
        for ack in acks {
            ack.await.expect("written");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_copied_into_the_database_while_runs_go_on() {
    let dir = StateDir::new("wal");
    let journal = Arc::new(SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens"));
    let database = dir.path().join(FILE_NAME);
    let size = || std::fs::metadata(&database).map_or(0, |m| m.len());
    let before = size();
    // Each run commits alone: some 2,000 commits of a page or more each,
    // past the 1,000 frames of SQLite's automatic checkpoint.
    // The checkpoint runs inside the commit that crossed them, before its
    // writes are acknowledged.
    journal_runs(&journal, 2000, 1).await;
    let copied = size();
    assert!(
        copied > before + 1_000_000,
        "runs.db grew from {before} to {copied} bytes: the WAL was not copied into it"
    );
    let stored = journal
        .load("run-01999")
        .await
        .unwrap()
        .expect("the last run");
    assert_eq!(stored.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_journal_of_an_earlier_version_gains_the_partial_indexes() {
    let dir = StateDir::new("indexes");
    let journal = Arc::new(SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens"));
    journal.write(begin("unfinished")).await.unwrap();
    journal_runs(&journal, 3, 3).await;
    drop(journal);
    // As an earlier version left it.
    let database = dir.path().join(FILE_NAME);
    Connection::open(&database)
        .unwrap()
        .execute_batch(
            "DROP INDEX runs_unfinished; DROP INDEX runs_finished;
             CREATE INDEX runs_by_status ON runs(status);
             CREATE INDEX runs_by_finish ON runs(finished_at);",
        )
        .unwrap();

    let journal = SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens again");
    let conn = Connection::open(&database).unwrap();
    let mut indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    indexes.sort();
    assert_eq!(
        indexes,
        ["runs_by_creation", "runs_finished", "runs_unfinished"]
    );
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT run_id FROM runs WHERE status = 'running' ORDER BY run_id",
            [],
            |row| row.get(3),
        )
        .unwrap();
    assert!(plan.contains("runs_unfinished"), "{plan}");
    let claimed: Vec<String> = journal
        .claim()
        .await
        .unwrap()
        .into_iter()
        .map(|run| run.run_id)
        .collect();
    assert_eq!(claimed, ["unfinished"]);
}
