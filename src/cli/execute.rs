//! `maestro execute FILE --input JSON`: run one workflow to its end. The
//! output JSON goes to stdout and nothing else does; the timeline, failure
//! summary and logs go to stderr. The exit code says how the run ended.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::journal::{self, StateSpec};
use crate::runtime::{Recorded, RunOptions, RunReport, RunStatus, Runtime};
use crate::server::json;
use crate::workflow;

use super::interrupt::{self, Interrupts};
use super::live::LiveTimeline;
use super::report::{JsonReport, StepOutputs};
use super::state::StateArgs;
use super::timeline::{Timeline, event_fields, write_failure_summary};
use super::traces::{TraceArgs, traced};
use super::{EXIT_ERROR, EXIT_INVALID};
use super::{resume, say};

#[derive(Debug, clap::Args)]
pub struct ExecuteArgs {
    /// The workflow file.
    pub file: PathBuf,
    /// The run's input as JSON text.
    #[arg(long, conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Read the run's input from a JSON file (`-` for stdin).
    #[arg(long)]
    pub input_file: Option<PathBuf>,
    /// What goes to stdout: the workflow output alone (`output`), or the
    /// whole run report as JSON (`json`), failed runs included.
    #[arg(long, value_enum, default_value_t = OutputFormat::Output)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub traces: TraceArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Output,
    Json,
}

pub fn run(args: ExecuteArgs) -> ExitCode {
    let workflow = match workflow::load_file(&args.file) {
        Ok(workflow) => Arc::new(workflow),
        Err(diagnostics) => {
            say::say(say::Level::Error, &diagnostics.to_string());
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let input = match read_input(&args) {
        Ok(input) => input,
        Err(message) => {
            say::error(&message);
            return ExitCode::from(EXIT_INVALID);
        }
    };
    // Before the journal is opened or a service actor started: a refused
    // input leaves no trace and calls nothing.
    let input = match workflow.check_input(input) {
        Ok(input) => input,
        Err(rejected) => {
            let mut fields = Map::new();
            fields.insert("violations".into(), json!(rejected.violations));
            say::error_with(&rejected.to_string(), fields);
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let state = match args.state.spec_or_exit() {
        Ok(state) => state,
        Err(code) => return code,
    };
    if let (Some(signal), None) = (super::validate::first_wait(&workflow), &state) {
        say::error(&format!(
            "workflow `{}` waits for signal `{signal}`, which `maestro signal` sends through a \
             journal: run it with --state-dir DIR or --state URL",
            workflow.name
        ));
        return ExitCode::from(EXIT_INVALID);
    }
    let traces = match args.traces.config_or_exit() {
        Ok(traces) => traces,
        Err(code) => return code,
    };
    let runtime = match super::async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(traced(traces, execute(workflow, input, args.output, state)))
}

async fn execute(
    workflow: Arc<workflow::Workflow>,
    input: Value,
    format: OutputFormat,
    state: Option<StateSpec>,
) -> ExitCode {
    // Watched from the start: a signal must never kill a run half done.
    let mut interrupts = match Interrupts::watch() {
        Ok(interrupts) => interrupts,
        Err(e) => return failed(format!("cannot watch SIGINT and SIGTERM: {e}")),
    };
    let (actors, place) = match start(&workflow, state).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let options = RunOptions {
        observer: Some(Arc::new(tx)),
        ..RunOptions::default()
    };
    let started = match actors.bind(workflow.clone()) {
        Ok(bound) => actors.spawn_run(&bound, input, options).await,
        Err(e) => Err(e),
    };
    let handle = match started {
        Ok(handle) => handle,
        Err(e) => {
            actors.shutdown().await;
            return failed(e);
        }
    };
    announce(&handle.run_id, &workflow.name);
    // Started once the run id is out, so a redrawn timeline stays below it.
    let printer = if !say::is_json() && std::io::stderr().is_terminal() {
        tokio::spawn(redraw_timeline(LiveTimeline::new(&workflow), rx))
    } else {
        tokio::spawn(append_timeline(Timeline::new(&workflow), rx))
    };
    let (report, interrupted) =
        interrupt::drive(handle, &mut interrupts, &workflow, place.as_deref()).await;
    actors.shutdown().await;
    let outputs = printer.await.unwrap_or_default();
    let report = match report {
        Ok(report) => report,
        Err(e) => return failed(e),
    };
    print_report(&report, &outputs, format);
    if report.status != RunStatus::Succeeded {
        let mut summary = Vec::new();
        let _ = write_failure_summary(&mut summary, &report);
        let summary = String::from_utf8_lossy(&summary);
        say::say(say::Level::Error, summary.trim_end());
    }
    if let Some(signal) = interrupted {
        return ExitCode::from(signal.exit_code());
    }
    ExitCode::from(super::exit::for_status(report.status))
}

/// The service actors, with the journal when there is one (and where it
/// is); this workflow's unfinished runs in it are finished first.
async fn start(
    workflow: &workflow::Workflow,
    state: Option<StateSpec>,
) -> Result<(Runtime, Option<String>), ExitCode> {
    let actors = Runtime::start(&workflow.services).await.map_err(failed)?;
    let Some(spec) = state else {
        return Ok((actors, None));
    };
    let journal = journal::open(&spec).await.map_err(failed)?;
    let place = journal.describe();
    let actors = actors.with_journal(journal.clone());
    resume::finish_unfinished(&actors, journal.as_ref(), &workflow.name).await;
    Ok((actors, Some(place)))
}

/// The run id on stderr before anything happens, so a script can look the
/// run up (`maestro runs show`) however it ends.
fn announce(run_id: &str, workflow: &str) {
    let mut fields = Map::new();
    fields.insert("run_id".into(), Value::String(run_id.to_owned()));
    fields.insert("workflow".into(), Value::String(workflow.to_owned()));
    let message = format!("run {run_id} started (workflow {workflow})");
    say::say_with(say::Level::Info, "maestro::cli", &message, fields);
}

/// Maestro itself could not do its work: said on stderr, with its own code.
fn failed(error: impl std::fmt::Display) -> ExitCode {
    say::error(&error.to_string());
    ExitCode::from(EXIT_ERROR)
}

/// The output (or the whole report) on stdout; nothing for a run without
/// output. A reader that went away (`| head`) is not an error.
fn print_report(report: &RunReport, outputs: &StepOutputs, format: OutputFormat) {
    let value = match format {
        OutputFormat::Json => serde_json::to_value(JsonReport::new(report, outputs)).ok(),
        OutputFormat::Output => report.output.clone(),
    };
    let Some(value) = value else {
        return;
    };
    let mut stdout = std::io::stdout().lock();
    let printed = serde_json::to_writer_pretty(&mut stdout, &value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(stdout))
        .and_then(|()| stdout.flush());
    match printed {
        Err(e) if super::reader_gone(&e) => {}
        Err(e) => say::error(&format!("cannot write the output: {e}")),
        Ok(()) => {}
    }
}

/// One line per event, for logs and pipes; one JSON object per event with
/// `--log-format json`.
async fn append_timeline(
    mut timeline: Timeline,
    mut rx: mpsc::UnboundedReceiver<Recorded>,
) -> StepOutputs {
    let mut outputs = StepOutputs::default();
    while let Some(event) = rx.recv().await {
        outputs.keep(&event);
        if let Some(line) = timeline.line(&event) {
            let fields = event_fields(&event);
            say::say_with(say::Level::Info, "maestro::timeline", &line, fields);
        }
    }
    outputs
}

/// How often running steps' times are refreshed on a terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// The rows redrawn on every event and tick, until the run's log closes.
async fn redraw_timeline(
    mut timeline: LiveTimeline,
    mut rx: mpsc::UnboundedReceiver<Recorded>,
) -> StepOutputs {
    let mut outputs = StepOutputs::default();
    let mut tick = tokio::time::interval(REDRAW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(event) => {
                    outputs.keep(&event);
                    timeline.apply(&event);
                }
                None => break,
            },
            _ = tick.tick() => {}
        }
        draw(&mut timeline);
    }
    draw(&mut timeline);
    outputs
}

fn draw(timeline: &mut LiveTimeline) {
    let frame = timeline.frame(SystemTime::now());
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(frame.as_bytes());
    let _ = stderr.flush();
}

fn read_input(args: &ExecuteArgs) -> Result<Value, String> {
    let (text, origin) = match (&args.input, &args.input_file) {
        (Some(text), _) => (text.clone(), "--input".to_string()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| format!("cannot read the input from stdin: {e}"))?;
            (text, "stdin".to_string())
        }
        (None, Some(path)) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        (None, None) => return Ok(Value::Object(Default::default())),
    };
    // Strict: a key given twice or an integer beyond 64 bits is refused,
    // as the API refuses them.
    let value = json::parse(text.as_bytes(), "input").map_err(|e| format!("{origin}: {e}"))?;
    match json::require_object(value, "the input") {
        Ok(input) => Ok(Value::Object(input)),
        Err(e) => Err(format!("{origin}: {e}, like {{\"payload\": 1}}")),
    }
}
