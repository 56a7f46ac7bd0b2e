//! The scheduler of `maestro serve`: one task per schedule sleeps until its
//! next tick, then fires it. With a journal, a tick is claimed there first,
//! so replicas sharing it fire each tick once; ticks missed while no server
//! ran are made up once, at start.

mod fire;
pub mod list;
#[cfg(test)]
mod tests;

pub use fire::Starter;
pub use list::{ScheduleInfo, ScheduleList};

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::journal::{BoxFuture, ScheduleKey};
use crate::workflow::Workflow;
use crate::workflow::schedule::Schedule;

/// One schedule of a loaded workflow, and what its task last did.
pub struct Scheduled {
    pub key: ScheduleKey,
    pub schedule: Schedule,
    times: Mutex<Times>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Times {
    next: Option<SystemTime>,
    last: Option<SystemTime>,
}

impl Scheduled {
    /// Every schedule of `workflows`, in file order.
    pub fn all(workflows: &[Arc<Workflow>]) -> Vec<Arc<Scheduled>> {
        workflows
            .iter()
            .flat_map(|w| {
                w.schedules.iter().enumerate().map(|(i, s)| {
                    Arc::new(Scheduled {
                        key: ScheduleKey {
                            workflow: w.name.clone(),
                            index: u32::try_from(i).unwrap_or(u32::MAX),
                        },
                        schedule: s.clone(),
                        times: Mutex::default(),
                    })
                })
            })
            .collect()
    }

    fn times(&self) -> std::sync::MutexGuard<'_, Times> {
        self.times.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tick the task sleeps until; `None` once the expression never
    /// matches again.
    pub fn next(&self) -> Option<SystemTime> {
        self.times().next
    }

    /// The latest tick fired, here or (with a journal) by any replica.
    pub fn last(&self) -> Option<SystemTime> {
        self.times().last
    }

    fn set_next(&self, next: Option<SystemTime>) {
        self.times().next = next;
    }

    fn fired(&self, tick: SystemTime) {
        let mut times = self.times();
        times.last = times.last.max(Some(tick));
    }
}

/// The wall clock ticks are read on.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system's.
    System,
    /// `wall` at `origin`, going on with tokio's clock: with tokio's time
    /// paused, a test moves it forward by hours in no time.
    Tokio { wall: SystemTime, origin: Instant },
}

impl Clock {
    pub fn now(&self) -> SystemTime {
        match self {
            Clock::System => SystemTime::now(),
            Clock::Tokio { wall, origin } => *wall + origin.elapsed(),
        }
    }
}

/// What a tick does: [`Starter`] claims it and starts a run.
pub trait Fire: Send + Sync + 'static {
    /// The latest tick any process fired of `scheduled`, for catching up.
    fn last_fired(&self, scheduled: &Scheduled) -> BoxFuture<'_, Option<SystemTime>>;

    /// Fire `tick`; false when it could not be claimed or started (the
    /// journal failed, the server is full), true once it is taken care of,
    /// here or by another process.
    fn fire<'a>(&'a self, scheduled: &'a Scheduled, tick: SystemTime) -> BoxFuture<'a, bool>;
}

/// Start one task per schedule, until `stop`.
pub fn start(
    scheduled: &[Arc<Scheduled>],
    fire: Arc<dyn Fire>,
    clock: Clock,
    stop: &CancellationToken,
) {
    for s in scheduled {
        tokio::spawn(drive(s.clone(), fire.clone(), clock, stop.clone()));
    }
}

/// One schedule's task: make up the latest missed tick, then sleep until
/// each tick and fire it.
pub async fn drive(
    scheduled: Arc<Scheduled>,
    fire: Arc<dyn Fire>,
    clock: Clock,
    stop: CancellationToken,
) {
    let schedule = &scheduled.schedule;
    let start = clock.now();
    let last = fire.last_fired(&scheduled).await;
    if let Some(last) = last {
        scheduled.fired(last);
    }
    let mut after = start;
    if let Some(tick) = schedule.catch_up_at(last, start) {
        info!(workflow = %scheduled.key.workflow, schedule = scheduled.key.index,
              tick = %humantime::format_rfc3339_millis(tick), "making up a missed tick");
        fire_one(&scheduled, fire.as_ref(), tick).await;
        after = after.max(tick);
    }
    loop {
        let next = schedule.next_after(after);
        scheduled.set_next(next);
        let Some(next) = next else {
            info!(workflow = %scheduled.key.workflow, schedule = scheduled.key.index,
                  "the schedule never matches again");
            return;
        };
        let wait = next.duration_since(clock.now()).unwrap_or(Duration::ZERO);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        // A system clock set back wakes the task early: sleep again.
        if clock.now() < next {
            continue;
        }
        fire_one(&scheduled, fire.as_ref(), next).await;
        after = next;
    }
}

async fn fire_one(scheduled: &Scheduled, fire: &dyn Fire, tick: SystemTime) {
    if fire.fire(scheduled, tick).await {
        scheduled.fired(tick);
    }
}
