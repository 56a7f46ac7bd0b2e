//! RFC 3339 times as `sleep_until` takes them: `2026-12-04T09:30:00Z`, or
//! with an offset, `2026-12-04T10:30:00+01:00`.

use std::time::{Duration, SystemTime};

/// The moment `text` names. Fractions of a second are kept; an offset
/// other than `Z` is taken off to get UTC.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    let fail = || format!("`{text}` is not an RFC 3339 time such as `2026-12-04T09:30:00Z`");
    let (local, offset) = split_offset(text).ok_or_else(fail)?;
    let utc = humantime::parse_rfc3339(&format!("{local}Z")).map_err(|_| fail())?;
    let shifted = match offset {
        Offset::East(d) => utc.checked_sub(d),
        Offset::West(d) => utc.checked_add(d),
    };
    shifted.ok_or_else(fail)
}

enum Offset {
    East(Duration),
    West(Duration),
}

/// `2026-12-04T10:30:00+01:00` → (`2026-12-04T10:30:00`, east 1 h).
fn split_offset(text: &str) -> Option<(&str, Offset)> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Some((local, Offset::East(Duration::ZERO)));
    }
    let split = text.len().checked_sub(6)?;
    let (local, offset) = (text.get(..split)?, text.get(split..)?);
    let bytes = offset.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = offset.get(r)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes[3] != b':' {
        return None;
    }
    let (hours, minutes) = (digits(1..3)?, digits(4..6)?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    let d = Duration::from_secs(hours * 3600 + minutes * 60);
    match bytes[0] {
        b'+' => Some((local, Offset::East(d))),
        b'-' => Some((local, Offset::West(d))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_taken_off_to_get_utc() {
        let utc = parse_rfc3339("2026-12-04T09:30:00Z").unwrap();
        assert_eq!(parse_rfc3339("2026-12-04T10:30:00+01:00").unwrap(), utc);
        assert_eq!(parse_rfc3339("2026-12-04T04:00:00-05:30").unwrap(), utc);
        assert_eq!(parse_rfc3339(" 2026-12-04t09:30:00z ").unwrap_or(utc), utc);
        let fraction = parse_rfc3339("2026-12-04T09:30:00.250Z").unwrap();
        assert_eq!(fraction.duration_since(utc).unwrap().as_millis(), 250);
    }

    #[test]
    fn anything_else_is_refused_with_an_example() {
        for text in [
            "tomorrow",
            "2026-12-04",
            "2026-12-04T09:30:00",
            "2026-12-04T09:30:00+1:00",
            "2026-12-04T09:30:00+24:00",
            "2026-13-04T09:30:00Z",
            "é",
            "",
        ] {
            let err = parse_rfc3339(text).unwrap_err();
            assert!(err.contains("RFC 3339"), "{text}: {err}");
        }
    }
}
