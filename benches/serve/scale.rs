//! Many runs in flight at once: services that answer after a delay, runs
//! submitted without waiting (202) as fast as the server takes them, and
//! `maestro serve`'s memory and runs-in-flight gauge sampled until every
//! run has ended or the time budget is spent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::load::input;
use crate::procs::{Memory, Proc, memory};

/// Submitters working at once.
const SUBMITTERS: usize = 64;
/// How often memory and the gauges are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
pub struct Scale {
    pub submitted: usize,
    pub accepted: usize,
    /// The most runs the server reported executing at one sample.
    pub peak_in_flight: u64,
    /// Memory before the first submission.
    pub idle: Memory,
    /// Memory at the end (its peak is the whole test's).
    pub end: Memory,
    pub submit_time: Duration,
    /// From the first submission until nothing was running or queued.
    pub drain_time: Duration,
    pub succeeded: u64,
    pub drained: bool,
}

/// A gauge or counter of `/metrics` (the sum of its series).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn metrics(client: &reqwest::Client, serve: &Proc) -> Option<String> {
    let response = client.get(serve.url("/metrics")).send().await.ok()?;
    response.text().await.ok()
}

/// Submit `runs` runs of fan_out to `serve` and watch them to the end.
pub async fn run(client: &reqwest::Client, serve: &Proc, runs: usize, budget: Duration) -> Scale {
    let pid = serve.pid();
    let mut scale = Scale {
        idle: memory(pid),
        submitted: runs,
        ..Scale::default()
    };
    let start = Instant::now();
    let deadline = start + budget;
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let url = serve.url("/v1/workflows/fan_out/runs");
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            let (next, accepted) = (next.clone(), accepted.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= runs || Instant::now() >= deadline {
                        return;
                    }
                    let sent = client.post(&url).json(&input(i)).send().await;
                    if sent.is_ok_and(|r| r.status() == 202) {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut submitting = true;
    loop {
        if submitting && submitters.iter().all(|s| s.is_finished()) {
            submitting = false;
            scale.submit_time = start.elapsed();
        }
        if let Some(text) = metrics(client, serve).await {
            let running = metric(&text, "maestro_runs_in_flight");
            let queued = metric(&text, "maestro_runs_queued");
            scale.peak_in_flight = scale.peak_in_flight.max(running);
            if !submitting && running + queued == 0 {
                scale.drained = true;
                scale.succeeded = succeeded(&text);
                break;
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    scale.drain_time = start.elapsed();
    scale.accepted = accepted.load(Ordering::Relaxed);
    scale.end = memory(pid);
    scale
}

fn succeeded(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("maestro_runs_total{") && l.contains("status=\"succeeded\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
