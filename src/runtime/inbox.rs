//! Signals posted to the journal by another process (`maestro signal`)
//! reach the runs this process drives: one task looks at the journal's
//! inbox, hands each signal to its run's actor, and takes it out once the
//! run has journaled it. A signal for a run that has ended is dropped.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
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

/// Runs that may take signals, by id: live ones take them; a parked one
/// is woken, and takes them once resumed.
#[derive(Default)]
pub(super) struct Inbox {
    runs: Arc<Mutex<Runs>>,
    started: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
pub(super) struct Runs {
    live: HashMap<String, RunCanceller>,
    parked: HashMap<String, Arc<Notify>>,
    /// Runs with a signal in the inbox not yet taken, as of the last look
    /// (or told by [`Inbox::posted`]): such a run is not parked, since the
    /// signal is on its way.
    posted: HashSet<String>,
}

/// Whether a run has signals on their way to it.
#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<Runs>>);

impl Pending {
    pub fn has(&self, run: &str) -> bool {
        lock(&self.0).posted.contains(run)
    }
}

impl Inbox {
    /// Let `run` take posted signals; the task that delivers them starts
    /// with the first such run.
    pub(super) fn register(&self, journal: &Arc<dyn Journal>, run: &str, canceller: RunCanceller) {
        let mut runs = lock(&self.runs);
        runs.parked.remove(run);
        runs.live.insert(run.to_owned(), canceller);
        drop(runs);
        self.start(journal);
    }

    /// Wake parked `run` when a signal for it is posted.
    pub(super) fn park(&self, journal: &Arc<dyn Journal>, run: &str, wake: Arc<Notify>) {
        lock(&self.runs).parked.insert(run.to_owned(), wake);
        self.start(journal);
    }

    /// A signal for `run` was posted to the journal here: wake the run if
    /// it is parked, and keep it from parking until it has the signal.
    pub(super) fn posted(&self, run: &str) {
        let mut runs = lock(&self.runs);
        runs.posted.insert(run.to_owned());
        if let Some(wake) = runs.parked.remove(run) {
            wake.notify_one();
        }
    }

    pub(super) fn pending(&self) -> Pending {
        Pending(self.runs.clone())
    }

    fn start(&self, journal: &Arc<dyn Journal>) {
        if !self.started.swap(true, std::sync::atomic::Ordering::AcqRel) {
            let (journal, runs) = (journal.clone(), Arc::downgrade(&self.runs));
            tokio::spawn(poll(journal, runs));
        }
    }
}

/// Until the runtime is dropped: deliver what is posted, every
/// [`INBOX_POLL`].
async fn poll(journal: Arc<dyn Journal>, runs: Weak<Mutex<Runs>>) {
    let mut parked: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::time::sleep(INBOX_POLL).await;
        let Some(runs) = runs.upgrade() else { return };
        lock(&runs).live.retain(|_, run| run.is_alive());
        let posted = match journal.posted_signals().await {
            Ok(posted) => posted,
            Err(e) => {
                warn!(error = %e, "the signal inbox could not be read");
                continue;
            }
        };
        let (mut taken, mut reached) = (Vec::new(), Vec::new());
        lock(&runs).posted = posted.iter().map(|p| p.signal.run_id.clone()).collect();
        for Posted { key, signal } in posted {
            let (run, wake) = {
                let mut runs = lock(&runs);
                let wake = runs.parked.remove(&signal.run_id);
                (runs.live.get(&signal.run_id).cloned(), wake)
            };
            // Kept in the inbox for the run once it is taken up again.
            if let Some(wake) = wake {
                wake.notify_one();
                continue;
            }
            let run_id = signal.run_id.clone();
            let delivered = match &run {
                Some(run) => deliver(run, &key, signal).await,
                None => ended(&*journal, &key, &signal.run_id, &mut parked).await,
            };
            if delivered {
                taken.push(key);
                if let Some(run) = run {
                    reached.push((run_id, run));
                }
            }
        }
        // Runs that have their signals may park again: tell them to look.
        lock(&runs)
            .posted
            .retain(|id| !reached.iter().any(|(r, _)| r == id));
        for (_, run) in reached {
            run.nudge();
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
