//! The run's event log in memory: appended by the run actor, its step tasks
//! and its saga, read to build the report, and optionally streamed to an
//! observer (the live timeline).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::events::{Recorded, RunEvent};

/// A cheap-to-clone handle on one run's append-only log.
#[derive(Clone, Default)]
pub struct RunLog {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    // A std Mutex, not a tokio one: nothing awaits while it is held.
    events: Mutex<Vec<Recorded>>,
    observer: Option<mpsc::UnboundedSender<Recorded>>,
}

impl RunLog {
    /// A log whose every event is also sent to `observer` as it is appended.
    pub fn with_observer(observer: mpsc::UnboundedSender<Recorded>) -> Self {
        Self {
            inner: Arc::new(Inner {
                events: Mutex::new(Vec::new()),
                observer: Some(observer),
            }),
        }
    }

    pub fn append(&self, event: RunEvent) {
        let recorded = Recorded {
            at: SystemTime::now(),
            event,
        };
        if let Some(observer) = &self.inner.observer {
            // A watcher that went away must not stop the run.
            let _ = observer.send(recorded.clone());
        }
        self.inner
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(recorded);
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
