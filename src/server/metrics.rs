//! Prometheus metrics of `maestro serve`, in the text exposition format.
//! Run and step figures are counted as runs finish; service actor figures
//! (breaker, restarts, calls in flight, limits) are read from the actors per
//! scrape (`service_metrics.rs`).

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

/// Counted per finished run, under the names the run's report gives; kept
/// by workflow and by service so that counting a run copies no name that
/// was seen before.
#[derive(Debug, Default)]
struct Counts {
    workflows: BTreeMap<String, WorkflowCounts>,
    /// By service: calls made, and those of them that were retries.
    services: BTreeMap<String, ServiceCounts>,
}

#[derive(Debug, Default)]
struct WorkflowCounts {
    runs: BTreeMap<RunStatus, u64>,
    run_seconds: Histogram,
    step_seconds: BTreeMap<String, Histogram>,
    /// By outcome: failed, ok.
    compensations: BTreeMap<bool, u64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct ServiceCounts {
    attempts: u64,
    retries: u64,
}

/// The entry under `key`, made on first use: a name is copied only then.
fn entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
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
        let open = opened.saturating_sub(closed);
        let help = "Client connections open under --max-connections.";
        family(
            out,
            "maestro_http_connections_open",
            "gauge",
            help,
            [(String::new(), open)],
        );
        let refused = self.connections_refused.load(Ordering::Relaxed);
        let help = "Client connections past --max-connections, answered 503 or closed.";
        let samples = [(String::new(), refused)];
        family(
            out,
            "maestro_http_connections_refused_total",
            "counter",
            help,
            samples,
        );
    }

    /// Count a finished run: its status, latency, and each step's figures.
    pub fn run_finished(&self, report: &RunReport) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let Counts {
            workflows,
            services,
        } = &mut *c;
        let workflow = entry(workflows, &report.workflow);
        *workflow.runs.entry(report.status).or_default() += 1;
        workflow.run_seconds.observe(report.duration);
        for step in &report.steps {
            if step.attempts == 0 {
                continue;
            }
            let service = entry(services, &step.service);
            service.attempts += u64::from(step.attempts);
            service.retries += u64::from(step.attempts.saturating_sub(1));
            if matches!(
                step.outcome,
                StepOutcome::Ok | StepOutcome::Compensated | StepOutcome::CompensationFailed
            ) {
                entry(&mut workflow.step_seconds, &step.id).observe(step.duration);
            }
        }
        for comp in &report.compensations {
            *workflow.compensations.entry(comp.ok).or_default() += 1;
        }
    }

    /// The whole exposition.
    pub fn render(&self, runs: RunGauges, services: &[ServiceHealth]) -> String {
        let mut out = String::with_capacity(4096);
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        render_runs(&mut out, &c, runs);
        render_calls(&mut out, &c);
        drop(c);
        self.render_connections(&mut out);
        super::service_metrics::render(&mut out, services);
        out
    }
}

fn render_runs(out: &mut String, c: &Counts, runs: RunGauges) {
    let by_status = c.workflows.iter().flat_map(|(workflow, counts)| {
        let workflow = escape(workflow);
        let label = move |status: &RunStatus| {
            format!("workflow=\"{workflow}\",status=\"{}\"", status.label())
        };
        counts
            .runs
            .iter()
            .map(move |(status, n)| (label(status), *n))
    });
    let help = "Finished runs by workflow and final status.";
    family(out, "maestro_runs_total", "counter", help, by_status);
    let running = [(String::new(), runs.running)];
    family(
        out,
        "maestro_runs_in_flight",
        "gauge",
        "Runs executing now.",
        running,
    );
    let queued = [(String::new(), runs.queued)];
    let help = "Runs accepted and waiting for a slot.";
    family(out, "maestro_runs_queued", "gauge", help, queued);
    let name = "maestro_run_duration_seconds";
    header(
        out,
        name,
        "histogram",
        "Run latency, from start to final state.",
    );
    for (workflow, counts) in &c.workflows {
        let labels = format!("workflow=\"{}\"", escape(workflow));
        counts.run_seconds.write(out, name, &labels);
    }
    let name = "maestro_step_duration_seconds";
    let help = "Step latency over all its attempts, for steps that completed.";
    header(out, name, "histogram", help);
    for (workflow, counts) in &c.workflows {
        for (step, h) in &counts.step_seconds {
            let labels = format!(
                "workflow=\"{}\",step=\"{}\"",
                escape(workflow),
                escape(step)
            );
            h.write(out, name, &labels);
        }
    }
}

fn render_calls(out: &mut String, c: &Counts) {
    let by_service = |figure: fn(&ServiceCounts) -> u64| -> Vec<(String, u64)> {
        let label = |s: &String| format!("service=\"{}\"", escape(s));
        let samples = c.services.iter();
        samples
            .map(|(s, counts)| (label(s), figure(counts)))
            .collect()
    };
    let help = "Calls made to a service by steps of finished runs.";
    family(
        out,
        "maestro_attempts_total",
        "counter",
        help,
        by_service(|s| s.attempts),
    );
    let help = "Calls that were retries of an earlier attempt.";
    family(
        out,
        "maestro_retries_total",
        "counter",
        help,
        by_service(|s| s.retries),
    );
    let by_outcome = c.workflows.iter().flat_map(|(workflow, counts)| {
        let workflow = escape(workflow);
        let label = move |ok: bool| {
            let outcome = if ok { "ok" } else { "failed" };
            format!("workflow=\"{workflow}\",outcome=\"{outcome}\"")
        };
        let samples = counts.compensations.iter();
        samples.map(move |(ok, n)| (label(*ok), *n))
    });
    let help = "Compensations replayed, by outcome.";
    family(
        out,
        "maestro_compensations_total",
        "counter",
        help,
        by_outcome,
    );
}

/// One metric: its header, then a sample per label set (none: no braces).
pub(super) fn family<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, V)>,
) {
    header(out, name, kind, help);
    for (labels, value) in samples {
        let _ = match labels.is_empty() {
            true => writeln!(out, "{name} {value}"),
            false => writeln!(out, "{name}{{{labels}}} {value}"),
        };
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values escape backslash, double quote and newline.
pub(super) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
