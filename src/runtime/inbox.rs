//! Signals posted to the journal by another process (`maestro signal`)
//! reach the runs this process drives: one task looks at the journal's
//! inbox, hands each signal to its run's actor, and takes it out once the
//! run has journaled it. A signal for a run that has ended is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, warn};

use crate::journal::{Journal, Posted};

use super::handle::{RunCanceller, Signal};
use super::{RuntimeError, lock};

/// How often the inbox is looked at: the most a posted signal waits.
pub const INBOX_POLL: Duration = Duration::from_millis(250);
/// How long a signal for a run not driven here waits before the journal is
/// asked again whether that run has ended.
const RECHECK: Duration = Duration::from_secs(10);

/// Runs that may take signals, by id.
#[derive(Default)]
pub(super) struct Inbox {
    live: Arc<Mutex<HashMap<String, RunCanceller>>>,
    started: std::sync::atomic::AtomicBool,
}

impl Inbox {
    /// Let `run` take posted signals; the task that delivers them starts
    /// with the first such run.
    pub(super) fn register(&self, journal: &Arc<dyn Journal>, run: &str, canceller: RunCanceller) {
        lock(&self.live).insert(run.to_owned(), canceller);
        if !self.started.swap(true, std::sync::atomic::Ordering::AcqRel) {
            let (journal, live) = (journal.clone(), Arc::downgrade(&self.live));
            tokio::spawn(poll(journal, live));
        }
    }
}

/// Until the runtime is dropped: deliver what is posted, every
/// [`INBOX_POLL`].
async fn poll(journal: Arc<dyn Journal>, live: Weak<Mutex<HashMap<String, RunCanceller>>>) {
    let mut parked: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::time::sleep(INBOX_POLL).await;
        let Some(live) = live.upgrade() else { return };
        lock(&live).retain(|_, run| run.is_alive());
        let posted = match journal.posted_signals().await {
            Ok(posted) => posted,
            Err(e) => {
                warn!(error = %e, "the signal inbox could not be read");
                continue;
            }
        };
        let mut taken = Vec::new();
        for Posted { key, signal } in posted {
            let run = lock(&live).get(&signal.run_id).cloned();
            let delivered = match run {
                Some(run) => deliver(&run, &key, signal).await,
                None => ended(&*journal, &key, &signal.run_id, &mut parked).await,
            };
            if delivered {
                taken.push(key);
            }
        }
        if !taken.is_empty()
            && let Err(e) = journal.signals_taken(taken).await
        {
            warn!(error = %e, "signals journaled with their runs stay in the inbox");
        }
    }
}

/// Hand a signal to its run; true once the run journaled it, or ended.
async fn deliver(run: &RunCanceller, key: &str, posted: crate::journal::PostedSignal) -> bool {
    let run_id = posted.run_id;
    let signal = Signal {
        name: posted.name,
        id: posted.id,
        payload: posted.payload,
    };
    match run.signal(signal).await {
        Ok(()) => {
            debug!(run = %run_id, signal = %key, "posted signal taken");
            true
        }
        Err(RuntimeError::Lost) => true,
        Err(e) => {
            warn!(run = %run_id, error = %e, "a posted signal could not be journaled");
            false
        }
    }
}

/// A signal for a run not driven here: dropped if the journal says the run
/// has ended or does not exist; else kept for whoever resumes it.
async fn ended(
    journal: &dyn Journal,
    key: &str,
    run_id: &str,
    parked: &mut HashMap<String, Instant>,
) -> bool {
    let now = Instant::now();
    if parked.get(key).is_some_and(|until| *until > now) {
        return false;
    }
    match journal.load(run_id).await {
        Ok(Some(run)) if !run.status.is_final() => {
            parked.insert(key.to_owned(), now + RECHECK);
            false
        }
        Ok(_) => {
            warn!(run = %run_id, "a signal was posted for a run that has ended: dropped");
            parked.remove(key);
            true
        }
        Err(e) => {
            warn!(run = %run_id, error = %e, "the run of a posted signal could not be read");
            false
        }
    }
}
