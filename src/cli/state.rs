//! Flags naming where runs are journaled, shared by `execute`, `serve` and
//! `runs`: a state directory (SQLite) or a PostgreSQL URL.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::journal::{StateSpec, SyncMode};

use super::EXIT_INVALID;

#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Journal runs in DIR (SQLite, `DIR/runs.db`), so they survive a crash
    /// or restart; unfinished runs resume at start.
    #[arg(long, value_name = "DIR", conflicts_with = "state")]
    pub state_dir: Option<PathBuf>,
    /// Journal runs in PostgreSQL (`postgres://user:pass@host/db`); several
    /// servers may share it and take over each other's runs.
    #[arg(
        long,
        value_name = "URL",
        env = "MAESTRO_STATE",
        hide_env_values = true
    )]
    pub state: Option<String>,
    /// With --state: how long this process's claim on a run lasts without
    /// renewal; a run whose owner died is taken over after this. A process
    /// sends no call for a run once three quarters of it passed unrenewed.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease: Duration,
    /// With --state-dir: `full` syncs every commit to disk (survives a power
    /// cut); `normal` leaves it to the OS (survives a crash of the process).
    #[arg(long, value_enum, default_value_t = SyncMode::Full)]
    pub sync: SyncMode,
}

impl StateArgs {
    /// [`StateArgs::spec`], with a bad flag reported on stderr.
    pub fn spec_or_exit(&self) -> Result<Option<StateSpec>, ExitCode> {
        self.spec().map_err(|message| {
            super::say::error(&message);
            ExitCode::from(EXIT_INVALID)
        })
    }

    /// The journal named, if any; an error for a URL that is not PostgreSQL's.
    pub fn spec(&self) -> Result<Option<StateSpec>, String> {
        match (&self.state_dir, &self.state) {
            (Some(dir), _) => Ok(Some(StateSpec::Dir {
                path: dir.clone(),
                sync: self.sync,
            })),
            (None, Some(url))
                if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
            {
                Ok(Some(StateSpec::Postgres {
                    url: url.clone(),
                    lease: self.lease,
                }))
            }
            (None, Some(_)) => Err(
                "--state takes a postgres:// URL; use --state-dir DIR for a local journal".into(),
            ),
            (None, None) => Ok(None),
        }
    }
}

// The journal to read, for `runs`: where it is, without the flags that
// only matter to a writer. Not a doc comment: clap would take it as the
// `about` of the (deferred) subcommand that flattens it.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadStateArgs {
    /// The state directory runs were journaled in.
    #[arg(long, value_name = "DIR", conflicts_with = "state")]
    pub state_dir: Option<PathBuf>,
    /// The PostgreSQL journal (`postgres://user:pass@host/db`).
    #[arg(
        long,
        value_name = "URL",
        env = "MAESTRO_STATE",
        hide_env_values = true
    )]
    pub state: Option<String>,
}

impl ReadStateArgs {
    pub fn spec_or_exit(&self) -> Result<Option<StateSpec>, ExitCode> {
        StateArgs {
            state_dir: self.state_dir.clone(),
            state: self.state.clone(),
            // A reader takes no claim and writes nothing: unused.
            lease: Duration::from_secs(15),
            sync: SyncMode::Full,
        }
        .spec_or_exit()
    }
}
