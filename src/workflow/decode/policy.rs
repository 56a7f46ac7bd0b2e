//! `retry` and `circuit_breaker` blocks. A step's `retry` may set only some
//! fields: they are merged over its service's policy.

use std::time::Duration;

use super::{Cx, Fields, scalar};
use crate::resilience::{BackoffKind, BreakerConfig, RetryPolicy};
use crate::workflow::suggest;
use crate::workflow::yaml::Node;

pub(crate) const RETRY_FIELDS: &[&str] = &[
    "attempts",
    "backoff",
    "initial_interval",
    "max_interval",
    "multiplier",
    "jitter",
];

pub(crate) const BREAKER_FIELDS: &[&str] =
    &["failure_threshold", "reset_timeout", "half_open_max_calls"];

/// Decode a `retry` block over `base`: fields it leaves out keep `base`'s
/// values. `None` when any field is wrong.
pub fn retry(cx: &mut Cx<'_>, node: &Node, path: &str, base: &RetryPolicy) -> Option<RetryPolicy> {
    let before = cx.count();
    let f = Fields::open(cx, node, path, "a retry policy", RETRY_FIELDS)?;
    let mut policy = base.clone();
    if let Some(n) = f.get("attempts") {
        let why = "`attempts` counts the first call too; `attempts: 1` means no retry";
        policy.attempts =
            scalar::count(cx, n, &f.path("attempts"), 1, why).unwrap_or(policy.attempts);
    }
    if let Some(n) = f.get("backoff") {
        policy.backoff = backoff(cx, n, &f.path("backoff")).unwrap_or(policy.backoff);
    }
    let interval = |cx: &mut Cx<'_>, key: &str, current: Duration| {
        f.get(key)
            .and_then(|n| scalar::duration(cx, n, &f.path(key)))
            .unwrap_or(current)
    };
    policy.initial_interval = interval(cx, "initial_interval", policy.initial_interval);
    policy.max_interval = interval(cx, "max_interval", policy.max_interval);
    if let Some(n) = f.get("multiplier")
        && let Some(m) = scalar::number(cx, n, &f.path("multiplier"))
    {
        if m < 1.0 {
            cx.report(
                n.pos(),
                &f.path("multiplier"),
                format!("must be at least 1, got {m}"),
                Some("below 1 each retry would wait less than the one before".into()),
            );
        }
        policy.multiplier = m;
    }
    if let Some(n) = f.get("jitter")
        && let Some(j) = scalar::number(cx, n, &f.path("jitter"))
    {
        if !(0.0..=1.0).contains(&j) {
            cx.report(
                n.pos(),
                &f.path("jitter"),
                format!("must be between 0 and 1, got {j}"),
                Some("the fraction of each delay that is randomised: 0.2 is ±20%".into()),
            );
        }
        policy.jitter = j;
    }
    if policy.max_interval < policy.initial_interval {
        cx.report(
            f.pos(),
            path,
            format!(
                "`max_interval` ({}) is shorter than `initial_interval` ({})",
                humantime::format_duration(policy.max_interval),
                humantime::format_duration(policy.initial_interval)
            ),
            Some("`max_interval` caps every delay, the first one included".into()),
        );
    }
    (cx.count() == before).then_some(policy)
}

fn backoff(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<BackoffKind> {
    match scalar::string(cx, node, path)? {
        "exponential" => Some(BackoffKind::Exponential),
        "constant" => Some(BackoffKind::Constant),
        other => {
            let hint = suggest::did_you_mean(other, ["exponential", "constant"])
                .unwrap_or_else(|| "`exponential` or `constant`".into());
            cx.report(
                node.pos(),
                path,
                format!("unknown backoff `{other}`"),
                Some(hint),
            );
            None
        }
    }
}

/// Decode a `circuit_breaker` block over the defaults.
pub fn breaker(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<BreakerConfig> {
    let before = cx.count();
    let f = Fields::open(cx, node, path, "a circuit breaker", BREAKER_FIELDS)?;
    let mut config = BreakerConfig::default();
    if let Some(n) = f.get("failure_threshold") {
        let why = "the circuit opens after this many failures in a row";
        config.failure_threshold = scalar::count(cx, n, &f.path("failure_threshold"), 1, why)
            .unwrap_or(config.failure_threshold);
    }
    if let Some(n) = f.get("reset_timeout") {
        config.reset_timeout = scalar::positive_duration(cx, n, &f.path("reset_timeout"))
            .unwrap_or(config.reset_timeout);
    }
    if let Some(n) = f.get("half_open_max_calls") {
        let why = "a half-open circuit must let at least one probe through";
        config.half_open_max_calls = scalar::count(cx, n, &f.path("half_open_max_calls"), 1, why)
            .unwrap_or(config.half_open_max_calls);
    }
    (cx.count() == before).then_some(config)
}
