//! The saga rules against a reference model: random workflows (steps in
//! order and in parallel groups, some with compensations), each call
//! scripted to succeed, fail and pass, fail for good, be refused, or end
//! unknown (a 500 after writing, a hang past the timeout, a cut connection),
//! run by the library runtime against a real HTTP service on 127.0.0.1. The
//! model says how the run ends, which steps ran how often and which
//! compensations ran in which order; the report, the run's events and the
//! service's call log must agree. Each test prints a `fault:` line with the
//! runs' final states. `SAGA_MODEL_CASES=N` runs N workflows
//! instead of 32; a failing case is saved under `tests/proptest-regressions/`
//! and replayed first by later runs.

mod check;
mod model;
mod plan;
mod regressions;
mod service;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use maestro::runtime::{RunOptions, RunStatus, Runtime};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use tokio::sync::mpsc;

use plan::Plan;
use service::Ledger;

/// Workflows checked by default: enough to meet every rule each time, few
/// enough to take seconds.
const DEFAULT_CASES: u32 = 32;
/// A run that has not ended by then is stuck.
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn config() -> Config {
    let cases = std::env::var("SAGA_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        // Each shrinking step is a real run: bound them.
        max_shrink_iters: 256,
        ..Config::default()
    }
}

/// Final states of the runs checked, for the summary line.
#[derive(Default)]
struct Tally {
    runs: u32,
    succeeded: u32,
    compensated: u32,
    compensation_failed: u32,
    lost: u32,
    stuck: u32,
    mismatched: u32,
}

impl Tally {
    fn add(&mut self, status: Result<RunStatus, Stop>) {
        self.runs += 1;
        match status {
            Ok(RunStatus::Succeeded) => self.succeeded += 1,
            Ok(RunStatus::Compensated) => self.compensated += 1,
            Ok(RunStatus::CompensationFailed) => self.compensation_failed += 1,
            Ok(_) | Err(Stop::Mismatch(_)) => self.mismatched += 1,
            Err(Stop::Lost(_)) => self.lost += 1,
            Err(Stop::Stuck) => self.stuck += 1,
        }
    }
}

/// Why a case failed.
enum Stop {
    Stuck,
    Lost(String),
    Mismatch(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Stuck => write!(f, "the run did not end within {RUN_LIMIT:?}"),
            Stop::Lost(e) => write!(f, "the run was lost: {e}"),
            Stop::Mismatch(e) => write!(f, "the run and the model disagree: {e}"),
        }
    }
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Mismatch(message)
    }
}

/// Run one planned workflow and hold everything it did against the model.
async fn run_case(plan: &Plan, ledger: &Ledger, endpoint: &str) -> Result<RunStatus, Stop> {
    let yaml = plan.yaml(endpoint);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("saga_model.yaml");
    let workflow = maestro::workflow::load_str(&yaml, &path, &|_| None)
        .map_err(|d| format!("the generated workflow is invalid:\n{d}"))?;
    let workflow = Arc::new(workflow);
    let runtime = Runtime::start(&workflow.services)
        .await
        .map_err(|e| Stop::Lost(e.to_string()))?;
    let (observer, mut events) = mpsc::unbounded_channel();
    let options = RunOptions {
        observer: Some(Arc::new(observer)),
        ..RunOptions::default()
    };
    let run = runtime.execute(workflow, plan.input(), options);
    let report = tokio::time::timeout(RUN_LIMIT, run).await;
    runtime.shutdown().await;
    let report = report
        .map_err(|_| Stop::Stuck)?
        .map_err(|e| Stop::Lost(e.to_string()))?;
    let mut log = Vec::new();
    while let Ok(event) = events.try_recv() {
        log.push(event);
    }
    let observed = model::observe(plan, &log)?;
    let expected = model::expect(plan, &observed)?;
    check::report(plan, &observed, &expected, &report)?;
    let calls = ledger.calls_of(&report.run_id);
    check::calls(plan, &report.run_id, &observed, &report, &calls)?;
    Ok(report.status)
}

/// A ledger on 127.0.0.1, the tokio runtime its runs use, and the tally.
struct Bench {
    tokio: tokio::runtime::Runtime,
    ledger: Ledger,
    endpoint: String,
    tally: Mutex<Tally>,
    started: Instant,
}

impl Bench {
    fn new() -> Bench {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (ledger, endpoint) = tokio.block_on(Ledger::start());
        Bench {
            tokio,
            ledger,
            endpoint,
            tally: Mutex::new(Tally::default()),
            started: Instant::now(),
        }
    }

    /// Run `plan` once; the error shows the workflow.
    fn check(&self, plan: &Plan) -> Result<(), String> {
        let outcome = self
            .tokio
            .block_on(run_case(plan, &self.ledger, &self.endpoint));
        let failure = match &outcome {
            Ok(_) => None,
            Err(stop) => Some(format!("{stop}\n{}", plan.yaml(&self.endpoint))),
        };
        self.tally.lock().unwrap().add(outcome);
        failure.map_or(Ok(()), Err)
    }

    /// Print the summary line.
    fn report(self, what: &str) {
        let t = self.tally.into_inner().unwrap();
        let agreed = if t.mismatched == 0 {
            "all".to_string()
        } else {
            format!("{} not", t.mismatched)
        };
        println!(
            "fault: runs={} succeeded={} compensated={} compensation_failed={} lost={} stuck={} \
             ({what}: {agreed} as the model says, {:.1}s)",
            t.runs,
            t.succeeded,
            t.compensated,
            t.compensation_failed,
            t.lost,
            t.stuck,
            self.started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn random_workflows_end_as_the_saga_model_says() {
    let bench = Bench::new();
    let result = TestRunner::new(config()).run(&plan::plan(), |plan| {
        bench.check(&plan).map_err(TestCaseError::fail)
    });
    bench.report("saga model");
    if let Err(e) = result {
        panic!("{e}");
    }
}
