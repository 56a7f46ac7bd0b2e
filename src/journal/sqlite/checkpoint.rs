//! Checkpoints on a thread of their own: the writer's commits only append
//! to the WAL, and copying the WAL back into the database (with its syncs)
//! no longer stalls the one commit that crossed SQLite's threshold.

use std::path::Path;
use std::sync::mpsc::{self, SyncSender, TrySendError};

use rusqlite::{Connection, OpenFlags};
use tracing::warn;

use super::{connect, open_error};
use crate::journal::JournalError;

/// WAL frames (pages) past which the checkpoint thread is asked to copy
/// them into the database: SQLite's own auto-checkpoint threshold.
const ASK_AT: i32 = 1000;
/// WAL frames past which the writer checkpoints itself, after its commit:
/// frames written while the thread copies are left for its next round, and
/// a writer that never pauses would otherwise grow the WAL without end.
/// The writer's own checkpoint completes, since it writes nothing meanwhile.
const FORCE_AT: i32 = 16 * ASK_AT;

/// Hand the checkpoints of `writer`'s database at `path` to a thread of
/// their own, replacing SQLite's auto-checkpoint; the thread ends with the
/// writer's connection.
pub(super) fn hand_off(writer: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let conn = connect(path, OpenFlags::default())?;
    // One request waiting is enough: the thread copies all there is.
    let (ask, asked) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("maestro-checkpoint".into())
        .spawn(move || {
            while asked.recv().is_ok() {
                let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                if let Err(e) = done {
                    warn!(error = %e, "journal checkpoint failed; the next one retries");
                }
            }
        })
        .map_err(|e| open_error(path, e))?;
    writer
        .wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, frames| {
            on_commit(&ask, wal, frames)
        }))
        .map_err(|e| open_error(path, e))
}

/// After each commit, with the WAL's length in frames.
fn on_commit(
    ask: &SyncSender<()>,
    wal: &mut rusqlite::hooks::Wal,
    frames: i32,
) -> rusqlite::Result<()> {
    if frames >= FORCE_AT {
        // Its failure is not the commit's, which is done.
        if let Err(e) = wal.checkpoint() {
            warn!(error = %e, frames, "journal checkpoint by the writer failed");
        }
    } else if frames >= ASK_AT {
        match ask.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                warn!("the journal's checkpoint thread is gone; the writer checkpoints");
                let _ = wal.checkpoint();
            }
        }
    }
    Ok(())
}
