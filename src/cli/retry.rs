//! `maestro runs retry RUN_ID`: a run that ended `compensation_failed`
//! has its failed compensations tried again (same idempotency keys); a
//! `compensated`, `timed_out` or `cancelled` one starts again as a new run
//! with the same input, `retry_of` the first. Runs here, to its end.

use std::process::ExitCode;

use crate::journal::{self, Journal, StoredRun};
use crate::runtime::{RunOptions, RunReport, RunStatus, Runtime, RuntimeError};

use super::runs::{Failure, exit_with, find, journal_named};
use super::say;
use super::state::StateArgs;
use super::timeline::write_failure_summary;

#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// The run's id, or enough of its start to tell it from the others.
    pub run_id: String,
    #[command(flatten)]
    pub state: StateArgs,
}

pub fn run(args: RetryArgs) -> ExitCode {
    let (spec, runtime) = match journal_named(args.state.spec_or_exit()) {
        Ok(named) => named,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let journal = journal::open(&spec).await?;
        let stored = find(journal.as_ref(), &args.run_id).await?;
        let actors = Runtime::start(&[]).await?.with_journal(journal.clone());
        let report = retry(&actors, journal.as_ref(), stored).await;
        actors.shutdown().await;
        report
    });
    exit_with(result, |report| {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        super::print(&format!("{json}\n"));
        if report.status != RunStatus::Succeeded {
            let mut summary = Vec::new();
            let _ = write_failure_summary(&mut summary, &report);
            say::say(
                say::Level::Error,
                String::from_utf8_lossy(&summary).trim_end(),
            );
        }
        ExitCode::from(super::exit::for_status(report.status))
    })
}

/// Retry `stored` as its status allows, and wait for the end.
async fn retry(
    actors: &Runtime,
    journal: &dyn Journal,
    stored: StoredRun,
) -> Result<RunReport, Failure> {
    let id = stored.run_id.clone();
    let handle = match stored.status {
        RunStatus::CompensationFailed => {
            let Some(reopened) = journal.reopen(&id).await? else {
                return Err(Failure::Caller(format!(
                    "run {id} is no longer compensation_failed"
                )));
            };
            let bound = actors.bind_definition(&reopened.definition).await?;
            say::info(&format!(
                "run {id}: its failed compensations are tried again"
            ));
            actors.retry_compensations(&bound, reopened, None).await?
        }
        RunStatus::Compensated | RunStatus::TimedOut | RunStatus::Cancelled => {
            let bound = actors.bind_definition(&stored.definition).await?;
            let options = RunOptions {
                retry_of: Some(id.clone()),
                ..RunOptions::default()
            };
            let handle = actors.spawn_run(&bound, stored.input, options).await?;
            say::info(&format!(
                "run {} started again as run {}",
                id, handle.run_id
            ));
            handle
        }
        other => {
            return Err(Failure::Caller(format!(
                "run {id} is {}: only a compensated, timed-out, cancelled or \
                 compensation_failed run can be retried",
                other.label()
            )));
        }
    };
    handle.finished().await.map_err(|e: RuntimeError| e.into())
}
