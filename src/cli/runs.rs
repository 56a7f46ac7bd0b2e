//! `maestro runs list|show`: read journaled runs from the command line,
//! while a server may still be writing them.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;

use crate::escape;
use crate::journal::{self, Cursor, RunQuery, StoredRun};
use crate::runtime::{RunEvent, RunReport};
use crate::workflow;

use super::state::StateArgs;
use super::timeline::{Timeline, write_failure_summary};
use super::{EXIT_ERROR, EXIT_INVALID, EXIT_OK};

/// Why `runs` could not answer: a run the journal does not hold, or a
/// cursor no page gave, is the caller's mistake (exit 2), anything else is
/// Maestro's (exit 5).
enum Failure {
    Caller(String),
    Error(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(e.to_string())
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// The newest runs first: id, workflow, status, when.
    List(ListArgs),
    /// One run: its steps, attempts, outputs, errors and compensations.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// How many runs.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Go on after the previous page: the cursor it printed on stderr.
    #[arg(long)]
    pub cursor: Option<String>,
    /// One JSON object per run instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    pub run_id: String,
    #[command(flatten)]
    pub state: StateArgs,
    /// The run's report and every event, as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: RunsCommand) -> ExitCode {
    let state = match &command {
        RunsCommand::List(args) => &args.state,
        RunsCommand::Show(args) => &args.state,
    };
    let spec = match state.spec_or_exit() {
        Ok(Some(spec)) => spec,
        Ok(None) => {
            eprintln!("error: name the journal with --state-dir DIR or --state URL");
            return ExitCode::from(EXIT_INVALID);
        }
        Err(code) => return code,
    };
    let runtime = match super::async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let journal = journal::open_read_only(&spec).await?;
        match command {
            RunsCommand::List(args) => {
                let after = match &args.cursor {
                    Some(text) => {
                        Some(Cursor::decode(text).map_err(|e| Failure::Caller(e.to_string()))?)
                    }
                    None => None,
                };
                let query = RunQuery {
                    limit: args.limit.saturating_add(1),
                    after,
                    ..RunQuery::default()
                };
                let mut rows = journal.list(query).await?;
                let next = (rows.len() > args.limit).then(|| {
                    rows.truncate(args.limit);
                    rows.last().map(|row| row.cursor().encode())
                });
                let mut out = std::io::stdout().lock();
                for row in rows {
                    let line = if args.json {
                        serde_json::to_string(&row).unwrap_or_default()
                    } else {
                        format!(
                            "{}  {:<20}  {:<19}  {}",
                            row.run_id,
                            row.workflow,
                            row.status.label(),
                            row.created_at
                        )
                    };
                    writeln!(out, "{line}")?;
                }
                if let Some(Some(next)) = next {
                    eprintln!("more runs: pass --cursor {next} for the next page");
                }
                Ok(())
            }
            RunsCommand::Show(args) => match journal.load(&args.run_id).await? {
                Some(run) => show(&run, args.json).map_err(Failure::Error),
                None => Err(Failure::Caller(format!(
                    "no run {} in {}",
                    args.run_id,
                    journal.describe()
                ))),
            },
        }
    });
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(Failure::Caller(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_INVALID)
        }
        Err(Failure::Error(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn show(run: &StoredRun, as_json: bool) -> Result<(), String> {
    let definition = &run.definition;
    let env = |name: &str| std::env::var(name).ok();
    let workflow = workflow::load_str(&definition.text, &definition.path, &env)
        .map_err(|e| format!("the run's definition no longer loads:\n{e}"))?;
    let mut report = RunReport::from_events(&workflow, &run.events, None);
    report.run_id = run.run_id.clone();
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| e.to_string();
    if as_json {
        let body = json!({ "run": report, "input": run.input, "events": run.events });
        serde_json::to_writer_pretty(&mut out, &body).map_err(|e| e.to_string())?;
        return writeln!(out).map_err(io);
    }
    writeln!(
        out,
        "run {}  workflow {}  status {}  started {}",
        run.run_id,
        workflow.name,
        report.status.label(),
        humantime::format_rfc3339_millis(run.created_at)
    )
    .map_err(io)?;
    let mut timeline = Timeline::new(&workflow);
    for recorded in &run.events {
        if let Some(line) = timeline.line(recorded) {
            writeln!(out, "{line}").map_err(io)?;
        }
        if let RunEvent::StepCompleted { step, output, .. } = &recorded.event {
            let output = escape::line(&output.to_string()).into_owned();
            writeln!(out, "    output: {output}").map_err(|e| format!("{step}: {e}"))?;
        }
    }
    if report.status.is_final() && report.status != crate::runtime::RunStatus::Succeeded {
        write_failure_summary(&mut out, &report).map_err(io)?;
    }
    if let Some(output) = &report.output {
        writeln!(out, "output: {}", escape::line(&output.to_string())).map_err(io)?;
    }
    Ok(())
}
