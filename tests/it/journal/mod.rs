//! Durable runs on SQLite: the journal itself (group commit, order, lock,
//! pruning), crash tests that `kill -9` a real `maestro serve` or
//! `maestro execute` mid-run and check that every run ends, once, and
//! what a stop and a restart do with queued runs and the listing.

mod crash;
mod listing;
mod modes;
mod retry;
mod shutdown;
mod sqlite;
mod wal;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh state directory, removed when dropped.
pub struct StateDir(PathBuf);

impl StateDir {
    pub fn new(tag: &str) -> StateDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "maestro-state-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        StateDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }

    /// The events run `run` journaled here, read while a server may hold
    /// the directory.
    pub async fn events(&self, run: &str) -> Vec<maestro::runtime::RunEvent> {
        use maestro::journal::Journal;
        let journal =
            maestro::journal::sqlite::SqliteJournal::open_read_only(&self.0).expect("journal");
        let stored = journal.load(run).await.expect("load").expect("the run");
        stored.events.into_iter().map(|r| r.event).collect()
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
