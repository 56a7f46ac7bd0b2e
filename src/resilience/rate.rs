//! A service's call rate (`100/s`, `600/m`, `1000/h`) and the token bucket
//! that paces calls to it: the bucket holds one token, refilled every
//! period / N, so calls start that far apart and no period sees more than N.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

/// The most calls a rate may allow per period: past a million a second,
/// the spacing (under a microsecond) paces nothing.
pub const MAX_RATE_CALLS: u32 = 1_000_000;

/// `N/s`, `N/m` or `N/h`: at most N calls started per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    calls: NonZeroU32,
    per: Per,
}

/// The period of a [`Rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Second,
    Minute,
    Hour,
}

impl Per {
    fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Per::Second => 1,
            Per::Minute => 60,
            Per::Hour => 3600,
        })
    }

    fn unit(self) -> &'static str {
        match self {
            Per::Second => "s",
            Per::Minute => "m",
            Per::Hour => "h",
        }
    }
}

/// Why a text is not a rate; the decoder adds where it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("`{0}` is not a rate")]
    Shape(String),
    #[error("`{0}` lets no call through")]
    Zero(String),
    #[error("`{text}` allows more than {MAX_RATE_CALLS} calls per period")]
    TooMany { text: String },
    #[error("`{text}` has an unknown period `{unit}`")]
    Period { text: String, unit: String },
}

impl Rate {
    /// N calls per `per`; `None` for zero or more than [`MAX_RATE_CALLS`].
    pub fn new(calls: u32, per: Per) -> Option<Rate> {
        let calls = NonZeroU32::new(calls).filter(|n| n.get() <= MAX_RATE_CALLS)?;
        Some(Rate { calls, per })
    }

    /// The time between two calls' starts: the period divided by N.
    pub fn interval(self) -> Duration {
        self.per.duration() / self.calls.get()
    }
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Rate, RateError> {
        let owned = || text.to_owned();
        let (calls, unit) = text
            .split_once('/')
            .ok_or_else(|| RateError::Shape(owned()))?;
        let (calls, unit) = (calls.trim(), unit.trim());
        if calls.is_empty() || !calls.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RateError::Shape(owned()));
        }
        let per = match unit {
            "s" => Per::Second,
            "m" => Per::Minute,
            "h" => Per::Hour,
            _ => {
                let unit = unit.to_owned();
                return Err(RateError::Period {
                    text: owned(),
                    unit,
                });
            }
        };
        // All digits: only an overflow fails to parse, and that is too many.
        let calls: u64 = calls.parse().unwrap_or(u64::MAX);
        match calls {
            0 => Err(RateError::Zero(owned())),
            n if n > u64::from(MAX_RATE_CALLS) => Err(RateError::TooMany { text: owned() }),
            n => Ok(Rate::new(n as u32, per).expect("checked above")),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.calls, self.per.unit())
    }
}

/// A token bucket of one token for a [`Rate`]: each call reserves the
/// next start, so calls waiting for the bucket go in the order they asked.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    interval: Duration,
    /// When the token is next there; `None` before the first call.
    next: Option<Instant>,
}

impl TokenBucket {
    pub fn new(rate: Rate) -> TokenBucket {
        TokenBucket {
            interval: rate.interval(),
            next: None,
        }
    }

    /// The instant a call asking at `now` may start, taken from the bucket
    /// if it comes within `patience`. `Err` is the wait it would have
    /// needed; the bucket is then left as it was.
    pub fn reserve(&mut self, now: Instant, patience: Duration) -> Result<Instant, Duration> {
        let at = self.next.map_or(now, |next| next.max(now));
        let wait = at - now;
        if wait > patience {
            return Err(wait);
        }
        self.next = Some(at + self.interval);
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(text: &str) -> Rate {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn rates_parse_per_second_minute_and_hour() {
        assert_eq!(rate("100/s").interval(), Duration::from_millis(10));
        assert_eq!(rate("600/m").interval(), Duration::from_millis(100));
        assert_eq!(rate("7/h").interval(), Duration::from_secs(3600) / 7);
        assert_eq!(rate(" 5 / s ").to_string(), "5/s");
        assert_eq!(rate("1000000/s").interval(), Duration::from_micros(1));
    }

    #[test]
    fn what_is_not_a_rate_says_why() {
        let err = |text: &str| text.parse::<Rate>().unwrap_err().to_string();
        assert_eq!(err("fast"), "`fast` is not a rate");
        assert_eq!(err("1.5/s"), "`1.5/s` is not a rate");
        assert_eq!(err("-1/s"), "`-1/s` is not a rate");
        assert_eq!(err("/s"), "`/s` is not a rate");
        assert_eq!(err("0/s"), "`0/s` lets no call through");
        assert_eq!(err("10/d"), "`10/d` has an unknown period `d`");
        assert_eq!(
            err("1000001/s"),
            "`1000001/s` allows more than 1000000 calls per period"
        );
        assert_eq!(
            err("99999999999999999999999/s"),
            "`99999999999999999999999/s` allows more than 1000000 calls per period"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_call_goes_at_once_and_the_next_one_interval_later() {
        let mut bucket = TokenBucket::new(rate("10/s"));
        let t0 = Instant::now();
        let patience = Duration::from_secs(1);
        assert_eq!(bucket.reserve(t0, patience), Ok(t0));
        let second = t0 + Duration::from_millis(100);
        assert_eq!(bucket.reserve(t0, patience), Ok(second));
        assert_eq!(
            bucket.reserve(t0, patience),
            Ok(second + Duration::from_millis(100))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_keeps_one_token_not_a_burst() {
        let mut bucket = TokenBucket::new(rate("10/s"));
        let t0 = Instant::now();
        assert_eq!(bucket.reserve(t0, Duration::ZERO), Ok(t0));
        tokio::time::advance(Duration::from_secs(5)).await;
        let later = Instant::now();
        let patience = Duration::from_secs(1);
        assert_eq!(bucket.reserve(later, patience), Ok(later));
        // Five idle seconds saved nothing: the next call waits its interval.
        let next = later + Duration::from_millis(100);
        assert_eq!(bucket.reserve(later, patience), Ok(next));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_patience_is_refused_and_takes_nothing() {
        let mut bucket = TokenBucket::new(rate("2/s"));
        let t0 = Instant::now();
        assert_eq!(bucket.reserve(t0, Duration::ZERO), Ok(t0));
        let patience = Duration::from_millis(499);
        assert_eq!(
            bucket.reserve(t0, patience),
            Err(Duration::from_millis(500))
        );
        // The refusal reserved nothing: the next caller gets the same start.
        let half = t0 + Duration::from_millis(500);
        assert_eq!(bucket.reserve(t0, Duration::from_millis(500)), Ok(half));
        tokio::time::advance(Duration::from_millis(600)).await;
        let now = Instant::now();
        assert_eq!(
            bucket.reserve(now, Duration::ZERO),
            Err(Duration::from_millis(400))
        );
        assert_eq!(
            bucket.reserve(now, Duration::from_secs(1)),
            Ok(t0 + Duration::from_secs(1))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_period_sees_more_than_n_starts() {
        let mut bucket = TokenBucket::new(rate("5/s"));
        let t0 = Instant::now();
        let starts: Vec<Instant> = (0..23)
            .map(|i| {
                let asked = t0 + Duration::from_millis(37 * i);
                bucket
                    .reserve(asked, Duration::from_secs(60))
                    .expect("patient")
            })
            .collect();
        for (i, start) in starts.iter().enumerate() {
            let window = starts[i..]
                .iter()
                .take_while(|s| **s < *start + Duration::from_secs(1))
                .count();
            assert!(window <= 5, "{window} starts within a second of start {i}");
        }
    }
}
