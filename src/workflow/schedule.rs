//! A workflow's `schedules`: when each fires, which ticks were missed while
//! no server ran, and what a tick does while the previous run goes on.
//! Pure: every instant is handed in, so it is tested with made-up times.

use std::fmt;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

/// The shortest `every`: a tick is claimed in the journal, one statement
/// per tick, and timestamps are kept to the millisecond.
pub const MIN_EVERY: Duration = Duration::from_secs(1);

/// One entry of `schedules`, validated.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// When it fires.
    pub cadence: Cadence,
    /// The zone a cron expression is read in (UTC unless told).
    pub timezone: Zone,
    /// The input of each run it starts.
    pub input: Map<String, Value>,
    pub overlap: Overlap,
    /// Whether ticks missed while no server ran are made up, once, at start.
    pub catch_up: bool,
}

/// `cron: "*/5 * * * *"` or `every: 10m`.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// Five fields, read in the schedule's zone.
    Cron {
        expression: String,
        cron: Box<croner::Cron>,
    },
    /// Ticks at whole multiples of the period since the Unix epoch, so that
    /// every replica computes the same ticks.
    Every(Duration),
}

/// An IANA zone with the name it was given by.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub tz: TimeZone,
}

impl Zone {
    pub fn utc() -> Self {
        Zone {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    /// The zone named `name` in the IANA database (`Europe/Paris`).
    pub fn named(name: &str) -> Result<Self, String> {
        TimeZone::get(name)
            .map(|tz| Zone {
                name: name.to_string(),
                tz,
            })
            .map_err(|_| format!("`{name}` is not a time zone of the IANA database"))
    }
}

/// What a tick does while the run its schedule started before is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// No run this tick.
    #[default]
    Skip,
    /// Start another run beside it.
    Allow,
    /// Cancel it (it compensates) and start the new one.
    CancelPrevious,
}

impl Overlap {
    pub const NAMES: [&str; 3] = ["skip", "allow", "cancel_previous"];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "skip" => Some(Overlap::Skip),
            "allow" => Some(Overlap::Allow),
            "cancel_previous" => Some(Overlap::CancelPrevious),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Allow => "allow",
            Overlap::CancelPrevious => "cancel_previous",
        }
    }

    /// What a tick does, given whether the previous run is still going.
    pub fn decide(self, previous_running: bool) -> TickAction {
        match (self, previous_running) {
            (_, false) | (Overlap::Allow, true) => TickAction::Start,
            (Overlap::Skip, true) => TickAction::Skip,
            (Overlap::CancelPrevious, true) => TickAction::CancelThenStart,
        }
    }
}

/// What one tick does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickAction {
    Start,
    Skip,
    CancelThenStart,
}

/// Check a schedule's `input` the way a run's input is checked when it is
/// submitted: a JSON object. `at` names it in the message.
pub fn check_input(input: Value, at: &str) -> Result<Map<String, Value>, String> {
    match input {
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "{at} must be a mapping, as a run's input is a JSON object; found {}",
            crate::template::type_name(&other)
        )),
    }
}

/// Parse a five-field cron expression (minute, hour, day of month, month,
/// day of week); seconds and years are refused, so `* * * * * *` is not
/// silently read as every second.
pub fn parse_cron(expression: &str) -> Result<croner::Cron, String> {
    use croner::parser::{CronParser, Seconds, Year};
    let fields = expression.split_whitespace().count();
    if !expression.trim_start().starts_with('@') && fields != 5 {
        return Err(format!(
            "`{expression}` has {fields} fields; a cron expression has five: \
             minute, hour, day of month, month, day of week"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|e| format!("`{expression}` is not a cron expression: {e}"))
}

impl Schedule {
    /// The first tick strictly after `after`; `None` if the expression never
    /// matches again (`0 0 30 2 *`).
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        match &self.cadence {
            Cadence::Every(period) => {
                let since = millis(after);
                let step = period.as_millis().max(1);
                Some(from_millis((since / step + 1) * step))
            }
            Cadence::Cron { cron, .. } => {
                let at = Timestamp::try_from(after)
                    .ok()?
                    .to_zoned(self.timezone.tz.clone());
                let next = cron.find_next_occurrence(&at, false).ok()?;
                Some(SystemTime::from(next.timestamp()))
            }
        }
    }

    /// The latest tick `t` with `since < t <= now`: the one a server
    /// starting at `now` makes up for, when `since` was the last tick fired.
    pub fn latest_missed(&self, since: SystemTime, now: SystemTime) -> Option<SystemTime> {
        let latest = match &self.cadence {
            Cadence::Every(period) => {
                let step = period.as_millis().max(1);
                from_millis(millis(now) / step * step)
            }
            Cadence::Cron { cron, .. } => {
                let at = Timestamp::try_from(now)
                    .ok()?
                    .to_zoned(self.timezone.tz.clone());
                let previous = cron.find_previous_occurrence(&at, true).ok()?;
                SystemTime::from(previous.timestamp())
            }
        };
        (latest > since).then_some(latest)
    }

    /// The tick to fire at once on start: the latest missed since `last`
    /// (the last tick any replica fired), with `catch_up` on. Nothing for a
    /// schedule that never fired: there is nothing to catch up with.
    pub fn catch_up_at(&self, last: Option<SystemTime>, now: SystemTime) -> Option<SystemTime> {
        if !self.catch_up {
            return None;
        }
        self.latest_missed(last?, now)
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cadence::Cron { expression, .. } => write!(f, "cron {expression}"),
            Cadence::Every(period) => write!(f, "every {}", humantime::format_duration(*period)),
        }
    }
}

fn millis(at: SystemTime) -> u128 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn from_millis(ms: u128) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
