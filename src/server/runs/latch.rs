//! A flag set once, whose waiters are woken as it is set: what a run's
//! entry needs for its cancel and its end, inline (a `CancellationToken` or
//! a `watch` channel is a shared allocation each, kept as long as the run).

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Default)]
pub struct Latch {
    set: AtomicBool,
    woken: Notify,
}

impl Latch {
    /// Set it and wake every waiter; later waits return at once.
    pub fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.woken.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Wait until it is set.
    pub async fn wait(&self) {
        loop {
            let mut woken = std::pin::pin!(self.woken.notified());
            // Registered before the flag is read, so a `set` in between wakes it.
            woken.as_mut().enable();
            if self.is_set() {
                return;
            }
            woken.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Latch;

    #[tokio::test]
    async fn a_wait_ends_when_set_before_or_after() {
        let latch = Arc::new(Latch::default());
        let waiter = tokio::spawn({
            let latch = latch.clone();
            async move { latch.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!latch.is_set());
        latch.set();
        waiter.await.unwrap();
        // Set already: returns at once.
        latch.wait().await;
        assert!(latch.is_set());
    }
}
