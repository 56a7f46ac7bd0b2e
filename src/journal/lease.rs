//! Until when this process certainly holds each run it owns: a lease counts
//! from the moment the statement that took or renewed it was sent, on the
//! monotonic clock, less a margin. Pure: every instant is handed in.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// Which claim of a run a process acts under: 0 for a run it began, then one
/// more each time a replica claims the run. A write under an older claim is
/// refused, so a process that lost a run and claimed it again cannot write
/// with the actor of its first claim.
pub type Epoch = u64;

/// The share of a lease not counted on (a quarter). It covers the moment
/// between the check and the request leaving, and the process's and the
/// database's clocks running at slightly different rates. Renewals come
/// every third of a lease, so one failed renewal is survived.
pub const MARGIN_DIVISOR: u32 = 4;

/// The runs a process holds, each with its claim and the instant until
/// which it certainly holds it.
#[derive(Debug)]
pub struct LeaseClock {
    /// A lease's length past the statement that set it, less the margin.
    counted: Duration,
    runs: HashMap<String, Held>,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: Epoch,
    until: Instant,
}

impl LeaseClock {
    /// Leases of `ttl`, counted with the margin of [`MARGIN_DIVISOR`].
    pub fn new(ttl: Duration) -> Self {
        LeaseClock {
            counted: ttl.saturating_sub(ttl / MARGIN_DIVISOR),
            runs: HashMap::new(),
        }
    }

    /// How long after a statement was sent its lease is counted on.
    pub fn counted(&self) -> Duration {
        self.counted
    }

    /// `run_id` is held under `epoch` by a statement sent at `sent` (the
    /// run's first row, or a claim), replacing any older claim of it.
    pub fn acquired(&mut self, run_id: &str, epoch: Epoch, sent: Instant) {
        let until = sent + self.counted;
        self.runs.insert(run_id.to_string(), Held { epoch, until });
    }

    /// A renewal sent at `sent` extended the leases of `renewed`. The
    /// database renews a run only while this process owns it under the same
    /// claim, so nobody else can have driven it meanwhile: a lease counted
    /// out here (a renewal that came late) is held again.
    pub fn renewed<'a>(
        &mut self,
        renewed: impl IntoIterator<Item = (&'a str, Epoch)>,
        sent: Instant,
    ) {
        let until = sent + self.counted;
        for (run_id, epoch) in renewed {
            if let Some(held) = self.runs.get_mut(run_id)
                && held.epoch == epoch
            {
                held.until = held.until.max(until);
            }
        }
    }

    /// The run is no longer held under `epoch` here: it finished, was let
    /// go, or another replica took it. A newer claim of it stays.
    pub fn forget(&mut self, run_id: &str, epoch: Epoch) {
        if self.runs.get(run_id).is_some_and(|h| h.epoch == epoch) {
            self.runs.remove(run_id);
        }
    }

    /// Whether `run_id` is certainly held under `epoch` at `now`.
    pub fn holds(&self, run_id: &str, epoch: Epoch, now: Instant) -> bool {
        self.runs
            .get(run_id)
            .is_some_and(|h| h.epoch == epoch && now < h.until)
    }

    /// The claim `run_id` is held under here, if any.
    pub fn epoch(&self, run_id: &str) -> Option<Epoch> {
        self.runs.get(run_id).map(|h| h.epoch)
    }

    /// Every run to renew, with its claim.
    pub fn to_renew(&self) -> Vec<(String, Epoch)> {
        self.runs
            .iter()
            .map(|(id, h)| (id.clone(), h.epoch))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(12);
    /// What is counted of a lease of `TTL`: its three quarters.
    const COUNTED: Duration = Duration::from_secs(9);

    fn clock() -> LeaseClock {
        LeaseClock::new(TTL)
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_counts_from_when_its_statement_was_sent_less_the_margin() {
        let mut clock = clock();
        assert_eq!(clock.counted(), COUNTED);
        let sent = Instant::now();
        // The begin took a while to answer: its lease started when it was sent.
        tokio::time::advance(Duration::from_secs(2)).await;
        clock.acquired("run", 0, sent);
        tokio::time::advance(COUNTED - Duration::from_secs(2) - Duration::from_millis(1)).await;
        assert!(clock.holds("run", 0, Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(
            !clock.holds("run", 0, Instant::now()),
            "the margin is not counted on"
        );
        assert!(!clock.holds("other", 0, Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn renewals_sent_in_time_keep_a_run_held() {
        let mut clock = clock();
        clock.acquired("run", 0, Instant::now());
        // Renewed every third of a lease, one renewal lost on the way.
        for round in 0..12 {
            tokio::time::advance(TTL / 3).await;
            assert!(clock.holds("run", 0, Instant::now()), "round {round}");
            if round % 3 != 1 {
                clock.renewed([("run", 0)], Instant::now());
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_process_frozen_past_its_lease_wakes_up_not_holding() {
        let mut clock = clock();
        clock.acquired("run", 0, Instant::now());
        clock.acquired("kept", 0, Instant::now());
        // A renewal is sent, then the process freezes until long after.
        let sent = Instant::now();
        tokio::time::advance(TTL * 2).await;
        // Its answer arrives on waking: it renewed the runs at `sent`.
        clock.renewed([("run", 0), ("kept", 0)], sent);
        assert!(!clock.holds("run", 0, Instant::now()));
        // A renewal sent now finds one run taken by another replica (not
        // returned) and the other still owned under the same claim.
        clock.renewed([("kept", 0)], Instant::now());
        assert!(!clock.holds("run", 0, Instant::now()));
        assert!(clock.holds("kept", 0, Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_newer_claim_fences_the_older_one() {
        let mut clock = clock();
        clock.acquired("run", 0, Instant::now());
        tokio::time::advance(TTL).await;
        // Lost, then claimed again: the run's first actor holds it no more.
        clock.acquired("run", 2, Instant::now());
        assert!(!clock.holds("run", 0, Instant::now()));
        assert!(clock.holds("run", 2, Instant::now()));
        assert_eq!(clock.epoch("run"), Some(2));
        // Renewals and forgetting under the old claim leave the new one be.
        clock.renewed([("run", 0)], Instant::now() + TTL);
        clock.forget("run", 0);
        assert!(clock.holds("run", 2, Instant::now()));
        tokio::time::advance(COUNTED).await;
        assert!(
            !clock.holds("run", 2, Instant::now()),
            "not renewed by epoch 0"
        );
        clock.forget("run", 2);
        assert_eq!(clock.epoch("run"), None);
        assert!(clock.to_renew().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_never_shortens_a_lease() {
        let mut clock = clock();
        let first = Instant::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        clock.acquired("run", 1, Instant::now());
        // A renewal sent before the claim answers after it.
        clock.renewed([("run", 1)], first);
        tokio::time::advance(COUNTED - Duration::from_millis(1)).await;
        assert!(clock.holds("run", 1, Instant::now()));
        assert_eq!(clock.to_renew(), vec![("run".to_string(), 1)]);
    }
}
