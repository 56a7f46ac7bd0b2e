//! The SQLite journal: one file, `runs.db`, in a state directory, in WAL
//! mode with full sync. One writer thread commits queued writes in groups,
//! so concurrent runs share each sync; reads use their own connection.

mod list;
mod ticks;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{
    Ack, BoxFuture, Definition, Journal, JournalError, LastTick, Posted, PostedSignal, RunQuery,
    RunRow, ScheduleKey, StoredRun, SyncMode, TickClaim, Write, WriteQueue, parse_event,
    parse_status, parse_timestamp, timestamp,
};
use super::{inbox, private};

/// The journal's file inside the state directory.
pub const FILE_NAME: &str = "runs.db";
/// Held while a process writes the directory's journal.
const LOCK_NAME: &str = "maestro.lock";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS definitions (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    workflow    TEXT NOT NULL,
    definition  TEXT NOT NULL REFERENCES definitions(hash),
    status      TEXT NOT NULL DEFAULT 'running',
    input       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
-- A run's begin and end touch few index pages: the unfinished runs (read
-- at start) and the finished ones (pruned) are partial indexes, and the
-- whole-table ones of earlier versions go.
DROP INDEX IF EXISTS runs_by_status;
DROP INDEX IF EXISTS runs_by_finish;
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs(run_id) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS runs_finished ON runs(finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_creation ON runs(created_at, run_id);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    at     TEXT NOT NULL,
    kind   TEXT NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
";

pub struct SqliteJournal {
    path: PathBuf,
    writes: WriteQueue,
    reader: Arc<Mutex<Connection>>,
    /// A state directory's unfinished runs are claimed once, at start.
    claimed: AtomicBool,
    /// Holds the directory's lock for as long as the journal lives.
    _lock: Option<File>,
}

fn open_error(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError::Open {
        place: path.display().to_string(),
        message: e.to_string(),
    }
}

fn read_error(e: rusqlite::Error) -> JournalError {
    JournalError::Read(e.to_string())
}

fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, JournalError> {
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| open_error(path, e))?;
    Ok(conn)
}

impl SqliteJournal {
    /// Open (creating if need be) the journal in `dir`, and lock the
    /// directory against a second writer.
    pub fn open(dir: &Path, sync: SyncMode) -> Result<Self, JournalError> {
        private::create_dir(dir).map_err(|e| open_error(dir, e))?;
        let lock = private::open(&dir.join(LOCK_NAME)).map_err(|e| open_error(dir, e))?;
        lock.try_lock().map_err(|_| JournalError::Locked {
            path: dir.to_path_buf(),
        })?;
        let path = dir.join(FILE_NAME);
        // SQLite gives its -wal and -shm files the mode of the database
        // file, so that one is made 0600 before SQLite opens it.
        private::open(&path).map_err(|e| open_error(&path, e))?;
        for suffix in ["-wal", "-shm"] {
            let side = dir.join(format!("{FILE_NAME}{suffix}"));
            private::tighten(&side).map_err(|e| open_error(&side, e))?;
        }
        let writer = connect(&path, OpenFlags::default())?;
        // WAL: readers never block the writer. FULL: a commit is on disk
        // before its writes are acknowledged, even across a power cut.
        let sync = match sync {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        };
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync};"
            ))
            .and_then(|()| writer.execute_batch(SCHEMA))
            .and_then(|()| writer.execute_batch(ticks::SCHEMA))
            .map_err(|e| open_error(&path, e))?;
        let reader = connect(&path, OpenFlags::default())?;
        let (writes, rx) = WriteQueue::new();
        std::thread::Builder::new()
            .name("maestro-journal".into())
            .spawn(move || writer::write_loop(writer, rx))
            .map_err(|e| open_error(&path, e))?;
        Ok(Self {
            path,
            writes,
            reader: Arc::new(Mutex::new(reader)),
            claimed: AtomicBool::new(false),
            _lock: Some(lock),
        })
    }

    /// Open an existing journal to read it while its owner may be writing.
    pub fn open_read_only(dir: &Path) -> Result<Self, JournalError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Err(open_error(dir, "no journal here (runs.db is missing)"));
        }
        let reader = connect(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        Ok(Self {
            path,
            writes: WriteQueue::read_only(),
            reader: Arc::new(Mutex::new(reader)),
            claimed: AtomicBool::new(true),
            _lock: None,
        })
    }

    /// Run `f` on the reader connection, off the async threads.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, JournalError>> {
        let reader = self.reader.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
                f(&conn)
            })
            .await
            .map_err(|e| JournalError::Read(e.to_string()))?
        })
    }
}

impl Journal for SqliteJournal {
    fn write(&self, write: Write) -> Ack {
        self.writes.push(write)
    }

    fn claim(&self) -> BoxFuture<'_, Result<Vec<StoredRun>, JournalError>> {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return Box::pin(async { Ok(Vec::new()) });
        }
        self.read(|conn| {
            let ids: Vec<String> = conn
                .prepare("SELECT run_id FROM runs WHERE status = 'running' ORDER BY run_id")
                .and_then(|mut stmt| {
                    stmt.query_map([], |row| row.get(0))?
                        .collect::<Result<_, _>>()
                })
                .map_err(read_error)?;
            ids.iter()
                .filter_map(|id| load_run(conn, id).transpose())
                .collect()
        })
    }

    fn load(&self, run_id: &str) -> BoxFuture<'_, Result<Option<StoredRun>, JournalError>> {
        let run_id = run_id.to_string();
        self.read(move |conn| load_run(conn, &run_id))
    }

    fn list(&self, query: RunQuery) -> BoxFuture<'_, Result<Vec<RunRow>, JournalError>> {
        self.read(move |conn| list::list_runs(conn, &query))
    }

    fn prune(&self, before: SystemTime) -> BoxFuture<'_, Result<u64, JournalError>> {
        let before = timestamp(before);
        self.read(move |conn| {
            let prune = |conn: &Connection| -> rusqlite::Result<u64> {
                let tx = conn.unchecked_transaction()?;
                tx.execute(
                    "DELETE FROM events WHERE run_id IN
                     (SELECT run_id FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?1)",
                    [&before],
                )?;
                let runs = tx.execute(
                    "DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?1",
                    [&before],
                )?;
                tx.execute(
                    "DELETE FROM definitions WHERE hash NOT IN (SELECT definition FROM runs)",
                    [],
                )?;
                tx.commit()?;
                Ok(runs as u64)
            };
            prune(conn).map_err(|e| JournalError::Write(e.to_string()))
        })
    }

    fn release(&self, _run_id: &str) -> BoxFuture<'_, Result<(), JournalError>> {
        // One process owns a state directory: nobody else could take over.
        Box::pin(async { Ok(()) })
    }

    fn reopen(&self, run_id: &str) -> BoxFuture<'_, Result<Option<StoredRun>, JournalError>> {
        let run_id = run_id.to_string();
        self.read(move |conn| {
            let reopened = conn
                .execute(
                    "UPDATE runs SET status = 'running', finished_at = NULL
                     WHERE run_id = ?1 AND status = 'compensation_failed'",
                    [&run_id],
                )
                .map_err(|e| JournalError::Write(e.to_string()))?;
            match reopened {
                0 => Ok(None),
                _ => load_run(conn, &run_id),
            }
        })
    }

    fn post_signal(&self, signal: PostedSignal) -> BoxFuture<'_, Result<(), JournalError>> {
        let dir = self.dir();
        Box::pin(blocking(move || inbox::post_file(&dir, &signal)))
    }

    fn posted_signals(&self) -> BoxFuture<'_, Result<Vec<Posted>, JournalError>> {
        let dir = self.dir();
        Box::pin(blocking(move || inbox::read_files(&dir)))
    }

    fn signals_taken(&self, keys: Vec<String>) -> BoxFuture<'_, Result<(), JournalError>> {
        let dir = self.dir();
        Box::pin(blocking(move || inbox::remove_files(&dir, &keys)))
    }

    fn last_tick(
        &self,
        schedule: &ScheduleKey,
    ) -> BoxFuture<'_, Result<Option<LastTick>, JournalError>> {
        let schedule = schedule.clone();
        self.read(move |conn| ticks::last(conn, &schedule))
    }

    fn claim_tick(
        &self,
        schedule: &ScheduleKey,
        tick: SystemTime,
    ) -> BoxFuture<'_, Result<TickClaim, JournalError>> {
        let schedule = schedule.clone();
        self.read(move |conn| ticks::claim(conn, &schedule, tick))
    }

    fn record_tick_run(
        &self,
        schedule: &ScheduleKey,
        tick: SystemTime,
        run_id: &str,
    ) -> BoxFuture<'_, Result<(), JournalError>> {
        let (schedule, run_id) = (schedule.clone(), run_id.to_string());
        self.read(move |conn| ticks::record_run(conn, &schedule, tick, &run_id))
    }

    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }
}

impl SqliteJournal {
    /// The state directory: where runs.db is.
    fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// File work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JournalError> + Send + 'static,
) -> Result<T, JournalError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| JournalError::Read(e.to_string()))?
}

fn load_run(conn: &Connection, run_id: &str) -> Result<Option<StoredRun>, JournalError> {
    let row = conn
        .query_row(
            "SELECT r.status, r.created_at, d.hash, d.name, d.path, d.text, r.input
             FROM runs r JOIN definitions d ON d.hash = r.definition WHERE r.run_id = ?1",
            [run_id],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    Definition {
                        hash: row.get(2)?,
                        name: row.get(3)?,
                        path: row.get(4)?,
                        text: row.get::<_, String>(5)?.into(),
                    },
                    row.get::<_, String>(6)?,
                ))
            },
        )
        .optional()
        .map_err(read_error)?;
    let Some((status, created_at, definition, input)) = row else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached("SELECT body FROM events WHERE run_id = ?1 ORDER BY seq")
        .map_err(read_error)?;
    let bodies = stmt
        .query_map([run_id], |row| row.get::<_, String>(0))
        .map_err(read_error)?;
    let mut events = Vec::new();
    for body in bodies {
        events.push(parse_event(&body.map_err(read_error)?)?);
    }
    Ok(Some(StoredRun {
        run_id: run_id.to_string(),
        definition,
        status: parse_status(&status)?,
        created_at: parse_timestamp(&created_at)?,
        input: serde_json::from_str(&input).map_err(|e| JournalError::Corrupt(e.to_string()))?,
        events,
        // One process per directory: nothing to fence.
        epoch: 0,
    }))
}
