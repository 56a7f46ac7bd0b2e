//! Prometheus metrics of `maestro serve`, in the text exposition format.
//! Run and step figures are counted as runs finish; service actor figures
//! (breaker, restarts, calls in flight) are read from the actors per scrape.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::runtime::{RunReport, RunStatus, ServiceHealth, report::StepOutcome};

/// Upper bounds (seconds) of the latency buckets: 1 ms to 1 min.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// A cumulative latency histogram with fixed buckets.
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, value: Duration) {
        let secs = value.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Counts {
    runs: BTreeMap<(String, RunStatus), u64>,
    run_seconds: BTreeMap<String, Histogram>,
    step_seconds: BTreeMap<(String, String), Histogram>,
    /// By service: calls made, and those of them that were retries.
    attempts: BTreeMap<String, u64>,
    retries: BTreeMap<String, u64>,
    compensations: BTreeMap<(String, bool), u64>,
}

/// Everything `/metrics` reports that is not read from the actors.
#[derive(Debug, Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
    /// Client connections: opened under the cap, closed, refused past it.
    connections_opened: AtomicU64,
    connections_closed: AtomicU64,
    connections_refused: AtomicU64,
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunGauges {
    pub running: usize,
    pub queued: usize,
}

impl Metrics {
    /// A client connection was taken under `--max-connections`.
    pub fn connection_opened(&self) {
        self.connections_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection taken under the cap closed.
    pub fn connection_closed(&self) {
        self.connections_closed.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection past the cap was answered 503 (or closed unread).
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    fn render_connections(&self, out: &mut String) {
        let opened = self.connections_opened.load(Ordering::Relaxed);
        let closed = self.connections_closed.load(Ordering::Relaxed);
        header(
            out,
            "maestro_http_connections_open",
            "gauge",
            "Client connections open under --max-connections.",
        );
        let _ = writeln!(
            out,
            "maestro_http_connections_open {}",
            opened.saturating_sub(closed)
        );
        header(
            out,
            "maestro_http_connections_refused_total",
            "counter",
            "Client connections past --max-connections, answered 503 or closed.",
        );
        let refused = self.connections_refused.load(Ordering::Relaxed);
        let _ = writeln!(out, "maestro_http_connections_refused_total {refused}");
    }

    /// Count a finished run: its status, latency, and each step's figures.
    pub fn run_finished(&self, report: &RunReport) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *c.runs
            .entry((report.workflow.clone(), report.status))
            .or_default() += 1;
        c.run_seconds
            .entry(report.workflow.clone())
            .or_default()
            .observe(report.duration);
        for step in &report.steps {
            if step.attempts == 0 {
                continue;
            }
            *c.attempts.entry(step.service.clone()).or_default() += u64::from(step.attempts);
            *c.retries.entry(step.service.clone()).or_default() +=
                u64::from(step.attempts.saturating_sub(1));
            if matches!(
                step.outcome,
                StepOutcome::Ok | StepOutcome::Compensated | StepOutcome::CompensationFailed
            ) {
                c.step_seconds
                    .entry((report.workflow.clone(), step.id.clone()))
                    .or_default()
                    .observe(step.duration);
            }
        }
        for comp in &report.compensations {
            *c.compensations
                .entry((report.workflow.clone(), comp.ok))
                .or_default() += 1;
        }
    }

    /// The whole exposition.
    pub fn render(&self, runs: RunGauges, services: &[ServiceHealth]) -> String {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "maestro_runs_total",
            "counter",
            "Finished runs by workflow and final status.",
        );
        for ((workflow, status), n) in &c.runs {
            let _ = writeln!(
                out,
                "maestro_runs_total{{workflow=\"{}\",status=\"{}\"}} {n}",
                escape(workflow),
                status.label()
            );
        }
        header(
            &mut out,
            "maestro_runs_in_flight",
            "gauge",
            "Runs executing now.",
        );
        let _ = writeln!(out, "maestro_runs_in_flight {}", runs.running);
        header(
            &mut out,
            "maestro_runs_queued",
            "gauge",
            "Runs accepted and waiting for a slot.",
        );
        let _ = writeln!(out, "maestro_runs_queued {}", runs.queued);
        header(
            &mut out,
            "maestro_run_duration_seconds",
            "histogram",
            "Run latency, from start to final state.",
        );
        for (workflow, h) in &c.run_seconds {
            h.write(
                &mut out,
                "maestro_run_duration_seconds",
                &format!("workflow=\"{}\"", escape(workflow)),
            );
        }
        header(
            &mut out,
            "maestro_step_duration_seconds",
            "histogram",
            "Step latency over all its attempts, for steps that completed.",
        );
        for ((workflow, step), h) in &c.step_seconds {
            let labels = format!(
                "workflow=\"{}\",step=\"{}\"",
                escape(workflow),
                escape(step)
            );
            h.write(&mut out, "maestro_step_duration_seconds", &labels);
        }
        header(
            &mut out,
            "maestro_attempts_total",
            "counter",
            "Calls made to a service by steps of finished runs.",
        );
        for (service, n) in &c.attempts {
            let _ = writeln!(
                out,
                "maestro_attempts_total{{service=\"{}\"}} {n}",
                escape(service)
            );
        }
        header(
            &mut out,
            "maestro_retries_total",
            "counter",
            "Calls that were retries of an earlier attempt.",
        );
        for (service, n) in &c.retries {
            let _ = writeln!(
                out,
                "maestro_retries_total{{service=\"{}\"}} {n}",
                escape(service)
            );
        }
        header(
            &mut out,
            "maestro_compensations_total",
            "counter",
            "Compensations replayed, by outcome.",
        );
        for ((workflow, ok), n) in &c.compensations {
            let outcome = if *ok { "ok" } else { "failed" };
            let _ = writeln!(
                out,
                "maestro_compensations_total{{workflow=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(workflow)
            );
        }
        drop(c);
        self.render_connections(&mut out);
        render_services(&mut out, services);
        out
    }
}

fn render_services(out: &mut String, services: &[ServiceHealth]) {
    let label = |s: &ServiceHealth| {
        format!(
            "service=\"{}\",endpoint=\"{}\"",
            escape(&s.name),
            escape(&s.endpoint)
        )
    };
    header(
        out,
        "maestro_service_actor_up",
        "gauge",
        "1 while the service actor is alive.",
    );
    for s in services {
        let _ = writeln!(
            out,
            "maestro_service_actor_up{{{}}} {}",
            label(s),
            u8::from(s.alive)
        );
    }
    header(
        out,
        "maestro_service_actor_restarts_total",
        "counter",
        "Restarts of the service actor by its supervisor.",
    );
    for s in services {
        let _ = writeln!(
            out,
            "maestro_service_actor_restarts_total{{{}}} {}",
            label(s),
            s.restarts
        );
    }
    header(
        out,
        "maestro_service_calls_in_flight",
        "gauge",
        "Calls the service actor has in flight.",
    );
    for s in services {
        let _ = writeln!(
            out,
            "maestro_service_calls_in_flight{{{}}} {}",
            label(s),
            s.in_flight
        );
    }
    header(
        out,
        "maestro_breaker_state",
        "gauge",
        "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
    );
    for s in services {
        let value = match s.breaker.as_deref() {
            Some("open") => 2,
            Some("half_open") => 1,
            _ => 0,
        };
        let _ = writeln!(out, "maestro_breaker_state{{{}}} {value}", label(s));
    }
    header(
        out,
        "maestro_breaker_transitions_total",
        "counter",
        "Circuit breaker transitions, by the state entered.",
    );
    for s in services {
        let t = s.transitions;
        for (to, n) in [
            ("open", t.opened),
            ("half_open", t.half_opened),
            ("closed", t.closed),
        ] {
            let _ = writeln!(
                out,
                "maestro_breaker_transitions_total{{{},to=\"{to}\"}} {n}",
                label(s)
            );
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(120));
        let mut out = String::new();
        h.write(&mut out, "x", "w=\"a\"");
        assert!(out.contains("x_bucket{w=\"a\",le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{w=\"a\",le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{w=\"a\",le=\"60\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{w=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{w=\"a\"} 3\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_sample_line_follows_its_type_header() {
        let metrics = Metrics::default();
        let text = metrics.render(
            RunGauges {
                running: 2,
                queued: 1,
            },
            &[],
        );
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(
                    declared.iter().any(|d| name.starts_with(d.as_str())),
                    "{name} has no TYPE line"
                );
            }
        }
        assert!(text.contains("maestro_runs_in_flight 2\n"));
        assert!(text.contains("maestro_runs_queued 1\n"));
    }
}
