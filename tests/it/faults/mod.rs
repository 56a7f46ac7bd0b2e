//! The fault matrix: each row puts real services on 127.0.0.1 under one
//! fault, drives a bounded batch of runs through it, tallies how every run
//! ended and checks the promises all rows share (see [`check`]).
//!
//! Each row prints `fault: <number> <row> runs=N succeeded=… compensated=…
//! compensation_failed=… lost=0 stuck=0` (shown with `--no-capture`), where
//! `compensated` counts every run that stopped early with all its
//! compensations done (`compensated`, `timed_out`, `cancelled`).
//! `MAESTRO_SOAK=1` (`make soak`) makes the batches larger.

mod answers;
mod breaker;
mod check;
mod drain;
mod flows;
mod kill;
mod net;
mod reset;
mod serve;
mod silence;
mod undo;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use maestro::runtime::{Recorded, RunEvent, RunOptions, Runtime};
use maestro::workflow::Workflow;
use serde_json::Value;
use tokio::sync::Semaphore;

pub use flows::{Saga, jobs, mixed};

use crate::support::{CallRecord, ServiceProcess};

/// How long a batch may take before its unfinished runs count as stuck.
fn batch_bound() -> Duration {
    Duration::from_secs(scale(90, 600) as u64)
}

/// `default` in the everyday suite, `soak` under `MAESTRO_SOAK=1`.
pub fn scale(default: usize, soak: usize) -> usize {
    if std::env::var("MAESTRO_SOAK").is_ok_and(|v| v == "1") {
        soak
    } else {
        default
    }
}

/// One run to make: a workflow and its input.
pub type Job = (Arc<Workflow>, Value);

/// How one submitted run ended, as far as the row could tell.
#[derive(Debug)]
pub enum Ending {
    /// The final report, as JSON (the shape `maestro serve` answers with),
    /// and the run's events when it ran in this process.
    Final {
        report: Value,
        events: Option<Vec<Recorded>>,
    },
    /// Still queued or running when the bound ran out.
    Stuck { run_id: String },
    /// Submitted, but no report ever came back.
    Lost { run_id: String, why: String },
}

impl Ending {
    pub fn report(&self) -> Option<&Value> {
        match self {
            Ending::Final { report, .. } => Some(report),
            _ => None,
        }
    }

    pub fn events(&self) -> &[Recorded] {
        match self {
            Ending::Final {
                events: Some(events),
                ..
            } => events,
            _ => &[],
        }
    }

    /// The report's `status`, or `stuck` / `lost`.
    pub fn status(&self) -> &str {
        match self {
            Ending::Final { report, .. } => report["status"].as_str().unwrap_or("?"),
            Ending::Stuck { .. } => "stuck",
            Ending::Lost { .. } => "lost",
        }
    }

    /// The record of step `id` in the report.
    pub fn step(&self, id: &str) -> &Value {
        self.report()
            .and_then(|r| r["steps"].as_array())
            .and_then(|steps| steps.iter().find(|s| s["id"] == id))
            .unwrap_or(&Value::Null)
    }

    /// The steps compensated, in the order their compensations ran.
    pub fn undone(&self) -> Vec<&str> {
        self.report()
            .and_then(|r| r["compensations"].as_array())
            .map(|c| c.iter().filter_map(|c| c["step"].as_str()).collect())
            .unwrap_or_default()
    }
}

/// Every run a row made, by how it ended.
pub struct Tally {
    row: String,
    workflows: BTreeMap<String, Arc<Workflow>>,
    endings: Vec<Ending>,
}

impl Tally {
    pub fn new(row: &str) -> Self {
        Self {
            row: row.to_string(),
            workflows: BTreeMap::new(),
            endings: Vec::new(),
        }
    }

    pub fn endings(&self) -> &[Ending] {
        &self.endings
    }

    /// Runs `jobs` on `runtime`, at most `concurrency` at once, and returns
    /// how the runs of this batch ended.
    pub async fn run(
        &mut self,
        runtime: &Arc<Runtime>,
        jobs: Vec<Job>,
        concurrency: usize,
    ) -> &[Ending] {
        let first = self.endings.len();
        for (workflow, _) in &jobs {
            self.know(workflow);
        }
        self.endings
            .extend(batch(runtime, jobs, concurrency, batch_bound()).await);
        &self.endings[first..]
    }

    /// A run made elsewhere (by `maestro serve`) of `workflow`.
    pub fn add(&mut self, workflow: &Arc<Workflow>, ending: Ending) {
        self.know(workflow);
        self.endings.push(ending);
    }

    fn know(&mut self, workflow: &Arc<Workflow>) {
        self.workflows
            .entry(workflow.name.clone())
            .or_insert_with(|| workflow.clone());
    }

    fn count(&self, statuses: &[&str]) -> usize {
        self.endings
            .iter()
            .filter(|e| statuses.contains(&e.status()))
            .count()
    }

    /// Prints the row's line, then asserts that every run is final and
    /// compensated by the rules, and that the services' call logs agree.
    pub fn check(&self, services: &[&ServiceProcess]) {
        let (lost, stuck) = (self.count(&["lost"]), self.count(&["stuck"]));
        println!(
            "fault: {} runs={} succeeded={} compensated={} compensation_failed={} lost={lost} stuck={stuck}",
            self.row,
            self.endings.len(),
            self.count(&["succeeded"]),
            self.count(&["compensated", "timed_out", "cancelled"]),
            self.count(&["compensation_failed"]),
        );
        for service in services {
            settle(service);
        }
        let unfinished: Vec<String> = self
            .endings
            .iter()
            .filter_map(|e| match e {
                Ending::Final { .. } => None,
                Ending::Stuck { run_id } => Some(format!("run {run_id} is still going")),
                Ending::Lost { run_id, why } => Some(format!("run {run_id} is lost: {why}")),
            })
            .collect();
        assert!(
            unfinished.is_empty(),
            "{}:\n{}",
            self.row,
            unfinished.join("\n")
        );

        let mut problems = Vec::new();
        for ending in &self.endings {
            let Ending::Final { report, events } = ending else {
                continue;
            };
            let name = report["workflow"].as_str().unwrap_or_default();
            let workflow = self.workflows.get(name).expect("a workflow of the row");
            if let Err(e) = check::run(workflow, report, events.as_deref()) {
                problems.push(format!("run {}: {e}", report["run_id"]));
            }
        }
        let calls: Vec<CallRecord> = services.iter().flat_map(|s| s.calls()).collect();
        let reports: Vec<&Value> = self.endings.iter().filter_map(Ending::report).collect();
        problems.extend(check::calls(&reports, &calls));
        problems.truncate(20);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            self.row,
            problems.join("\n")
        );
    }
}

/// Runs `jobs`, at most `concurrency` at once; a run not finished `bound`
/// after the batch started is stuck.
async fn batch(
    runtime: &Arc<Runtime>,
    jobs: Vec<Job>,
    concurrency: usize,
    bound: Duration,
) -> Vec<Ending> {
    let deadline = tokio::time::Instant::now() + bound;
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|(workflow, input)| {
            let (runtime, slots) = (runtime.clone(), slots.clone());
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await;
                let bound = runtime
                    .bind(workflow)
                    .expect("the runtime knows its services");
                let handle = match runtime
                    .spawn_run(&bound, input, RunOptions::default())
                    .await
                {
                    Ok(handle) => handle,
                    Err(e) => {
                        return Ending::Lost {
                            run_id: String::new(),
                            why: e.to_string(),
                        };
                    }
                };
                let (run_id, watch) = (handle.run_id.clone(), handle.watch());
                match tokio::time::timeout_at(deadline, handle.finished()).await {
                    Ok(Ok(report)) => Ending::Final {
                        report: serde_json::to_value(&report).expect("a report serializes"),
                        events: Some(watch.events()),
                    },
                    Ok(Err(e)) => Ending::Lost {
                        run_id,
                        why: e.to_string(),
                    },
                    Err(_) => Ending::Stuck { run_id },
                }
            })
        })
        .collect();
    let mut endings = Vec::with_capacity(tasks.len());
    for task in tasks {
        endings.push(task.await.unwrap_or_else(|e| Ending::Lost {
            run_id: String::new(),
            why: format!("the run's task panicked: {e}"),
        }));
    }
    endings
}

/// Waits (at most 10 s) until no call is in progress at `process`: a
/// caller that gave up must have hung up, so that the service logged the
/// call as ended.
pub fn settle(process: &ServiceProcess) {
    for _ in 0..200 {
        if process.active_calls().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{}: calls still in progress: {:#?}",
        process.name,
        process.active_calls()
    );
}

/// `{minimum, median, maximum}` of some durations, for the figures a row prints.
pub fn spread(mut values: Vec<Duration>) -> String {
    if values.is_empty() {
        return "none".into();
    }
    values.sort();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!(
        "min={:?} p50={:?} max={:?} (n={})",
        at(0.0),
        at(0.5),
        at(1.0),
        values.len()
    )
}

/// When the first event matching `pick` was recorded.
pub fn when(events: &[Recorded], pick: impl Fn(&RunEvent) -> bool) -> Option<SystemTime> {
    events.iter().find(|e| pick(&e.event)).map(|e| e.at)
}
