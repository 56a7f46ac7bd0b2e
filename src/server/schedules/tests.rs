//! The scheduler's task with tokio's clock paused: hours of ticks in no
//! time, each fired once, on time, with missed ones made up once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Map;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Clock, Fire, Scheduled, drive};
use crate::journal::{BoxFuture, ScheduleKey};
use crate::workflow::schedule::{Cadence, Overlap, Schedule, Zone, parse_cron};

/// Records each tick it is asked to fire, and when (on the test's clock).
struct Recorder {
    clock: Clock,
    last: Option<SystemTime>,
    fired: Mutex<Vec<(SystemTime, SystemTime)>>,
}

impl Fire for Recorder {
    fn last_fired(&self, _: &Scheduled) -> BoxFuture<'_, Option<SystemTime>> {
        Box::pin(async move { self.last })
    }

    fn fire<'a>(&'a self, _: &'a Scheduled, tick: SystemTime) -> BoxFuture<'a, bool> {
        let now = self.clock.now();
        self.fired.lock().unwrap().push((tick, now));
        Box::pin(async { true })
    }
}

fn at(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap()
}

fn scheduled(cadence: Cadence, catch_up: bool) -> Arc<Scheduled> {
    Arc::new(Scheduled {
        key: ScheduleKey {
            workflow: "w".into(),
            index: 0,
        },
        schedule: Schedule {
            cadence,
            timezone: Zone::utc(),
            input: Map::new(),
            overlap: Overlap::Skip,
            catch_up,
        },
        times: Mutex::default(),
    })
}

/// Run the schedule's task for `span` of paused time from `start`.
async fn run_for(
    s: &Arc<Scheduled>,
    start: &str,
    last: Option<&str>,
    span: Duration,
) -> Vec<(SystemTime, SystemTime)> {
    let clock = Clock::Tokio {
        wall: at(start),
        origin: Instant::now(),
    };
    let recorder = Arc::new(Recorder {
        clock,
        last: last.map(at),
        fired: Mutex::default(),
    });
    let stop = CancellationToken::new();
    let task = tokio::spawn(drive(s.clone(), recorder.clone(), clock, stop.clone()));
    tokio::time::sleep(span).await;
    stop.cancel();
    task.await.unwrap();
    recorder.fired.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn every_tick_fires_once_on_time() {
    let s = scheduled(Cadence::Every(Duration::from_secs(60)), true);
    let fired = run_for(&s, "2026-03-01T10:00:30Z", None, Duration::from_secs(600)).await;
    let ticks: Vec<SystemTime> = fired.iter().map(|(tick, _)| *tick).collect();
    let expected: Vec<SystemTime> = (1..=10)
        .map(|m| at("2026-03-01T10:00:00Z") + Duration::from_secs(60 * m))
        .collect();
    assert_eq!(ticks, expected);
    for (tick, when) in &fired {
        assert!(when >= tick, "fired before its tick");
    }
    assert_eq!(s.last(), Some(at("2026-03-01T10:10:00Z")));
    assert_eq!(s.next(), Some(at("2026-03-01T10:11:00Z")));
}

#[tokio::test(start_paused = true)]
async fn ticks_missed_while_down_are_made_up_once_at_start() {
    let s = scheduled(Cadence::Every(Duration::from_secs(60)), true);
    // The last tick fired was at 09:55; the server starts at 10:00:30.
    let fired = run_for(
        &s,
        "2026-03-01T10:00:30Z",
        Some("2026-03-01T09:55:00Z"),
        Duration::from_secs(80),
    )
    .await;
    let ticks: Vec<SystemTime> = fired.iter().map(|(tick, _)| *tick).collect();
    assert_eq!(
        ticks,
        [at("2026-03-01T10:00:00Z"), at("2026-03-01T10:01:00Z")],
        "one made-up tick, then the next on time"
    );
}

#[tokio::test(start_paused = true)]
async fn with_catch_up_off_missed_ticks_are_skipped() {
    let cron = parse_cron("0 * * * *").unwrap();
    let cadence = Cadence::Cron {
        expression: "0 * * * *".into(),
        cron: Box::new(cron),
    };
    let s = scheduled(cadence, false);
    let fired = run_for(
        &s,
        "2026-03-01T10:30:00Z",
        Some("2026-03-01T07:00:00Z"),
        Duration::from_secs(2 * 3600),
    )
    .await;
    let ticks: Vec<SystemTime> = fired.iter().map(|(tick, _)| *tick).collect();
    assert_eq!(
        ticks,
        [at("2026-03-01T11:00:00Z"), at("2026-03-01T12:00:00Z")]
    );
}
