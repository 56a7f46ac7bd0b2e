//! Two `maestro serve` replicas on one PostgreSQL journal, with a schedule
//! of `every: 1s`: each tick is claimed by one replica, so each starts one
//! run, never two.

use std::time::{Duration, Instant, SystemTime};

use super::TestDb;
use crate::journal::StateDir;
use crate::serve::process::ServeProcess;
use crate::serve::schedules::ticker;

const DEADLINE: Duration = Duration::from_secs(30);
const RUNS: usize = 6;

fn replica(workflow: &str, url: &str) -> ServeProcess {
    let args = ["--workflows", workflow, "--state", url, "--lease", "2s"];
    ServeProcess::try_spawn(&[], &args)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_fire_each_tick_once() {
    let db = TestDb::create().await;
    let files = StateDir::new("sched-replicas");
    let workflow = ticker(&files, "http://127.0.0.1:9", "1s", "allow");
    let a = replica(&workflow, &db.url);
    let b = replica(&workflow, &db.url);
    let client = db.client().await;
    let deadline = Instant::now() + DEADLINE;
    let created: Vec<SystemTime> = loop {
        let rows = client
            .query(
                "SELECT created_at FROM maestro_runs WHERE workflow = 'ticker' ORDER BY created_at",
                &[],
            )
            .await
            .expect("the runs");
        if rows.len() >= RUNS {
            break rows.iter().map(|r| r.get(0)).collect();
        }
        assert!(
            Instant::now() < deadline,
            "{} runs after {DEADLINE:?}:\n{}\n{}",
            rows.len(),
            a.stderr(),
            b.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for pair in created.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap_or_default();
        assert!(
            gap >= Duration::from_millis(500),
            "two runs {gap:?} apart: one tick fired twice ({created:?})"
        );
    }
    let ticks = db
        .count("SELECT count(*) FROM maestro_schedule_ticks WHERE workflow = 'ticker'")
        .await;
    assert_eq!(ticks, 1, "one row per schedule");
}
