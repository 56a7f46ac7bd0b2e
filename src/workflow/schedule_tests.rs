use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;

fn at(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).unwrap()
}

fn cron(expression: &str, zone: &str) -> Schedule {
    Schedule {
        cadence: Cadence::Cron {
            expression: expression.into(),
            cron: Box::new(parse_cron(expression).unwrap()),
        },
        timezone: Zone::named(zone).unwrap(),
        input: Map::new(),
        overlap: Overlap::Skip,
        catch_up: true,
    }
}

fn every(period: Duration) -> Schedule {
    Schedule {
        cadence: Cadence::Every(period),
        timezone: Zone::utc(),
        input: Map::new(),
        overlap: Overlap::Skip,
        catch_up: true,
    }
}

#[test]
fn a_cron_tick_comes_strictly_after_the_given_time() {
    let s = cron("*/5 * * * *", "UTC");
    assert_eq!(
        s.next_after(at("2026-03-01T10:02:30Z")),
        Some(at("2026-03-01T10:05:00Z"))
    );
    // On a tick, the next one, not the same.
    assert_eq!(
        s.next_after(at("2026-03-01T10:05:00Z")),
        Some(at("2026-03-01T10:10:00Z"))
    );
}

#[test]
fn a_cron_expression_is_read_in_its_time_zone_across_daylight_saving() {
    let s = cron("0 9 * * *", "Europe/Paris");
    // Winter: 09:00 in Paris is 08:00 UTC.
    assert_eq!(
        s.next_after(at("2026-03-27T12:00:00Z")),
        Some(at("2026-03-28T08:00:00Z"))
    );
    // Summer time began on 29 March 2026: 09:00 in Paris is 07:00 UTC.
    assert_eq!(
        s.next_after(at("2026-03-28T12:00:00Z")),
        Some(at("2026-03-29T07:00:00Z"))
    );
}

#[test]
fn every_ticks_on_multiples_of_its_period_whatever_the_start() {
    let s = every(Duration::from_secs(600));
    assert_eq!(
        s.next_after(at("2026-03-01T10:02:30.123Z")),
        Some(at("2026-03-01T10:10:00Z"))
    );
    assert_eq!(
        s.next_after(at("2026-03-01T10:10:00Z")),
        Some(at("2026-03-01T10:20:00Z"))
    );
}

#[test]
fn the_latest_missed_tick_is_made_up_once_not_each_missed_one() {
    let s = every(Duration::from_secs(60));
    // Down from 10:00:30 to 10:05:10: ticks 10:01 .. 10:05 were missed.
    assert_eq!(
        s.catch_up_at(Some(at("2026-03-01T10:00:00Z")), at("2026-03-01T10:05:10Z")),
        Some(at("2026-03-01T10:05:00Z"))
    );
    let c = cron("0 * * * *", "UTC");
    assert_eq!(
        c.catch_up_at(Some(at("2026-03-01T07:00:00Z")), at("2026-03-01T10:59:59Z")),
        Some(at("2026-03-01T10:00:00Z"))
    );
}

#[test]
fn nothing_is_made_up_when_no_tick_was_missed_or_catch_up_is_off() {
    let mut s = every(Duration::from_secs(60));
    let fired = at("2026-03-01T10:05:00Z");
    assert_eq!(s.catch_up_at(Some(fired), at("2026-03-01T10:05:59Z")), None);
    assert_eq!(s.catch_up_at(None, at("2026-03-01T10:05:59Z")), None);
    s.catch_up = false;
    assert_eq!(s.catch_up_at(Some(fired), at("2026-03-01T11:00:00Z")), None);
}

#[test]
fn overlap_decides_what_a_tick_does_beside_a_run_still_going() {
    for overlap in [Overlap::Skip, Overlap::Allow, Overlap::CancelPrevious] {
        assert_eq!(overlap.decide(false), TickAction::Start);
    }
    assert_eq!(Overlap::Skip.decide(true), TickAction::Skip);
    assert_eq!(Overlap::Allow.decide(true), TickAction::Start);
    assert_eq!(
        Overlap::CancelPrevious.decide(true),
        TickAction::CancelThenStart
    );
    for name in Overlap::NAMES {
        assert_eq!(Overlap::parse(name).unwrap().label(), name);
    }
    assert_eq!(Overlap::default(), Overlap::Skip);
}

#[test]
fn only_five_field_expressions_are_cron() {
    assert!(parse_cron("*/5 * * * *").is_ok());
    assert!(parse_cron("0 9 * * MON-FRI").is_ok());
    let six = parse_cron("* * * * * *").unwrap_err();
    assert!(six.contains("has 6 fields"), "{six}");
    let bad = parse_cron("61 * * * *").unwrap_err();
    assert!(bad.contains("is not a cron expression"), "{bad}");
    assert!(Zone::named("Mars/Olympus").is_err());
}

#[test]
fn an_expression_that_never_matches_has_no_next_tick() {
    let s = cron("0 0 30 2 *", "UTC");
    assert_eq!(s.next_after(at("2026-03-01T00:00:00Z")), None);
}

#[test]
fn a_schedule_input_is_an_object_like_a_run_input() {
    assert!(check_input(json!({"report": "daily"}), "input").is_ok());
    let err = check_input(json!([1]), "schedules[0].input").unwrap_err();
    assert!(
        err.starts_with("schedules[0].input must be a mapping"),
        "{err}"
    );
}
