//! Schedule ticks claimed in the journal, so that replicas sharing it start
//! one run per tick: a schedule's row holds the latest tick claimed, and a
//! claim moves it forward only, in one statement, so one claimant wins.

use std::time::SystemTime;

/// A schedule: the workflow it belongs to and its place in `schedules`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScheduleKey {
    pub workflow: String,
    pub index: u32,
}

/// The latest tick any process claimed of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastTick {
    pub at: SystemTime,
    /// The run that tick started, once it was recorded.
    pub run_id: Option<String>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickClaim {
    /// This process holds the tick; the run of the tick claimed before, if
    /// one was recorded, for the overlap rule.
    Won { previous_run: Option<String> },
    /// That tick, or a later one, was claimed already.
    Taken,
}
