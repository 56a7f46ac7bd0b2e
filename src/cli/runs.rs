//! `maestro runs list|show`: read journaled runs from the command line,
//! while a server may still be writing them.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;

use crate::escape;
use crate::journal::{self, Cursor, Journal, RunQuery, StateSpec, StoredRun};
use crate::runtime::{RunEvent, RunReport};
use crate::workflow;

use super::state::ReadStateArgs;
use super::timeline::{Timeline, write_failure_summary};
use super::{EXIT_ERROR, EXIT_INVALID, EXIT_OK, say};

/// Why `runs` could not answer: a run the journal does not hold, or a
/// cursor no page gave, is the caller's mistake (exit 2), anything else is
/// Maestro's (exit 5); a reader of stdout that went away ends it quietly.
pub(super) enum Failure {
    Caller(String),
    Error(String),
    ReaderGone,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(e.to_string())
    }
}

/// A failed write to stdout.
fn stdout_failed(e: std::io::Error) -> Failure {
    if super::reader_gone(&e) {
        Failure::ReaderGone
    } else {
        Failure::Error(format!("cannot write to stdout: {e}"))
    }
}

/// How many runs a page of the prefix search reads.
const SEARCH_PAGE: usize = 1000;

#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// The newest runs first: id, workflow, status, when.
    List(ListArgs),
    /// One run, named by its id or a unique start of it: its steps,
    /// attempts, outputs, errors and compensations.
    Show(ShowArgs),
    /// Retry a run that did not succeed: failed compensations again, or
    /// a new run with the same input. Runs it here, to its end.
    Retry(super::retry::RetryArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub state: ReadStateArgs,
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
    /// The run's id, or enough of its start to tell it from the others.
    pub run_id: String,
    #[command(flatten)]
    pub state: ReadStateArgs,
    /// The run's report and every event, as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: RunsCommand) -> ExitCode {
    // A retry writes to the journal and runs: it opens it on its own.
    if let RunsCommand::Retry(args) = command {
        return super::retry::run(args);
    }
    let state = match &command {
        RunsCommand::List(args) => &args.state,
        RunsCommand::Show(args) => &args.state,
        RunsCommand::Retry(_) => unreachable!("a retry returned above"),
    };
    let (spec, runtime) = match journal_named(state.spec_or_exit()) {
        Ok(named) => named,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let journal = journal::open_read_only(&spec).await?;
        match command {
            RunsCommand::List(args) => list(journal.as_ref(), &args).await,
            RunsCommand::Show(args) => {
                let run = find(journal.as_ref(), &args.run_id).await?;
                show(&run, args.json)
            }
            RunsCommand::Retry(_) => unreachable!("a retry returned above"),
        }
    });
    exit_with(result, |()| ExitCode::from(EXIT_OK))
}

/// The journal the flags name (one must be), and a runtime to reach it.
pub(super) fn journal_named(
    spec: Result<Option<StateSpec>, ExitCode>,
) -> Result<(StateSpec, tokio::runtime::Runtime), ExitCode> {
    let spec = match spec? {
        Some(spec) => spec,
        None => {
            say::error("name the journal with --state-dir DIR or --state URL");
            return Err(ExitCode::from(EXIT_INVALID));
        }
    };
    Ok((spec, super::async_runtime()?))
}

/// The exit status of a command's result, `ok` printing a success: the
/// caller's mistake is 2, Maestro's own 5, a reader gone away 0.
pub(super) fn exit_with<T>(result: Result<T, Failure>, ok: impl FnOnce(T) -> ExitCode) -> ExitCode {
    match result {
        Ok(value) => ok(value),
        Err(Failure::ReaderGone) => ExitCode::from(EXIT_OK),
        Err(Failure::Caller(message)) => {
            say::error(&message);
            ExitCode::from(EXIT_INVALID)
        }
        Err(Failure::Error(message)) => {
            say::error(&message);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// One page of runs, newest first, one line each (or JSON); the cursor of
/// the next page on stderr.
async fn list(journal: &dyn Journal, args: &ListArgs) -> Result<(), Failure> {
    let after = match &args.cursor {
        Some(text) => Some(Cursor::decode(text).map_err(|e| Failure::Caller(e.to_string()))?),
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
        writeln!(out, "{line}").map_err(stdout_failed)?;
    }
    if let Some(Some(next)) = next {
        say::info(&format!(
            "more runs: pass --cursor {next} for the next page"
        ));
    }
    Ok(())
}

/// The run whose id is `given`, or the one run whose id starts with it.
pub(super) async fn find(journal: &dyn Journal, given: &str) -> Result<StoredRun, Failure> {
    if let Some(run) = journal.load(given).await? {
        return Ok(run);
    }
    let mut matches = Vec::new();
    let mut after = None;
    if !given.is_empty() {
        loop {
            let query = RunQuery {
                limit: SEARCH_PAGE,
                after,
                ..RunQuery::default()
            };
            let page = journal.list(query).await?;
            let found = page.iter().filter(|r| r.run_id.starts_with(given));
            matches.extend(found.map(|r| r.run_id.clone()));
            if matches.len() > 1 || page.len() < SEARCH_PAGE {
                break;
            }
            after = page.last().map(|r| r.cursor());
        }
    }
    let given = escape::line(given);
    match matches.as_slice() {
        [] => Err(Failure::Caller(format!(
            "no run {given} in {}",
            journal.describe()
        ))),
        [one] => journal
            .load(one)
            .await?
            .ok_or_else(|| Failure::Error(format!("run {one} went away while read"))),
        [a, b, ..] => Err(Failure::Caller(format!(
            "{given} starts more than one run id ({a}, {b}): give more of it"
        ))),
    }
}

fn show(run: &StoredRun, as_json: bool) -> Result<(), Failure> {
    let definition = &run.definition;
    let env = |name: &str| std::env::var(name).ok();
    let workflow = workflow::load_str(&definition.text, &definition.path, &env)
        .map_err(|e| Failure::Error(format!("the run's definition no longer loads:\n{e}")))?;
    let mut report = RunReport::from_events(&workflow, &run.events, None);
    report.run_id = run.run_id.clone();
    let mut out = std::io::stdout().lock();
    if as_json {
        let body = json!({ "run": report, "input": run.input, "events": run.events });
        serde_json::to_writer_pretty(&mut out, &body).map_err(|e| stdout_failed(e.into()))?;
        return writeln!(out).map_err(stdout_failed);
    }
    writeln!(
        out,
        "run {}  workflow {}  status {}  started {}",
        run.run_id,
        workflow.name,
        report.status.label(),
        humantime::format_rfc3339_millis(run.created_at)
    )
    .map_err(stdout_failed)?;
    let mut timeline = Timeline::new(&workflow);
    for recorded in &run.events {
        if let Some(line) = timeline.line(recorded) {
            writeln!(out, "{line}").map_err(stdout_failed)?;
        }
        if let RunEvent::StepCompleted { output, .. } = &recorded.event {
            let output = escape::line(&output.to_string()).into_owned();
            writeln!(out, "    output: {output}").map_err(stdout_failed)?;
        }
    }
    if report.status.is_final() && report.status != crate::runtime::RunStatus::Succeeded {
        write_failure_summary(&mut out, &report).map_err(stdout_failed)?;
    }
    if let Some(output) = &report.output {
        writeln!(out, "output: {}", escape::line(&output.to_string())).map_err(stdout_failed)?;
    }
    out.flush().map_err(stdout_failed)
}
