//! Closed-loop load: `concurrency` clients, each submitting a run and
//! waiting for its end before the next, until a count or a time budget is
//! spent. Latency is measured at the client, from send to the last byte.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::paired::quantile;

/// Where runs are submitted, and how a finished one is recognised.
#[derive(Clone)]
pub struct Target {
    pub name: &'static str,
    /// `maestro serve`: `/v1/workflows/fan_out/runs?wait=true`;
    /// the glue server: `/run`.
    pub url: String,
}

/// What one stretch of load produced.
#[derive(Debug, Default, Clone)]
pub struct Load {
    pub latencies: Vec<Duration>,
    pub failed: usize,
    /// Time with runs in flight.
    pub busy: Duration,
    /// CPU the server used meanwhile, user and system.
    pub cpu: Duration,
}

impl Load {
    pub fn add(&mut self, other: Load) {
        self.latencies.extend(other.latencies);
        self.failed += other.failed;
        self.busy += other.busy;
        self.cpu += other.cpu;
    }

    /// The server's CPU time per run that ended.
    pub fn cpu_per_run(&self) -> Duration {
        self.cpu / (self.latencies.len() + self.failed).max(1) as u32
    }

    pub fn runs_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.busy.as_secs_f64().max(1e-9)
    }

    pub fn p(&self, q: f64) -> Duration {
        quantile(&self.latencies, q)
    }
}

/// The input of run `i`: distinct, so no service can answer from a cache.
pub fn input(i: usize) -> Value {
    json!({ "input": { "payload": format!("Quarterly revenue grew strongly, report {i}") } })
}

/// Submit `count` runs, `concurrency` at a time, for at most `budget`.
pub async fn drive(
    client: &reqwest::Client,
    target: &Target,
    concurrency: usize,
    count: usize,
    budget: Duration,
) -> Load {
    let issued = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + budget;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, issued) = (client.clone(), target.url.clone(), issued.clone());
            tokio::spawn(async move {
                let mut load = Load::default();
                loop {
                    let i = issued.fetch_add(1, Ordering::Relaxed);
                    if i >= count || Instant::now() >= end {
                        return load;
                    }
                    let sent = Instant::now();
                    match submit(&client, &url, i).await {
                        Ok(()) => load.latencies.push(sent.elapsed()),
                        Err(e) => {
                            if load.failed == 0 {
                                eprintln!("run failed: {e}");
                            }
                            load.failed += 1;
                        }
                    }
                }
            })
        })
        .collect();
    let mut total = Load::default();
    for worker in workers {
        total.add(worker.await.expect("a load worker"));
    }
    total.busy = start.elapsed();
    total
}

async fn submit(client: &reqwest::Client, url: &str, i: usize) -> Result<(), String> {
    let response = client
        .post(url)
        .json(&input(i))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if status.is_success() && body["status"] == "succeeded" {
        Ok(())
    } else {
        Err(format!("HTTP {status}: {body}"))
    }
}
