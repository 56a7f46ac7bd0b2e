//! Many runs in flight at once: services that answer after a delay, runs
//! submitted without waiting (202) as fast as the server takes them, and
//! the server's memory and runs in flight sampled until every run has ended
//! or the time budget is spent. The same for `maestro serve` and for the
//! glue server, whose `/submit` makes the same calls by hand.

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

/// Which server takes the runs.
#[derive(Debug, Clone, Copy)]
pub enum Server {
    Maestro,
    Glue,
}

/// Runs in flight (running or queued) and runs succeeded so far.
pub struct Counts {
    pub in_flight: u64,
    pub running: u64,
    pub succeeded: u64,
}

impl Server {
    fn submit_path(self) -> &'static str {
        match self {
            Server::Maestro => "/v1/workflows/fan_out/runs",
            Server::Glue => "/submit",
        }
    }

    pub async fn counts(self, client: &reqwest::Client, server: &Proc) -> Option<Counts> {
        match self {
            Server::Maestro => {
                let response = client.get(server.url("/metrics")).send().await.ok()?;
                let text = response.text().await.ok()?;
                let running = metric(&text, "maestro_runs_in_flight");
                Some(Counts {
                    in_flight: running + metric(&text, "maestro_runs_queued"),
                    running,
                    succeeded: succeeded(&text),
                })
            }
            Server::Glue => {
                let response = client.get(server.url("/stats")).send().await.ok()?;
                let stats: serde_json::Value = response.json().await.ok()?;
                if let Some(error) = stats["first_error"].as_str() {
                    eprintln!("glue server: a run failed: {error}");
                }
                let in_flight = stats["in_flight"].as_u64()?;
                Some(Counts {
                    in_flight,
                    running: in_flight,
                    succeeded: stats["succeeded"].as_u64()?,
                })
            }
        }
    }
}

/// Submitters at work, and how many runs were accepted so far.
struct Submitters {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    accepted: Arc<AtomicUsize>,
}

/// [`SUBMITTERS`] tasks posting `runs` runs to `url` without waiting for
/// them (202), until `deadline`.
fn submitters(client: &reqwest::Client, url: &str, runs: usize, deadline: Instant) -> Submitters {
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let tasks = (0..SUBMITTERS)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_owned());
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
    Submitters { tasks, accepted }
}

/// Submit `runs` runs of fan_out to `maestro serve` and wait until every
/// submitter is done; returns how many were accepted.
pub async fn submit(
    client: &reqwest::Client,
    server: &Proc,
    runs: usize,
    deadline: Instant,
) -> usize {
    let submitters = submitters(
        client,
        &server.url(Server::Maestro.submit_path()),
        runs,
        deadline,
    );
    for task in submitters.tasks {
        let _ = task.await;
    }
    submitters.accepted.load(Ordering::Relaxed)
}

/// Submit `runs` runs of fan_out to `server` and watch them to the end.
pub async fn run(
    client: &reqwest::Client,
    kind: Server,
    server: &Proc,
    runs: usize,
    budget: Duration,
) -> Scale {
    let pid = server.pid();
    let mut scale = Scale {
        idle: memory(pid),
        submitted: runs,
        ..Scale::default()
    };
    let start = Instant::now();
    let deadline = start + budget;
    let submitters = submitters(client, &server.url(kind.submit_path()), runs, deadline);
    let accepted = submitters.accepted.clone();
    let submitters = submitters.tasks;
    let mut submitting = true;
    loop {
        if submitting && submitters.iter().all(|s| s.is_finished()) {
            submitting = false;
            scale.submit_time = start.elapsed();
        }
        if let Some(counts) = kind.counts(client, server).await {
            scale.peak_in_flight = scale.peak_in_flight.max(counts.running);
            if !submitting && counts.in_flight == 0 {
                scale.drained = true;
                scale.succeeded = counts.succeeded;
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
