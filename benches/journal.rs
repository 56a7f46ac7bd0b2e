//! The journal's write path under concurrency: N writers each appending
//! events one at a time and waiting for each to be durable, as runs do
//! before each call. Prints events/s and the p50/p99 wait per event for
//! SQLite (sync full and normal) and, when MAESTRO_BENCH_POSTGRES names a
//! database, PostgreSQL. Bounded: at most `WINDOW` per configuration.
//!
//!     cargo bench --bench journal

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use maestro::journal::postgres::{LeaseConfig, PostgresJournal};
use maestro::journal::sqlite::SqliteJournal;
use maestro::journal::{Definition, Journal, NewRun, SyncMode, Write};
use maestro::runtime::{Recorded, RunEvent};
use serde_json::json;

/// How long each configuration is driven.
const WINDOW: Duration = Duration::from_secs(3);
/// Events per writer at most, whatever the window.
const MAX_EVENTS: usize = 20_000;

struct Figures {
    events: usize,
    elapsed: Duration,
    waits: Vec<Duration>,
}

async fn drive(journal: Arc<dyn Journal>, writers: usize, tag: &str) -> Figures {
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let journal = journal.clone();
            let run_id: Arc<str> = format!("{tag}-{w}-{}", uuid::Uuid::now_v7()).into();
            tokio::spawn(async move {
                let begin = Write::Begin(NewRun {
                    run_id: run_id.clone(),
                    definition: Arc::new(Definition {
                        hash: "bench".into(),
                        name: "bench".into(),
                        path: "bench.yaml".into(),
                        text: "name: bench".into(),
                    }),
                    input: json!({}),
                    created_at: SystemTime::now(),
                });
                journal.write(begin).await.expect("begin");
                let mut waits = Vec::new();
                for seq in 0..MAX_EVENTS as u64 {
                    if start.elapsed() > WINDOW {
                        break;
                    }
                    let recorded = Recorded {
                        at: SystemTime::now(),
                        event: RunEvent::AttemptStarted {
                            step: "charge".into(),
                            attempt: 1,
                            idempotency_key: format!("{run_id}:charge"),
                            request: Some("POST /charges".into()),
                        },
                    };
                    let write = Write::event(&run_id, seq, &recorded).expect("event");
                    let sent = Instant::now();
                    journal.write(write).await.expect("durable");
                    waits.push(sent.elapsed());
                }
                waits
            })
        })
        .collect();
    let mut waits = Vec::new();
    for task in tasks {
        waits.extend(task.await.expect("writer"));
    }
    Figures {
        events: waits.len(),
        elapsed: start.elapsed(),
        waits,
    }
}

fn report(backend: &str, writers: usize, mut f: Figures) {
    f.waits.sort();
    let at = |q: f64| f.waits[((f.waits.len() as f64 * q) as usize).min(f.waits.len() - 1)];
    println!(
        "journal {backend:<15} writers={writers:<3} events/s={:>8.0} wait p50={:>8.3?} p99={:>8.3?}",
        f.events as f64 / f.elapsed.as_secs_f64(),
        at(0.50),
        at(0.99),
    );
}

fn main() {
    // `cargo test --benches` / nextest run this target too: only a real
    // `cargo bench` drives it.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        for (name, sync) in [
            ("sqlite full", SyncMode::Full),
            ("sqlite normal", SyncMode::Normal),
        ] {
            let dir =
                std::env::temp_dir().join(format!("maestro-bench-journal-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let journal: Arc<dyn Journal> =
                Arc::new(SqliteJournal::open(&dir, sync).expect("open"));
            for writers in [1, 16, 64] {
                report(
                    name,
                    writers,
                    drive(journal.clone(), writers, "sqlite").await,
                );
            }
            drop(journal);
            let _ = std::fs::remove_dir_all(&dir);
        }
        if let Ok(url) = std::env::var("MAESTRO_BENCH_POSTGRES") {
            let journal: Arc<dyn Journal> = Arc::new(
                PostgresJournal::connect(&url, LeaseConfig::default())
                    .await
                    .expect("connect"),
            );
            for writers in [1, 16, 64] {
                report(
                    "postgres",
                    writers,
                    drive(journal.clone(), writers, "pg").await,
                );
            }
        }
    });
}
