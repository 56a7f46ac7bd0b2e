//! The service actors' part of `/metrics`: liveness, restarts, calls in
//! flight, the breaker, and the waits under declared limits, each sample
//! labelled by service and endpoint (user name and password hidden).

use crate::resilience::BreakerPhase;
use crate::runtime::ServiceHealth;

use super::metrics::{escape, family};

fn label(s: &ServiceHealth) -> String {
    format!(
        "service=\"{}\",endpoint=\"{}\"",
        escape(&s.name),
        escape(&s.endpoint)
    )
}

/// Every service actor's figures.
pub(super) fn render(out: &mut String, services: &[ServiceHealth]) {
    let each =
        |value: fn(&ServiceHealth) -> u64| services.iter().map(move |s| (label(s), value(s)));
    let help = "1 while the service actor is alive.";
    family(
        out,
        "maestro_service_actor_up",
        "gauge",
        help,
        each(|s| u64::from(s.alive)),
    );
    let help = "Restarts of the service actor by its supervisor.";
    let restarts = each(|s| u64::from(s.restarts));
    family(
        out,
        "maestro_service_actor_restarts_total",
        "counter",
        help,
        restarts,
    );
    let help = "Calls the service actor has in flight.";
    let in_flight = each(|s| s.in_flight as u64);
    family(
        out,
        "maestro_service_calls_in_flight",
        "gauge",
        help,
        in_flight,
    );
    let help = "Circuit breaker state: 0 closed, 1 half-open, 2 open.";
    let state = each(|s| match s.breaker {
        Some(BreakerPhase::Open) => 2,
        Some(BreakerPhase::HalfOpen) => 1,
        Some(BreakerPhase::Closed) | None => 0,
    });
    family(out, "maestro_breaker_state", "gauge", help, state);
    let transitions = services.iter().flat_map(|s| {
        let t = s.transitions;
        [
            ("open", t.opened),
            ("half_open", t.half_opened),
            ("closed", t.closed),
        ]
        .map(|(to, n)| (format!("{},to=\"{to}\"", label(s)), n))
    });
    let help = "Circuit breaker transitions, by the state entered.";
    family(
        out,
        "maestro_breaker_transitions_total",
        "counter",
        help,
        transitions,
    );
    render_limits(out, services);
}

/// Waits under `concurrency` and `rate`, for the services that declare one.
fn render_limits(out: &mut String, services: &[ServiceHealth]) {
    let limited = || {
        services
            .iter()
            .filter_map(|s| s.limits.as_ref().map(|l| (label(s), l)))
    };
    let help = "Calls waiting now for a free slot under the service's concurrency.";
    let queued = limited().map(|(labels, l)| (labels, l.queued));
    family(out, "maestro_service_limit_queued", "gauge", help, queued);
    let help = "Calls that waited for the service's concurrency or rate.";
    let waits = limited().map(|(labels, l)| (labels, l.waits));
    family(
        out,
        "maestro_service_limit_waits_total",
        "counter",
        help,
        waits,
    );
    let help = "Time calls spent waiting for the service's concurrency or rate.";
    let seconds = limited().map(|(labels, l)| (labels, l.wait_seconds));
    let name = "maestro_service_limit_wait_seconds_total";
    family(out, name, "counter", help, seconds);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::TransitionCounts;
    use crate::runtime::limit::LimitHealth;

    fn health(name: &str, limits: Option<LimitHealth>) -> ServiceHealth {
        ServiceHealth {
            name: name.into(),
            endpoint: "http://127.0.0.1:1".into(),
            alive: true,
            restarts: 0,
            breaker: Some(BreakerPhase::Closed),
            in_flight: 5,
            pool_size: 0,
            transitions: TransitionCounts::default(),
            limits,
        }
    }

    #[test]
    fn waits_and_queue_are_shown_for_services_with_limits_only() {
        let limits = LimitHealth {
            concurrency: Some(5),
            rate: Some("100/s".into()),
            queued: 7,
            waits: 12,
            wait_seconds: 1.5,
        };
        let mut out = String::new();
        render(
            &mut out,
            &[health("api", Some(limits)), health("free", None)],
        );
        let labels = "service=\"api\",endpoint=\"http://127.0.0.1:1\"";
        for sample in [
            format!("maestro_service_limit_queued{{{labels}}} 7\n"),
            format!("maestro_service_limit_waits_total{{{labels}}} 12\n"),
            format!("maestro_service_limit_wait_seconds_total{{{labels}}} 1.5\n"),
        ] {
            assert!(out.contains(&sample), "{sample} in {out}");
        }
        assert!(
            !out.lines()
                .any(|l| l.starts_with("maestro_service_limit") && l.contains("free")),
            "{out}"
        );
    }
}
