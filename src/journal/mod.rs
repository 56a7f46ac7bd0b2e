//! Durable runs: a journal keeps each run's definition and its events, so a
//! run survives a crash or a restart and resumes where it stood. One small
//! trait, two backends: SQLite in a state directory, PostgreSQL shared by
//! several `maestro serve` replicas that own runs through leases.

mod ack;
pub mod inbox;
mod lease;
mod page;
pub mod postgres;
mod private;
mod rows;
pub mod sqlite;
mod ticks;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::ErrorClass;
use crate::run::{Recorded, RunStatus};
use crate::workflow::Workflow;

pub use ack::Ack;
pub(crate) use ack::{MAX_GROUP, Queued, Waiters, WriteQueue, group};
pub use inbox::{Posted, PostedSignal};
pub use lease::{Epoch, LeaseClock, MARGIN_DIVISOR};
pub use page::{Cursor, MAX_CURSOR_CHARS, RunQuery};
pub use rows::{Definition, NewRun, RunRow, StoredRun, Write};
pub use ticks::{LastTick, ScheduleKey, TickClaim};

/// How long finished runs are kept before they are pruned, unless told.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the journal could not do what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal at {place}: {message}")]
    Open { place: String, message: String },
    #[error(
        "{path} is in use by another maestro process; a state directory has one owner at a time"
    )]
    Locked { path: PathBuf },
    #[error("journal write failed: {0}")]
    Write(String),
    #[error("journal read failed: {0}")]
    Read(String),
    /// A listing's cursor that no page gave: the caller's mistake.
    #[error("invalid cursor: {0}; pass the `next_cursor` of an earlier page as it was given")]
    BadCursor(String),
    #[error("the journal has shut down")]
    Closed,
    /// The database took longer than `limit` to answer a statement; the
    /// connection was closed, and whether a write was committed is unknown.
    #[error(
        "the journal's database did not answer within {limit:?}; the connection is opened again"
    )]
    Unanswered { limit: std::time::Duration },
    #[error("run {run_id} is owned by another replica now (its lease expired)")]
    LeaseLost { run_id: String },
    #[error("the journal holds an event this version cannot read: {0}")]
    Corrupt(String),
}

impl JournalError {
    pub fn class(&self) -> ErrorClass {
        match self {
            JournalError::BadCursor(_) => ErrorClass::Invalid,
            JournalError::Write(_) | JournalError::Read(_) | JournalError::Unanswered { .. } => {
                ErrorClass::Transient
            }
            JournalError::Locked { .. } | JournalError::LeaseLost { .. } => ErrorClass::Conflict,
            JournalError::Open { .. } | JournalError::Closed | JournalError::Corrupt(_) => {
                ErrorClass::Internal
            }
        }
    }
}

/// Where runs are kept: a state directory (SQLite) or a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSpec {
    /// A state directory, and how hard each SQLite commit is synced.
    Dir { path: PathBuf, sync: SyncMode },
    /// A PostgreSQL URL, and how long this replica's claims last unrenewed.
    Postgres { url: String, lease: Duration },
}

/// How far a SQLite commit goes before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SyncMode {
    /// On disk (fsync) before acknowledged: survives a power cut.
    #[default]
    Full,
    /// Handed to the operating system before acknowledged: survives the
    /// process dying (a crash, `kill -9`), not the machine losing power.
    /// No fsync per commit, so each commit takes microseconds.
    Normal,
}

/// A journal of runs. Writes are queued in order and committed in groups;
/// each write's [`Ack`] resolves once it is durable, and a write is never
/// durable before one queued earlier.
pub trait Journal: Send + Sync + 'static {
    /// Queue a write. Cheap and synchronous, so callers can keep the order of
    /// their events by queueing under their own lock.
    fn write(&self, write: Write) -> Ack;

    /// Unfinished runs this process should resume now, claimed for it:
    /// every unfinished run of a state directory at start, or, on
    /// PostgreSQL, those whose owner's lease has expired.
    fn claim(&self) -> BoxFuture<'_, Result<Vec<StoredRun>, JournalError>>;

    /// One run with every event, or `None`.
    fn load(&self, run_id: &str) -> BoxFuture<'_, Result<Option<StoredRun>, JournalError>>;

    /// One page of runs, newest first (by creation time, then run id),
    /// after `query.after` when given: at most `query.limit` rows.
    fn list(&self, query: RunQuery) -> BoxFuture<'_, Result<Vec<RunRow>, JournalError>>;

    /// Delete runs that finished before `before`; returns how many.
    fn prune(&self, before: SystemTime) -> BoxFuture<'_, Result<u64, JournalError>>;

    /// Let go of `run_id` so another replica may claim it at once (a run
    /// this process stopped driving without finishing it).
    fn release(&self, run_id: &str) -> BoxFuture<'_, Result<(), JournalError>>;

    /// Whether this process still certainly holds `run_id` under the claim
    /// `epoch`, and so may call services for it. Always, for a state
    /// directory; on PostgreSQL, while the lease is held with a margin.
    fn holds(&self, _run_id: &str, _epoch: Epoch) -> bool {
        true
    }

    /// This process stops driving `run_id`, held under `epoch`, without
    /// ending it, because it no longer certainly holds it: forget the claim,
    /// and let the run go if the database still gives it to this process.
    fn abandon(&self, _run_id: &str, _epoch: Epoch) {}

    /// Take up `run_id` again if it ended `compensation_failed`, claimed for
    /// this process: the run reads `running` until it ends anew. `None`
    /// for a run that does not exist or did not end so.
    fn reopen(&self, run_id: &str) -> BoxFuture<'_, Result<Option<StoredRun>, JournalError>>;

    /// Post a signal for the process driving `signal.run_id` to take up:
    /// possible on a journal opened for reading only.
    fn post_signal(&self, signal: PostedSignal) -> BoxFuture<'_, Result<(), JournalError>>;

    /// Signals posted and not yet journaled with their runs, oldest first,
    /// at most [`inbox::INBOX_BATCH`].
    fn posted_signals(&self) -> BoxFuture<'_, Result<Vec<Posted>, JournalError>>;

    /// Signals now journaled with their runs: out of the inbox.
    fn signals_taken(&self, keys: Vec<String>) -> BoxFuture<'_, Result<(), JournalError>>;

    /// The latest tick any process claimed of `schedule`, if one did.
    fn last_tick(
        &self,
        schedule: &ScheduleKey,
    ) -> BoxFuture<'_, Result<Option<LastTick>, JournalError>>;

    /// Claim `tick` of `schedule` for this process: won by one claimant
    /// only, and never once a later tick was claimed.
    fn claim_tick(
        &self,
        schedule: &ScheduleKey,
        tick: SystemTime,
    ) -> BoxFuture<'_, Result<TickClaim, JournalError>>;

    /// Remember that `tick` of `schedule` started `run_id`, so the next
    /// tick's claimant, wherever it runs, can tell whether it goes on.
    fn record_tick_run(
        &self,
        schedule: &ScheduleKey,
        tick: SystemTime,
        run_id: &str,
    ) -> BoxFuture<'_, Result<(), JournalError>>;

    /// For logs: which backend, where.
    fn describe(&self) -> String;
}

/// Open the journal a user named.
pub async fn open(spec: &StateSpec) -> Result<Arc<dyn Journal>, JournalError> {
    Ok(match spec {
        StateSpec::Dir { path, sync } => Arc::new(sqlite::SqliteJournal::open(path, *sync)?),
        StateSpec::Postgres { url, lease } => {
            let config = postgres::LeaseConfig {
                ttl: *lease,
                ..postgres::LeaseConfig::default()
            };
            Arc::new(postgres::PostgresJournal::connect(url, config).await?)
        }
    })
}

/// Open a journal for reading only (`maestro runs`): no lock is taken, so a
/// running server may keep writing.
pub async fn open_read_only(spec: &StateSpec) -> Result<Arc<dyn Journal>, JournalError> {
    Ok(match spec {
        StateSpec::Dir { path, .. } => Arc::new(sqlite::SqliteJournal::open_read_only(path)?),
        StateSpec::Postgres { url, .. } => {
            Arc::new(postgres::PostgresJournal::connect_reader(url).await?)
        }
    })
}

impl Definition {
    /// What a run of `workflow` keeps of it: the text, where it came from,
    /// and the text's SHA-256 (one copy per distinct text).
    pub fn of(workflow: &Workflow) -> Self {
        let hash = Sha256::digest(workflow.text.as_bytes());
        Definition {
            hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
            name: workflow.name.clone(),
            path: workflow.source.display().to_string(),
            text: workflow.text.clone(),
        }
    }
}

impl StoredRun {
    /// Whether the journal says the run has ended.
    pub fn is_finished(&self) -> bool {
        self.status.is_final()
    }
}

/// Read a stored status label; an unknown label is corruption.
pub(crate) fn parse_status(label: &str) -> Result<RunStatus, JournalError> {
    RunStatus::from_label(label)
        .ok_or_else(|| JournalError::Corrupt(format!("unknown run status `{label}`")))
}

/// Read one stored event.
pub(crate) fn parse_event(body: &str) -> Result<Recorded, JournalError> {
    serde_json::from_str(body).map_err(|e| JournalError::Corrupt(e.to_string()))
}

/// Timestamps are stored as RFC 3339 text in UTC with milliseconds: a person
/// can read them with `sqlite3`, and they sort as text.
pub(crate) fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

pub(crate) fn parse_timestamp(text: &str) -> Result<SystemTime, JournalError> {
    humantime::parse_rfc3339(text).map_err(|e| JournalError::Corrupt(format!("{text}: {e}")))
}
