//! How fast the PostgreSQL journal makes events durable with many runs
//! writing at once: events per second and the time to each ack. Figures
//! are printed, not asserted; run with
//! `cargo nextest run --test it postgres::throughput --run-ignored only --no-capture`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use maestro::journal::Journal;

use super::{TestDb, begin, completed, definition, event, started};

/// Each writer stops after this many events or this long, whichever first.
const EVENTS_PER_WRITER: u64 = 2_000;
const PHASE: Duration = Duration::from_secs(5);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn measure(db: &TestDb, writers: usize) {
    let journal: Arc<dyn Journal> =
        Arc::new(db.journal(&format!("bench-{writers}"), PHASE * 4).await);
    let def = definition(1);
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (journal, def) = (journal.clone(), def.clone());
            tokio::spawn(async move {
                let id = format!("bench-{writers}-{w}");
                journal
                    .write(begin(&id, &def, SystemTime::now()))
                    .await
                    .unwrap();
                journal
                    .write(event(&id, 0, started(&id), SystemTime::now()))
                    .await
                    .unwrap();
                let mut latencies = Vec::new();
                for n in 1..=EVENTS_PER_WRITER {
                    if start.elapsed() > PHASE {
                        break;
                    }
                    let sent = Instant::now();
                    journal
                        .write(event(&id, n, completed(n), SystemTime::now()))
                        .await
                        .expect("durable");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    println!(
        "postgres journal: writers={writers} events={} elapsed={:.2}s events/s={:.0} ack p50={:.2}ms p99={:.2}ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints figures, asserts nothing about speed"]
async fn journal_write_throughput_with_16_and_64_writers() {
    let db = TestDb::create().await;
    for writers in [1, 16, 64] {
        measure(&db, writers).await;
    }
    let events = db.count("SELECT count(*) FROM maestro_events").await;
    assert!(events > 0, "the writes reached the database");
}
