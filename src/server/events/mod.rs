//! Live run and step events for `GET /v1/events`: each event published once
//! to a bounded broadcast that every stream reads at its own pace; a stream
//! that falls behind hears how many it missed, memory does not grow.

pub mod stream;

pub use stream::EventsQuery;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::runtime::{Observer, Recorded, RunEvent};

/// Events held for the slowest subscriber; past these it misses the oldest
/// and hears how many. About 1 KiB each, so ~1 MiB at most.
pub const EVENT_BUFFER: usize = 1024;
/// A comment line this often keeps proxies from closing a quiet stream.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Whether an event is about the run as a whole or one of its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Run,
    Step,
}

impl Kind {
    fn of(event: &RunEvent) -> Self {
        match event {
            RunEvent::RunStarted { .. }
            | RunEvent::RunResumed
            | RunEvent::RunHalted { .. }
            | RunEvent::RunFinished { .. } => Kind::Run,
            _ => Kind::Step,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Step => "step",
        }
    }
}

/// One event of one run, serialized once for every subscriber.
#[derive(Debug)]
pub struct Published {
    pub run_id: Arc<str>,
    pub workflow: Arc<str>,
    /// Its place in the run's log, from 0.
    pub seq: u64,
    pub kind: Kind,
    pub json: String,
}

impl Published {
    /// The run's event as JSON: the recorded event's fields, its time in
    /// RFC 3339, and the run, workflow and place it belongs to.
    pub fn new(run_id: &Arc<str>, workflow: &Arc<str>, seq: u64, recorded: &Recorded) -> Self {
        let mut value = serde_json::to_value(recorded).unwrap_or(Value::Null);
        if let Value::Object(fields) = &mut value {
            let at = humantime::format_rfc3339_millis(recorded.at).to_string();
            fields.insert("at".into(), at.into());
            fields.insert("run_id".into(), run_id.as_ref().into());
            fields.insert("workflow".into(), workflow.as_ref().into());
            fields.insert("seq".into(), seq.into());
        }
        Published {
            run_id: run_id.clone(),
            workflow: workflow.clone(),
            seq,
            kind: Kind::of(&recorded.event),
            json: value.to_string(),
        }
    }
}

/// One run's events on their way to the subscribers.
struct RunTap {
    sender: broadcast::Sender<Arc<Published>>,
    listeners: Arc<AtomicUsize>,
    run_id: Arc<str>,
    workflow: Arc<str>,
}

impl Observer for RunTap {
    fn recorded(&self, seq: u64, recorded: &Recorded) {
        // Serialized only when someone listens: a server nobody watches
        // pays one check per event.
        // An atomic read, not the channel's lock: every run's every event
        // passes here.
        if self.listeners.load(Ordering::Relaxed) > 0 {
            let published = Published::new(&self.run_id, &self.workflow, seq, recorded);
            let _ = self.sender.send(Arc::new(published));
        }
    }
}

/// Where every run's events meet their subscribers.
#[derive(Debug)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Published>>,
    /// Open subscriptions.
    listeners: Arc<AtomicUsize>,
    /// Cancelled as the server stops: open streams end, so that draining
    /// connections does not wait on them.
    closed: CancellationToken,
}

impl Hub {
    pub fn new(capacity: usize) -> Arc<Self> {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Arc::new(Hub {
            sender,
            listeners: Arc::default(),
            closed: CancellationToken::new(),
        })
    }

    /// What a run's log tells of each new event: it is published as it is
    /// recorded, with no task or copy per run.
    pub fn observe(&self, run_id: &str, workflow: &str) -> Arc<dyn Observer> {
        Arc::new(RunTap {
            sender: self.sender.clone(),
            listeners: self.listeners.clone(),
            run_id: Arc::from(run_id),
            workflow: Arc::from(workflow),
        })
    }

    /// Publish an event no log forwards (a run cancelled before it started).
    pub fn publish(&self, run_id: &str, workflow: &str, seq: u64, recorded: &Recorded) {
        let published = Published::new(&Arc::from(run_id), &Arc::from(workflow), seq, recorded);
        let _ = self.sender.send(Arc::new(published));
    }

    pub fn subscribe(&self) -> Subscription {
        self.listeners.fetch_add(1, Ordering::Relaxed);
        Subscription {
            receiver: self.sender.subscribe(),
            listeners: self.listeners.clone(),
        }
    }

    /// End every open stream, now and from now on.
    pub fn close(&self) {
        self.closed.cancel();
    }

    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }
}

/// One listener's receiver: counted while it lives, so that runs serialize
/// their events only while someone listens.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Published>>,
    listeners: Arc<AtomicUsize>,
}

impl std::ops::Deref for Subscription {
    type Target = broadcast::Receiver<Arc<Published>>;

    fn deref(&self) -> &Self::Target {
        &self.receiver
    }
}

impl std::ops::DerefMut for Subscription {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.receiver
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}
