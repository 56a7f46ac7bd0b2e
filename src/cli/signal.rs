//! `maestro signal RUN_ID NAME`: post a signal for a run's `wait` steps to
//! the journal the run is in; the process driving the run takes it up.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::escape;
use crate::journal::{self, PostedSignal};
use crate::runtime::inbox::INBOX_POLL;
use crate::workflow::is_signal_name;

use super::runs::{Failure, exit_with, find, journal_named};
use super::state::ReadStateArgs;
use super::{EXIT_OK, say};

#[derive(Debug, clap::Args)]
pub struct SignalArgs {
    /// The run's id, or enough of its start to tell it from the others.
    pub run_id: String,
    /// The signal's name, as the `wait` step names it.
    pub name: String,
    /// The payload, as JSON: the `output` of the step that takes it (null
    /// without it).
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,
    /// The same key posted again to the same run and name is the same
    /// signal, taken once.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    #[command(flatten)]
    pub state: ReadStateArgs,
}

pub fn run(args: SignalArgs) -> ExitCode {
    let (spec, runtime) = match journal_named(args.state.spec_or_exit()) {
        Ok(named) => named,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let signal = signal_of(&args)?;
        let journal = journal::open_read_only(&spec).await?;
        let run = find(journal.as_ref(), &args.run_id).await?;
        if run.status.is_final() {
            return Err(Failure::Caller(format!(
                "run {} has finished ({}): no wait will take the signal",
                run.run_id,
                run.status.label()
            )));
        }
        let signal = PostedSignal {
            run_id: run.run_id,
            ..signal
        };
        journal.post_signal(signal.clone()).await?;
        Ok(signal)
    });
    exit_with(result, |signal| {
        let within = humantime::format_duration(INBOX_POLL);
        say::info(&format!(
            "signal `{}` posted for run {}: the process driving it takes it within {within}",
            signal.name, signal.run_id
        ));
        let answer = json!({"run_id": signal.run_id, "signal": signal.name, "id": signal.id});
        super::print(&format!("{answer}\n"));
        ExitCode::from(EXIT_OK)
    })
}

/// The signal the flags describe, its run not looked up yet.
fn signal_of(args: &SignalArgs) -> Result<PostedSignal, Failure> {
    if !is_signal_name(&args.name) {
        return Err(Failure::Caller(format!(
            "signal name {} is not 1 to 128 letters, digits, `_`, `-` and `.`",
            escape::line(&args.name)
        )));
    }
    let payload = match &args.payload {
        None => Value::Null,
        Some(text) => crate::server::json::parse(text.as_bytes(), "--payload")
            .map_err(|e| Failure::Caller(format!("--payload: {e}")))?,
    };
    let id = match &args.idempotency_key {
        Some(key) => format!("{}:{key}", args.name),
        None => uuid::Uuid::now_v7().to_string(),
    };
    Ok(PostedSignal {
        run_id: String::new(),
        name: args.name.clone(),
        id,
        payload,
    })
}
