//! The SQLite journal's writer thread: queued writes committed in groups,
//! so concurrent runs share each sync. A write nobody waits for (its `Ack`
//! dropped) waits a little for one somebody does, and goes in its commit.

use std::collections::HashSet;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, params};
use tokio::sync::mpsc;
use tracing::{debug, error};

use crate::run::RunStatus;

use super::super::{JournalError, MAX_GROUP, Queued, Waiters, Write, group, timestamp};

/// The longest a write nobody waits for is held back, waiting for a write
/// somebody does to share its commit: a step's completion is held until
/// the next call's announcement, a run's last events until its end. A
/// kill -9 meanwhile loses it, as it would have lost it in the commit; the
/// run then calls again with the same idempotency key.
pub const HOLD_AT_MOST: Duration = Duration::from_millis(2);

/// Take what is queued; commit at once when somebody waits for a write of
/// the group, else hold it for up to [`HOLD_AT_MOST`].
pub(super) fn write_loop(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Queued>) {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut held: Vec<Queued> = Vec::new();
    let mut since = Instant::now();
    let mut refused = Refused::default();
    loop {
        let next = if held.is_empty() {
            rx.blocking_recv()
        } else {
            match recv_until(&mut rx, since + HOLD_AT_MOST, &mut cx) {
                Some(next) => next,
                None => {
                    commit_group(&mut conn, std::mem::take(&mut held), &mut refused);
                    continue;
                }
            }
        };
        let Some(first) = next else { break };
        if held.is_empty() {
            since = Instant::now();
        }
        held.extend(group(first, &mut rx));
        if awaited(&held) || held.len() >= MAX_GROUP {
            commit_group(&mut conn, std::mem::take(&mut held), &mut refused);
        }
    }
    // The queue is closed: nothing more will come to share the commit.
    if !held.is_empty() {
        commit_group(&mut conn, held, &mut refused);
    }
}

/// Whether somebody waits for one of these writes to be durable.
fn awaited(writes: &[Queued]) -> bool {
    writes.iter().any(|(_, tx)| !tx.is_closed())
}

/// Wakes the writer thread when the queue has something for it.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The next write, or `None` once `deadline` has passed (`Some(None)`:
/// the queue is closed).
fn recv_until(
    rx: &mut mpsc::UnboundedReceiver<Queued>,
    deadline: Instant,
    cx: &mut Context<'_>,
) -> Option<Option<Queued>> {
    loop {
        if let Poll::Ready(next) = rx.poll_recv(cx) {
            return Some(next);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        // Woken by the waker above, or at the deadline; a spurious wake
        // only polls again.
        std::thread::park_timeout(deadline - now);
    }
}

/// Runs whose beginning could not be written: their events are refused, so
/// that no event stands without its run (a server starts a run as its
/// beginning is queued, and the run's calls wait on its events).
#[derive(Default)]
struct Refused(HashSet<Arc<str>>);

/// Refused runs remembered at most; past it, the oldest are forgotten
/// wholesale (a run is refused only when the disk fails).
const REFUSED_KEPT: usize = 10_000;

impl Refused {
    fn add(&mut self, run_id: &Arc<str>) {
        if self.0.len() >= REFUSED_KEPT {
            self.0.clear();
        }
        self.0.insert(run_id.clone());
    }

    /// Fail at once the writes of refused runs; the others are left.
    fn sift(&self, group: Vec<Queued>) -> Vec<Queued> {
        if self.0.is_empty() {
            return group;
        }
        let (refused, kept): (Vec<Queued>, Vec<Queued>) = group
            .into_iter()
            .partition(|(write, _)| self.0.contains(write.run_id()));
        for (write, tx) in refused {
            let _ = tx.send(Err(not_journaled(write.run_id())));
        }
        kept
    }
}

fn not_journaled(run_id: &str) -> JournalError {
    JournalError::Write(format!(
        "run {run_id} was not journaled: its beginning was refused"
    ))
}

/// Whether the run has its row (read on the failure path only).
fn exists(conn: &Connection, run_id: &str) -> bool {
    conn.query_row("SELECT 1 FROM runs WHERE run_id = ?1", [run_id], |_| Ok(()))
        .is_ok()
}

/// Commit a group in one transaction and acknowledge its writes together.
fn commit_group(conn: &mut Connection, group: Vec<Queued>, refused: &mut Refused) {
    let group = refused.sift(group);
    if group.is_empty() {
        return;
    }
    let writes: Vec<&Write> = group.iter().map(|(w, _)| w).collect();
    match commit(conn, &writes) {
        Ok(()) => {
            debug!(writes = group.len(), "journal group committed");
            let mut waiters = Waiters::default();
            group.into_iter().for_each(|(_, tx)| waiters.push(tx));
            waiters.resolve(&Ok(()));
        }
        // One bad write must not fail its neighbours: commit each alone.
        Err(_) => {
            for (write, tx) in group {
                let result = match refused.0.contains(write.run_id()) {
                    true => Err(not_journaled(write.run_id())),
                    false => commit(conn, &[&write]),
                };
                if let Err(e) = &result {
                    error!(error = %e, "journal write failed");
                    // Not a second beginning of a run that exists.
                    if let Write::Begin(run) = &write
                        && !exists(conn, &run.run_id)
                    {
                        refused.add(&run.run_id);
                    }
                }
                let _ = tx.send(result);
            }
        }
    }
}

fn commit(conn: &mut Connection, writes: &[&Write]) -> Result<(), JournalError> {
    let write_error = |e: rusqlite::Error| JournalError::Write(e.to_string());
    let tx = conn.transaction().map_err(write_error)?;
    for write in writes {
        apply(&tx, write).map_err(write_error)?;
    }
    tx.commit().map_err(write_error)
}

fn apply(tx: &rusqlite::Transaction<'_>, write: &Write) -> rusqlite::Result<()> {
    match write {
        Write::Begin(run) => {
            let d = &run.definition;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO definitions (hash, name, path, text) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![d.hash, d.name, d.path, &*d.text])?;
            tx.prepare_cached(
                "INSERT INTO runs (run_id, workflow, definition, input, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                &*run.run_id,
                d.name,
                d.hash,
                run.input.to_string(),
                timestamp(run.created_at)
            ])?;
        }
        Write::Event {
            run_id,
            seq,
            at,
            kind,
            body,
            finished,
            ..
        } => {
            tx.prepare_cached(
                "INSERT INTO events (run_id, seq, at, kind, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![&**run_id, *seq as i64, timestamp(*at), kind, body])?;
            if let Some(status) = finished {
                set_finished(tx, run_id, *status, *at)?;
            }
        }
    }
    Ok(())
}

fn set_finished(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    status: RunStatus,
    at: SystemTime,
) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE runs SET status = ?2, finished_at = ?3 WHERE run_id = ?1")?
        .execute(params![run_id, status.label(), timestamp(at)])?;
    Ok(())
}
