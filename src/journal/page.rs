//! Pages of the newest-first listing of runs: what a page asks for, and the
//! opaque cursor naming where the previous page ended. Keyset paging on
//! (creation time, run id): a page costs the same at any depth.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::run::RunStatus;

use super::JournalError;

/// Longest cursor accepted: the longest this version makes (a hex
/// encoding of 20 digits of nanoseconds, a colon and the run id).
pub const MAX_CURSOR_CHARS: usize = 2 * (20 + 1 + MAX_CURSOR_RUN_ID);
/// Longest run id a cursor may name.
const MAX_CURSOR_RUN_ID: usize = 128;

/// A place in the listing: the runs after it are older, or as old with a
/// smaller id. Ordered as the listing is (derived: time, then id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub created_at: SystemTime,
    pub run_id: String,
}

/// What one page of the listing asks for.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Runs on the page at most.
    pub limit: usize,
    /// Only runs after this place (older), when given.
    pub after: Option<Cursor>,
    pub workflow: Option<String>,
    /// A journal does not tell queued from running: both match its
    /// unfinished runs.
    pub status: Option<RunStatus>,
    /// Runs created at or after this moment.
    pub since: Option<SystemTime>,
    /// Runs created before this moment.
    pub until: Option<SystemTime>,
    /// Runs whose id starts with this.
    pub id_prefix: Option<String>,
}

impl RunQuery {
    /// The `limit` newest runs.
    pub fn newest(limit: usize) -> Self {
        RunQuery {
            limit,
            ..RunQuery::default()
        }
    }

    /// Whether a run created at `created_at` with id `run_id` is in the
    /// time range and id prefix asked (the filters the journal applies too).
    pub fn admits(&self, created_at: SystemTime, run_id: &str) -> bool {
        self.since.is_none_or(|since| created_at >= since)
            && self.until.is_none_or(|until| created_at < until)
            && self
                .id_prefix
                .as_deref()
                .is_none_or(|prefix| run_id.starts_with(prefix))
    }

    /// The status label to select in the journal, if any.
    pub(crate) fn stored_status(&self) -> Option<&'static str> {
        self.status.map(|s| match s {
            RunStatus::Queued | RunStatus::Running => RunStatus::Running.label(),
            other => other.label(),
        })
    }
}

fn bad(why: &str) -> JournalError {
    JournalError::BadCursor(why.to_string())
}

impl Cursor {
    /// The cursor as a client carries it: hex, so it needs no escaping in a
    /// URL and invites no parsing.
    pub fn encode(&self) -> String {
        let since = self
            .created_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let plain = format!("{}:{}", since.as_nanos(), self.run_id);
        plain.bytes().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    }

    /// Read back a cursor made by [`Cursor::encode`].
    pub fn decode(text: &str) -> Result<Cursor, JournalError> {
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if text.len() > MAX_CURSOR_CHARS {
            return Err(bad(&format!(
                "it is longer than {MAX_CURSOR_CHARS} characters"
            )));
        }
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("it is not one this server gave"));
        }
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect();
        let plain = String::from_utf8(bytes).map_err(|_| bad("it is not one this server gave"))?;
        let (nanos, run_id) = plain
            .split_once(':')
            .ok_or_else(|| bad("it is not one this server gave"))?;
        let nanos: u64 = nanos
            .parse()
            .map_err(|_| bad("it is not one this server gave"))?;
        if run_id.is_empty()
            || run_id.len() > MAX_CURSOR_RUN_ID
            || run_id.chars().any(char::is_control)
        {
            return Err(bad("it names no possible run"));
        }
        Ok(Cursor {
            created_at: SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos),
            run_id: run_id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(nanos: u64, id: &str) -> Cursor {
        Cursor {
            created_at: SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos),
            run_id: id.to_string(),
        }
    }

    #[test]
    fn a_cursor_reads_back_as_made() {
        for c in [
            cursor(
                1_767_225_600_123_456_789,
                "0197a3b2-7c1d-7e4f-8a9b-0c1d2e3f4a5b",
            ),
            cursor(0, "r"),
            cursor(5, "a:b"),
        ] {
            let text = c.encode();
            assert!(text.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
            assert_eq!(Cursor::decode(&text).unwrap(), c);
        }
    }

    #[test]
    fn cursors_order_as_the_listing() {
        assert!(cursor(1, "b") < cursor(2, "a"));
        assert!(cursor(1, "a") < cursor(1, "b"));
    }

    #[test]
    fn a_cursor_not_made_here_is_refused_with_a_reason() {
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        let long = "ab".repeat(MAX_CURSOR_CHARS);
        for (text, why) in [
            ("", "empty"),
            ("zz", "not one this server gave"),
            ("abc", "not one this server gave"),
            (long.as_str(), "longer than"),
            (&hex("12"), "not one this server gave"),
            (&hex("x:run"), "not one this server gave"),
            (&hex("-1:run"), "not one this server gave"),
            (
                &hex("99999999999999999999999:run"),
                "not one this server gave",
            ),
            (&hex("12:"), "names no possible run"),
            (&hex("12:a\u{1b}[2J"), "names no possible run"),
            (
                &hex(&format!("12:{}", "r".repeat(129))),
                "names no possible run",
            ),
            ("ff", "not one this server gave"),
        ] {
            let error = Cursor::decode(text).expect_err(text).to_string();
            assert!(error.contains(why), "{text}: {error}");
            assert!(error.contains("next_cursor"), "{error}");
        }
    }

    #[test]
    fn queued_and_running_both_select_unfinished_runs() {
        let status = |s| RunQuery {
            status: Some(s),
            ..RunQuery::newest(1)
        };
        assert_eq!(status(RunStatus::Queued).stored_status(), Some("running"));
        assert_eq!(status(RunStatus::Running).stored_status(), Some("running"));
        assert_eq!(
            status(RunStatus::Cancelled).stored_status(),
            Some("cancelled")
        );
        assert_eq!(RunQuery::newest(1).stored_status(), None);
    }
}
