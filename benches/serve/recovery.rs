//! Recovery after kill -9: runs in flight in a journaled `maestro serve`
//! against services that answer late, the server killed, a new one started
//! on the same state directory; how long until it listens, until every run
//! is running again, and until all have ended.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::procs;
use crate::scale::{self, Server};

/// How often the new server's gauges are read.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
pub struct Recovery {
    pub runs: usize,
    /// Running when the first server was killed.
    pub killed_with: u64,
    /// From the new server's spawn to its ready line.
    pub ready: Duration,
    /// From the spawn until every run was running again (`None`: never
    /// within the budget).
    pub all_running: Option<Duration>,
    /// From the spawn until nothing was running or queued.
    pub all_ended: Option<Duration>,
    pub succeeded: u64,
}

/// `runs` runs of `workflow` in flight, kill -9, restart; within `budget`.
pub async fn run(
    client: &reqwest::Client,
    workflow: &Path,
    endpoints: &[(&str, String)],
    state: &Path,
    runs: usize,
    budget: Duration,
    log: &Path,
) -> Recovery {
    let limit = runs.to_string();
    let args = [
        "--state-dir".to_owned(),
        state.display().to_string(),
        "--max-running".to_owned(),
        limit.clone(),
        "--max-queued".to_owned(),
        limit,
    ];
    let mut first = procs::serve(workflow, endpoints, &args, log);
    let deadline = Instant::now() + budget;
    scale::submit(client, &first, runs, deadline).await;
    let mut recovery = Recovery {
        runs,
        ..Recovery::default()
    };
    // Every run accepted and running: a call of each is at a service.
    while Instant::now() < deadline {
        if let Some(counts) = Server::Maestro.counts(client, &first).await {
            recovery.killed_with = counts.running;
            if counts.running as usize >= runs {
                break;
            }
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    first.kill9();
    let spawned = Instant::now();
    let second = procs::serve(workflow, endpoints, &args, log);
    recovery.ready = spawned.elapsed();
    while Instant::now() < deadline {
        if let Some(counts) = Server::Maestro.counts(client, &second).await {
            if recovery.all_running.is_none() && counts.running as usize >= runs {
                recovery.all_running = Some(spawned.elapsed());
            }
            if counts.in_flight == 0 {
                recovery.all_ended = Some(spawned.elapsed());
                recovery.succeeded = counts.succeeded;
                break;
            }
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    recovery
}

pub fn report(recovery: &Recovery, delay_ms: u64) {
    let show = |d: Option<Duration>| {
        d.map_or("not within the budget".to_owned(), |d| {
            format!("{:.2} s", d.as_secs_f64())
        })
    };
    println!();
    println!(
        "recovery: {} runs of fan_out in flight in maestro serve --state-dir (services answer after {delay_ms} ms), \
         {} running at kill -9; a new server on the same directory:",
        recovery.runs, recovery.killed_with
    );
    println!(
        "  listening after {:.2} s, every run running again after {}, all ended after {}; {} succeeded",
        recovery.ready.as_secs_f64(),
        show(recovery.all_running),
        show(recovery.all_ended),
        recovery.succeeded
    );
}
