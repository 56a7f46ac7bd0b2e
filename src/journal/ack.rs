//! Acknowledgements of queued writes: each resolves once its write is
//! durable, or with the error that kept it from being so.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};

use super::JournalError;

/// Resolves once a queued write is durable.
#[must_use = "a write is durable only once its Ack resolves"]
pub struct Ack(Inner);

enum Inner {
    Ready(Option<Result<(), JournalError>>),
    Waiting(oneshot::Receiver<Result<(), JournalError>>),
}

impl Ack {
    /// Already durable (or nothing to make durable).
    pub fn done() -> Self {
        Ack(Inner::Ready(Some(Ok(()))))
    }

    pub fn failed(error: JournalError) -> Self {
        Ack(Inner::Ready(Some(Err(error))))
    }

    /// An Ack and the sender its writer resolves.
    pub fn pending() -> (Self, oneshot::Sender<Result<(), JournalError>>) {
        let (tx, rx) = oneshot::channel();
        (Ack(Inner::Waiting(rx)), tx)
    }
}

impl Future for Ack {
    type Output = Result<(), JournalError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            Inner::Ready(result) => Poll::Ready(result.take().unwrap_or(Ok(()))),
            // A writer that went away never made the write durable.
            Inner::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(JournalError::Closed))),
        }
    }
}

/// The senders of one group commit, resolved together.
#[derive(Default)]
pub(crate) struct Waiters(Vec<oneshot::Sender<Result<(), JournalError>>>);

impl Waiters {
    pub fn push(&mut self, tx: oneshot::Sender<Result<(), JournalError>>) {
        self.0.push(tx);
    }

    pub fn resolve(self, result: &Result<(), JournalError>) {
        for tx in self.0 {
            let _ = tx.send(result.clone());
        }
    }
}

/// A write and the sender of its [`Ack`].
pub(crate) type Queued = (super::Write, oneshot::Sender<Result<(), JournalError>>);

/// Writes committed in one transaction at most: bounds the latency of the
/// first write of a very large group.
pub(crate) const MAX_GROUP: usize = 2048;

/// The queue in front of a backend's writer; `None` when read-only.
pub(crate) struct WriteQueue(Option<mpsc::UnboundedSender<Queued>>);

impl WriteQueue {
    /// A queue and the receiver its writer drains.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Queued>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (WriteQueue(Some(tx)), rx)
    }

    pub fn read_only() -> Self {
        WriteQueue(None)
    }

    pub fn push(&self, write: super::Write) -> Ack {
        let Some(writes) = &self.0 else {
            return Ack::failed(JournalError::Write("the journal is open read-only".into()));
        };
        let (ack, tx) = Ack::pending();
        if writes.send((write, tx)).is_err() {
            return Ack::failed(JournalError::Closed);
        }
        ack
    }
}

/// `first` and every write queued behind it so far: one group commit.
pub(crate) fn group(first: Queued, rx: &mut mpsc::UnboundedReceiver<Queued>) -> Vec<Queued> {
    let mut group = vec![first];
    while group.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(queued) => group.push(queued),
            Err(_) => break,
        }
    }
    group
}
