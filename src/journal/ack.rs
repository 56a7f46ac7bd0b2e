//! Acknowledgements of queued writes: each resolves once its write is
//! durable, or with the error that kept it from being so.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

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
