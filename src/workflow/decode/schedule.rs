//! `schedules:`: when `maestro serve` starts runs by itself. Each entry has
//! a `cron` expression or an `every` period, and what its runs get.

use serde_json::{Map, Value};

use super::{Cx, Fields, Pos, index, scalar};
use crate::workflow::InputSchema;
use crate::workflow::schedule::{
    Cadence, MIN_EVERY, Overlap, Schedule, Zone, check_input, parse_cron,
};
use crate::workflow::suggest;
use crate::workflow::yaml::{Kind, Node};

pub(crate) const SCHEDULE_FIELDS: &[&str] =
    &["cron", "every", "timezone", "input", "overlap", "catch_up"];

/// Decode the `schedules` list; `None` when any entry is wrong.
pub fn decode_all(
    cx: &mut Cx<'_>,
    node: &Node,
    schema: Option<&InputSchema>,
) -> Option<Vec<Schedule>> {
    let Kind::Seq(items) = &node.kind else {
        let found = node.found();
        cx.report(
            node.pos(),
            "schedules",
            format!("expected a list of schedules, found {found}"),
            Some("write `schedules:` then `- cron: \"*/5 * * * *\"` or `- every: 10m`".into()),
        );
        return None;
    };
    let before = cx.count();
    let schedules: Vec<Option<Schedule>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| decode_one(cx, item, &index("schedules", i), schema))
        .collect();
    if cx.count() != before {
        return None;
    }
    schedules.into_iter().collect()
}

fn decode_one(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    schema: Option<&InputSchema>,
) -> Option<Schedule> {
    let before = cx.count();
    let f = Fields::open(cx, node, path, "a schedule", SCHEDULE_FIELDS)?;
    let cadence = cadence(cx, &f, path);
    let timezone = match f.get("timezone") {
        Some(n) => scalar::string(cx, n, &f.path("timezone")).and_then(|name| {
            Zone::named(name)
                .map_err(|message| {
                    let hint = "an IANA name such as `UTC`, `Europe/Paris` or `America/New_York`";
                    cx.report(n.pos(), &f.path("timezone"), message, Some(hint.into()));
                })
                .ok()
        }),
        None => Some(Zone::utc()),
    };
    if let (Some(n), Some(Cadence::Every(_))) = (f.get("timezone"), &cadence) {
        cx.report(
            n.pos(),
            &f.path("timezone"),
            "`timezone` applies to `cron` only",
            Some("`every` ticks at whole multiples of its period, whatever the zone".into()),
        );
    }
    let input = match f.get("input") {
        Some(n) => check_input(n.to_json(), &f.path("input"))
            .map_err(|message| cx.error(n.pos(), &f.path("input"), message))
            .ok()
            .and_then(|input| with_schema(cx, schema, input, n.pos(), &f.path("input"))),
        None => with_schema(cx, schema, Default::default(), f.pos(), &f.path("input")),
    };
    let overlap = f
        .get("overlap")
        .and_then(|n| overlap(cx, n, &f.path("overlap")));
    let catch_up = match f.get("catch_up") {
        Some(n) => match n.kind {
            Kind::Bool(b) => Some(b),
            _ => {
                let found = n.found();
                cx.error(
                    n.pos(),
                    &f.path("catch_up"),
                    format!("expected `true` or `false`, found {found}"),
                );
                None
            }
        },
        None => Some(true),
    };
    if cx.count() != before {
        return None;
    }
    Some(Schedule {
        cadence: cadence?,
        timezone: timezone?,
        input: input?,
        overlap: overlap.unwrap_or_default(),
        catch_up: catch_up?,
    })
}

fn cadence(cx: &mut Cx<'_>, f: &Fields<'_>, path: &str) -> Option<Cadence> {
    match (f.get("cron"), f.get("every")) {
        (Some(_), Some(n)) => {
            cx.report(
                n.pos(),
                &f.path("every"),
                "a schedule has `cron` or `every`, not both",
                None,
            );
            None
        }
        (None, None) => {
            cx.report(
                f.pos(),
                path,
                "missing field `cron` or `every`",
                Some("`cron: \"*/5 * * * *\"` (five fields) or `every: 10m`".into()),
            );
            None
        }
        (Some(n), None) => {
            let expression = scalar::string(cx, n, &f.path("cron"))?;
            match parse_cron(expression) {
                Ok(cron) => Some(Cadence::Cron {
                    expression: expression.to_string(),
                    cron: Box::new(cron),
                }),
                Err(message) => {
                    let hint = "minute hour day-of-month month day-of-week, e.g. `0 9 * * MON-FRI`";
                    cx.report(n.pos(), &f.path("cron"), message, Some(hint.into()));
                    None
                }
            }
        }
        (None, Some(n)) => {
            let period = scalar::duration(cx, n, &f.path("every"))?;
            if period < MIN_EVERY || period.subsec_nanos() % 1_000_000 != 0 {
                cx.report(
                    n.pos(),
                    &f.path("every"),
                    format!(
                        "`every` must be at least {} and a whole number of milliseconds",
                        humantime::format_duration(MIN_EVERY)
                    ),
                    Some("each tick is claimed in the journal: `every: 1s` at the most".into()),
                );
                return None;
            }
            Some(Cadence::Every(period))
        }
    }
}

fn overlap(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Overlap> {
    let text = scalar::string(cx, node, path)?;
    Overlap::parse(text).or_else(|| {
        let hint = suggest::did_you_mean(text, Overlap::NAMES)
            .unwrap_or_else(|| "`skip`, `allow` or `cancel_previous`".into());
        cx.report(
            node.pos(),
            path,
            format!("unknown overlap `{text}`"),
            Some(hint),
        );
        None
    })
}

/// A schedule's input as its runs will see it: `input_schema`'s defaults
/// filled in, every violation reported where the input is written.
fn with_schema(
    cx: &mut Cx<'_>,
    schema: Option<&InputSchema>,
    input: Map<String, Value>,
    at: Pos,
    path: &str,
) -> Option<Map<String, Value>> {
    let Some(schema) = schema else {
        return Some(input);
    };
    match schema.apply(Value::Object(input)) {
        Ok(Value::Object(filled)) => Some(filled),
        Ok(_) => None,
        Err(rejected) => {
            for v in &rejected.violations {
                let message = format!("`input_schema` refuses it at `{}`: {}", v.path, v.message);
                cx.error(at, path, message);
            }
            None
        }
    }
}
