//! `maestro test FILE...`: run a workflow's tests (`NAME.test.yaml`) with
//! no service running: each service answers from the test's script, time
//! runs as fast as the run allows (retries, backoff and sleeps included),
//! and each run is checked against what the test expects.

mod check;
mod junit;
mod spec;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::escape;
use crate::runtime::handle::Signal;
use crate::runtime::{RunOptions, RunReport, Runtime};
use crate::transport::{Answer, Dial, Scripted, Transport};
use crate::workflow::{self, Service, Workflow};

use super::{EXIT_COMPENSATED, EXIT_INVALID, EXIT_OK, say};
use junit::Outcome;
use spec::{Case, TestFile};

/// How long a test's run may take on its own clock (which jumps whenever
/// the run only waits): a run past it waits for something that never comes.
const RUN_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Test files (`NAME.test.yaml`, next to `NAME.yaml`), or folders:
    /// every `*.test.yaml` in them.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also write the results as JUnit XML, for CI.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

pub fn run(args: TestArgs) -> ExitCode {
    let mut outcomes = Vec::new();
    let mut invalid = false;
    for file in test_files(&args.files) {
        match load(&file) {
            Ok((spec, workflow)) => {
                for case in &spec.tests {
                    let outcome = run_case(&file, &workflow, case);
                    report_line(&outcome);
                    outcomes.push(outcome);
                }
            }
            Err(message) => {
                say::error(&message);
                invalid = true;
            }
        }
    }
    let failed = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
    let summary = format!(
        "{} tests: {} passed, {failed} failed",
        outcomes.len(),
        outcomes.len() - failed
    );
    say::info(&summary);
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, junit::render(&outcomes))
    {
        say::error(&format!("cannot write {}: {e}", path.display()));
        return ExitCode::from(super::EXIT_ERROR);
    }
    ExitCode::from(match (invalid, failed) {
        (true, _) => EXIT_INVALID,
        (false, 0) => EXIT_OK,
        (false, _) => EXIT_COMPENSATED,
    })
}

/// The files named, folders expanded to the `*.test.yaml` they hold.
fn test_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| workflow::is_test_file(p))
                    .collect();
                found.sort();
                files.extend(found);
            }
            Err(_) => files.push(path.clone()),
        }
    }
    files
}

/// A test file and the workflow it tests, or what is wrong with them.
fn load(file: &Path) -> Result<(TestFile, Arc<Workflow>), String> {
    let shown = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{shown}: {e}"))?;
    let spec: TestFile = serde_saphyr::from_str(&text)
        .map_err(|e| format!("{shown}: {}", escape::line(&e.to_string())))?;
    let path = spec::workflow_path(file, &spec);
    let workflow = workflow::load_file(&path).map_err(|d| d.to_string())?;
    Ok((spec, Arc::new(workflow)))
}

/// `validate` of a test file: it reads, its workflow loads, and it names
/// only steps the workflow has; a summary line, or what is wrong.
pub fn check_file(file: &Path) -> Result<String, String> {
    let (spec, workflow) = load(file)?;
    if let Some(problem) = spec
        .tests
        .iter()
        .find_map(|case| unknown_steps(&workflow, case))
    {
        return Err(format!("{}: {problem}", file.display()));
    }
    let n = spec.tests.len();
    Ok(format!(
        "{n} test{} of workflow {}",
        if n == 1 { "" } else { "s" },
        workflow.name
    ))
}

fn run_case(file: &Path, workflow: &Arc<Workflow>, case: &Case) -> Outcome {
    let started = Instant::now();
    let failures = match unknown_steps(workflow, case).or_else(|| spec::script(case).err()) {
        Some(problem) => vec![format!("the test is invalid: {problem}")],
        None => match spec::script(case).map(|answer| execute(workflow, case, answer)) {
            Ok(Ok(report)) => check::differences(&case.expect, &report),
            Ok(Err(e)) | Err(e) => vec![e],
        },
    };
    Outcome {
        file: file.display().to_string(),
        name: case.name.clone(),
        took: started.elapsed(),
        failures,
    }
}

/// A step the test names that the workflow does not have.
fn unknown_steps(workflow: &Workflow, case: &Case) -> Option<String> {
    let named = case.steps.keys().chain(case.compensations.keys());
    let named = named
        .chain(case.expect.steps.keys())
        .chain(case.expect.attempts.keys());
    let steps = workflow.deep_steps();
    let own = |id: &str| id.rsplit('/').next().unwrap_or_default().to_owned();
    named
        .filter(|id| !steps.iter().any(|s| s.id == own(id)))
        .map(|id| format!("workflow `{}` has no step `{id}`", workflow.name))
        .next()
}

/// Run the case on a clock of its own that jumps over every wait.
fn execute(workflow: &Arc<Workflow>, case: &Case, answer: Answer) -> Result<RunReport, String> {
    let clock = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    clock.block_on(async {
        let dial: Dial = Arc::new(move |service: &Service| {
            Ok(Transport::Scripted(Scripted {
                service: service.name.clone(),
                answer: answer.clone(),
            }))
        });
        let actors = Runtime::start_with(&workflow.services, dial)
            .await
            .map_err(|e| e.to_string())?;
        let report = drive(&actors, workflow, case).await;
        actors.shutdown().await;
        report
    })
}

async fn drive(
    actors: &Runtime,
    workflow: &Arc<Workflow>,
    case: &Case,
) -> Result<RunReport, String> {
    let bound = actors.bind(workflow.clone()).map_err(|e| e.to_string())?;
    // As `execute` and `serve` do: defaults filled in, then checked.
    let input = workflow
        .check_input(case.input.clone())
        .map_err(|refused| format!("input_schema refuses the input: {refused}"))?;
    let handle = actors
        .spawn_run(&bound, input, RunOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    for (i, signal) in case.signals.iter().enumerate() {
        let signal = Signal {
            name: signal.name.clone(),
            id: format!("test-signal-{i}"),
            payload: signal.payload.clone(),
        };
        handle
            .canceller()
            .signal(signal)
            .await
            .map_err(|e| e.to_string())?;
    }
    match tokio::time::timeout(RUN_LIMIT, handle.finished()).await {
        Ok(report) => report.map_err(|e| e.to_string()),
        Err(_) => Err("the run did not end: does a `wait` miss its signal?".into()),
    }
}

fn report_line(outcome: &Outcome) {
    let ms = outcome.took.as_millis();
    let name = escape::line(&outcome.name);
    if outcome.failures.is_empty() {
        say::info(&format!("PASS {}: {name} ({ms} ms)", outcome.file));
        return;
    }
    let mut text = format!("FAIL {}: {name} ({ms} ms)", outcome.file);
    for failure in &outcome.failures {
        text.push_str(&format!("\n  {failure}"));
    }
    say::say(say::Level::Error, &text);
}
