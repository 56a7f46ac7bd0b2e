//! The run's event log: kept in memory for reports and watchers, streamed to
//! an observer (the live timeline), and queued to the journal when the run
//! is durable. Appends return an [`Ack`] that resolves once the event is
//! durable; the run awaits it where the order of effects requires. The log
//! also knows whether the run is still held here, under which claim.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::mpsc;
use tracing::error;

use crate::journal::{Ack, Epoch, Journal, JournalError, Write};
use crate::telemetry::RunTrace;

use crate::workflow::Workflow;

use super::events::{Recorded, RunEvent};
use super::report::RunReport;

/// Told of each event of a run as it is recorded, in the log's order,
/// while the log is held: keep it short, and never block.
pub trait Observer: Send + Sync {
    /// `seq` is the event's place in the run's log, from 0.
    fn recorded(&self, seq: u64, recorded: &Recorded);
}

impl std::fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// A channel receives a copy of each event (a live timeline).
impl Observer for mpsc::UnboundedSender<Recorded> {
    fn recorded(&self, _seq: u64, recorded: &Recorded) {
        // A watcher that went away must not stop the run.
        let _ = self.send(recorded.clone());
    }
}

/// A cheap-to-clone handle on one run's append-only log.
#[derive(Clone, Default)]
pub struct RunLog {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    // A std Mutex, not a tokio one: nothing awaits while it is held.
    events: Mutex<Vec<Recorded>>,
    observer: Option<Arc<dyn Observer>>,
    durable: Option<Durable>,
    /// The run's trace, while traces are exported.
    trace: Option<RunTrace>,
}

/// Where a durable run's events go.
struct Durable {
    journal: Arc<dyn Journal>,
    run_id: Arc<str>,
    /// The claim this process holds the run under.
    epoch: Epoch,
    /// Set once this process stopped driving the run: nothing more of it
    /// is written here.
    abandoned: AtomicBool,
}

impl RunLog {
    /// A log holding `events` already (a resumed run), whose every new event
    /// is sent to `observer` and queued to `journal`, under the run's claim;
    /// its calls carry `trace`.
    pub fn new(
        events: Vec<Recorded>,
        observer: Option<Arc<dyn Observer>>,
        journal: Option<(Arc<dyn Journal>, &str, Epoch)>,
        trace: Option<RunTrace>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                events: Mutex::new(events),
                observer,
                durable: journal.map(|(journal, run_id, epoch)| Durable {
                    journal,
                    run_id: Arc::from(run_id),
                    epoch,
                    abandoned: AtomicBool::new(false),
                }),
                trace,
            }),
        }
    }

    /// The run's trace, when traces are exported.
    pub fn trace(&self) -> Option<&RunTrace> {
        self.inner.trace.as_ref()
    }

    /// Whether this process still certainly holds the run, and so may call
    /// a service for it. Always, for a run kept in memory or in a state
    /// directory.
    pub fn holds(&self) -> bool {
        self.inner.durable.as_ref().is_none_or(|d| {
            !d.abandoned.load(Ordering::Acquire) && d.journal.holds(&d.run_id, d.epoch)
        })
    }

    /// This process stops driving the run without ending it: another
    /// replica has it, or may have it by now. Nothing more is journaled.
    pub fn abandon(&self) {
        if let Some(d) = &self.inner.durable
            && !d.abandoned.swap(true, Ordering::AcqRel)
        {
            d.journal.abandon(&d.run_id, d.epoch);
        }
    }

    /// Append an event. The returned [`Ack`] resolves once it is durable (at
    /// once for a log in memory); dropping it does not cancel the write.
    pub fn append(&self, event: RunEvent) -> Ack {
        let recorded = Recorded {
            at: SystemTime::now(),
            event,
        };
        // Serialized before the lock is taken: parallel steps append at once.
        let write = self.inner.durable.as_ref().map(|d| {
            let write = Write::event(&d.run_id, 0, &recorded).map(|w| w.with_epoch(d.epoch));
            (d, write)
        });
        let mut events = self
            .inner
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Queued under the lock, so the journal's order is the log's order.
        let ack = match write {
            Some((durable, _)) if durable.abandoned.load(Ordering::Acquire) => {
                Ack::failed(JournalError::LeaseLost {
                    run_id: durable.run_id.to_string(),
                })
            }
            Some((durable, Ok(mut write))) => {
                write.place(events.len() as u64);
                durable.journal.write(write)
            }
            Some((durable, Err(e))) => {
                error!(run = %durable.run_id, error = %e, "event not journaled");
                Ack::failed(e)
            }
            None => Ack::done(),
        };
        if let Some(observer) = &self.inner.observer {
            // Under the lock: observers see events in the log's order.
            observer.recorded(events.len() as u64, &recorded);
        }
        events.push(recorded);
        ack
    }

    /// The run's report as its events stand, built without copying them.
    pub fn report(&self, workflow: &Workflow) -> RunReport {
        let events = self
            .inner
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        RunReport::from_events(workflow, &events, None)
    }

    /// Hand `f` each event from position `from` on, in order, without
    /// copying them; stops at the first error.
    pub fn since<E>(
        &self,
        from: usize,
        mut f: impl FnMut(&Recorded) -> Result<(), E>,
    ) -> Result<(), E> {
        let events = self
            .inner
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        events
            .get(from..)
            .unwrap_or_default()
            .iter()
            .try_for_each(&mut f)
    }

    /// Every event so far, in order.
    pub fn snapshot(&self) -> Vec<Recorded> {
        self.inner
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl std::fmt::Debug for RunLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLog").finish_non_exhaustive()
    }
}
