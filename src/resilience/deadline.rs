//! Deadlines: the workflow's, the service's and the step's timeout meet here,
//! and the earliest one wins.

use std::time::Duration;

use tokio::time::Instant;

/// The earliest of any number of optional instants; unbounded when none is
/// given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline at all.
    pub const NONE: Deadline = Deadline(None);

    pub fn at(instant: Instant) -> Self {
        Self(Some(instant))
    }

    /// `now + timeout`, or no deadline for no timeout (or one too large to
    /// represent, which is the same thing in practice).
    pub fn after(now: Instant, timeout: Option<Duration>) -> Self {
        Self(timeout.and_then(|t| now.checked_add(t)))
    }

    /// The earliest of the given instants.
    pub fn earliest_of(instants: impl IntoIterator<Item = Option<Instant>>) -> Self {
        Self(instants.into_iter().flatten().min())
    }

    /// Whichever of the two comes first.
    pub fn min(self, other: Deadline) -> Deadline {
        Self::earliest_of([self.0, other.0])
    }

    pub fn instant(self) -> Option<Instant> {
        self.0
    }

    /// Time left, zero once passed; `None` when unbounded.
    pub fn remaining(self, now: Instant) -> Option<Duration> {
        self.0.map(|at| at.saturating_duration_since(now))
    }

    pub fn is_expired(self, now: Instant) -> bool {
        self.0.is_some_and(|at| now >= at)
    }

    /// Whether something starting at `start` starts strictly before the
    /// deadline.
    pub fn allows(self, start: Instant) -> bool {
        self.0.is_none_or(|at| start < at)
    }
}

/// The timeout that applies to one attempt: the smallest of the step's, the
/// service's and what remains of the workflow's; `None` when none applies.
pub fn min_timeout(
    step: Option<Duration>,
    service: Option<Duration>,
    remaining_workflow: Option<Duration>,
) -> Option<Duration> {
    [step, service, remaining_workflow]
        .into_iter()
        .flatten()
        .min()
}

/// [`min_timeout`] with `default` standing in when neither the step nor the
/// service sets a timeout; the workflow's remaining time still caps it.
pub fn attempt_timeout(
    step: Option<Duration>,
    service: Option<Duration>,
    remaining_workflow: Option<Duration>,
    default: Duration,
) -> Duration {
    let own = min_timeout(step, service, None).unwrap_or(default);
    min_timeout(Some(own), None, remaining_workflow).unwrap_or(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn smallest_timeout_wins() {
        assert_eq!(min_timeout(Some(S(5)), Some(S(3)), Some(S(10))), Some(S(3)));
        assert_eq!(min_timeout(None, Some(S(3)), Some(S(1))), Some(S(1)));
        assert_eq!(min_timeout(Some(S(2)), None, None), Some(S(2)));
        assert_eq!(min_timeout(None, None, None), None);
    }

    #[test]
    fn default_applies_only_without_step_or_service_timeout() {
        assert_eq!(attempt_timeout(None, None, None, S(30)), S(30));
        assert_eq!(attempt_timeout(None, None, Some(S(4)), S(30)), S(4));
        assert_eq!(attempt_timeout(None, Some(S(60)), None, S(30)), S(60));
        assert_eq!(
            attempt_timeout(Some(S(2)), Some(S(60)), Some(S(9)), S(30)),
            S(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn earliest_instant_wins() {
        let now = Instant::now();
        let d = Deadline::earliest_of([None, Some(now + S(5)), Some(now + S(2))]);
        assert_eq!(d.instant(), Some(now + S(2)));
        assert_eq!(d.remaining(now), Some(S(2)));
        assert_eq!(Deadline::earliest_of([None, None]), Deadline::NONE);
        assert_eq!(
            Deadline::after(now, Some(S(1))).min(Deadline::NONE),
            Deadline::at(now + S(1))
        );
        assert_eq!(Deadline::after(now, None), Deadline::NONE);
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_follows_the_clock() {
        let now = Instant::now();
        let d = Deadline::after(now, Some(S(1)));
        assert!(!d.is_expired(now));
        assert!(d.allows(now));
        tokio::time::advance(S(1)).await;
        let later = Instant::now();
        assert!(d.is_expired(later));
        assert!(!d.allows(later));
        assert_eq!(d.remaining(later + S(3)), Some(Duration::ZERO));
        assert!(!Deadline::NONE.is_expired(later));
        assert_eq!(Deadline::NONE.remaining(later), None);
    }
}
