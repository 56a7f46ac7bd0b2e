//! Full sync without holding the writer. Commits are written with SQLite's
//! `synchronous = NORMAL` (no sync of their own); a thread syncs the WAL,
//! which makes every commit written before the sync began durable, and only
//! then acknowledges them. Meanwhile the writer commits the next group, so
//! one sync carries all that was committed during the previous one.

use std::fs::File;
use std::path::Path;
use std::sync::mpsc;

use tokio::sync::oneshot;
use tracing::error;

use crate::journal::JournalError;

/// A write's sender and what its commit gave.
pub(super) type Outcome = (
    oneshot::Sender<Result<(), JournalError>>,
    Result<(), JournalError>,
);

/// Where the writer hands the outcomes of a group.
pub(super) enum Acks {
    /// Told at once: the commit is as durable as it will be.
    Now,
    /// Told once the WAL is synced, in the order committed.
    AfterSync(mpsc::Sender<Vec<Outcome>>),
}

impl Acks {
    /// A thread syncing the WAL at `wal` (it exists once the schema is
    /// written); the thread ends with the writer.
    pub fn after_sync(wal: &Path) -> std::io::Result<Acks> {
        let file = File::open(wal)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("maestro-sync".into())
            .spawn(move || sync_loop(&file, &rx))?;
        Ok(Acks::AfterSync(tx))
    }

    pub fn deliver(&self, outcomes: Vec<Outcome>) {
        match self {
            Acks::Now => tell(outcomes, None),
            Acks::AfterSync(syncer) => {
                if let Err(mpsc::SendError(outcomes)) = syncer.send(outcomes) {
                    let gone = JournalError::Write("the journal's sync thread is gone".into());
                    tell(outcomes, Some(&gone));
                }
            }
        }
    }
}

/// Tell each sender its outcome, a write that succeeded getting `failed`
/// instead when there is one.
fn tell(outcomes: Vec<Outcome>, failed: Option<&JournalError>) {
    for (tx, result) in outcomes {
        let result = match (result, failed) {
            (Ok(()), Some(e)) => Err(e.clone()),
            (result, _) => result,
        };
        let _ = tx.send(result);
    }
}

fn sync_loop(wal: &File, groups: &mpsc::Receiver<Vec<Outcome>>) {
    // Once a sync failed, the kernel may have dropped the pages it could
    // not write: a later sync that succeeds proves nothing of them, so no
    // write is acknowledged any more.
    let mut broken: Option<JournalError> = None;
    while let Ok(mut outcomes) = groups.recv() {
        while let Ok(more) = groups.try_recv() {
            outcomes.extend(more);
        }
        if broken.is_none()
            && let Err(e) = wal.sync_data()
        {
            error!(error = %e, "the journal could not be synced; no write is acknowledged from now on");
            broken = Some(JournalError::Write(format!(
                "the journal could not be synced ({e}); restart to recover what is on disk"
            )));
        }
        tell(outcomes, broken.as_ref());
    }
}
