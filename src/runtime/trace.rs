//! A run's events folded into its spans: the run, each step and each
//! compensation, exported as each ends. Attempts are the transport's client
//! spans; those a stopped process left open are closed here on resume.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::telemetry::{self, KeyValue, RunTrace, SpanKind, SpanRecord};

use super::events::{Recorded, RunEvent, RunStatus};
use super::log::Observer;

/// Open spans of one run, by what the events say.
#[derive(Debug)]
pub struct SpanFold {
    trace: RunTrace,
    workflow: String,
    run_id: String,
    started: Option<SystemTime>,
    steps: HashMap<String, SystemTime>,
    compensations: HashMap<String, SystemTime>,
    /// Attempts announced and not yet ended: (step, compensation) to the
    /// start of each attempt by number.
    attempts: HashMap<(String, bool), BTreeMap<u32, SystemTime>>,
}

impl SpanFold {
    pub fn new(trace: RunTrace, workflow: &str, run_id: &str) -> Self {
        Self {
            trace,
            workflow: workflow.to_owned(),
            run_id: run_id.to_owned(),
            started: None,
            steps: HashMap::new(),
            compensations: HashMap::new(),
            attempts: HashMap::new(),
        }
    }

    /// Take `recorded` into account; the spans it ends.
    pub fn apply(&mut self, recorded: &Recorded) -> Vec<SpanRecord> {
        let at = recorded.at;
        match &recorded.event {
            RunEvent::RunStarted { .. } => self.started = Some(at),
            RunEvent::RunResumed => return self.interrupted(at),
            RunEvent::StepSkipped { step } => {
                let mut span = self.span(format!("step {step}"), self.trace.step(step), at, at);
                span.attributes
                    .push(KeyValue::new("maestro.step", step.clone()));
                span.attributes
                    .push(KeyValue::new("maestro.step.skipped", true));
                return vec![span];
            }
            RunEvent::AttemptStarted { step, attempt, .. } => {
                self.steps.entry(step.clone()).or_insert(at);
                self.opened(step, false, *attempt, at);
            }
            RunEvent::AttemptFailed { step, attempt, .. } => self.closed(step, false, *attempt),
            RunEvent::CompensationStarted { step, attempt, .. } => {
                self.compensations.entry(step.clone()).or_insert(at);
                self.opened(step, true, *attempt, at);
            }
            RunEvent::CompensationAttemptFailed { step, attempt, .. } => {
                self.closed(step, true, *attempt);
            }
            RunEvent::StepCompleted { step, attempts, .. } => {
                return self.step_ended(step, false, *attempts, at, None);
            }
            RunEvent::StepFailed {
                step,
                attempts,
                error,
                ..
            } => return self.step_ended(step, false, *attempts, at, Some(error.clone())),
            RunEvent::StepCancelled { step, .. } => {
                let error = Some("cancelled".to_owned());
                return self.step_ended(step, false, 0, at, error);
            }
            RunEvent::CompensationCompleted { step, attempts } => {
                return self.step_ended(step, true, *attempts, at, None);
            }
            RunEvent::CompensationFailed {
                step,
                attempts,
                error,
            } => return self.step_ended(step, true, *attempts, at, Some(error.clone())),
            // A sleep's or a wait's span runs from its start to its end.
            // So does a foreach's or a child workflow's, around its steps'.
            RunEvent::TimerStarted { step, .. }
            | RunEvent::WaitStarted { step, .. }
            | RunEvent::ForeachStarted { step, .. }
            | RunEvent::WorkflowStarted { step, .. } => {
                self.steps.entry(step.clone()).or_insert(at);
            }
            RunEvent::RunHalted { .. }
            | RunEvent::RunParked { .. }
            | RunEvent::SignalReceived { .. }
            | RunEvent::CompensationsRetried => {}
            RunEvent::RunFinished { status, error, .. } => {
                return vec![self.root(*status, error.clone(), at)];
            }
        }
        Vec::new()
    }

    fn opened(&mut self, step: &str, compensation: bool, attempt: u32, at: SystemTime) {
        let key = (step.to_owned(), compensation);
        self.attempts.entry(key).or_default().insert(attempt, at);
    }

    fn closed(&mut self, step: &str, compensation: bool, attempt: u32) {
        if let Some(open) = self.attempts.get_mut(&(step.to_owned(), compensation)) {
            open.remove(&attempt);
        }
    }

    /// A step or compensation has ended: its span, its attempts all over.
    fn step_ended(
        &mut self,
        step: &str,
        compensation: bool,
        attempts: u32,
        at: SystemTime,
        error: Option<String>,
    ) -> Vec<SpanRecord> {
        self.attempts.remove(&(step.to_owned(), compensation));
        let (open, name, id) = match compensation {
            false => (
                &mut self.steps,
                format!("step {step}"),
                self.trace.step(step),
            ),
            true => (
                &mut self.compensations,
                format!("compensate {step}"),
                self.trace.compensation(step),
            ),
        };
        // A step cancelled before its first attempt never began.
        let Some(start) = open.remove(step) else {
            return Vec::new();
        };
        let mut span = self.span(name, id, start, at);
        span.attributes
            .push(KeyValue::new("maestro.step", step.to_owned()));
        span.attributes
            .push(KeyValue::new("maestro.attempts", i64::from(attempts)));
        span.error = error;
        vec![span]
    }

    /// Attempts a stopped process had sent and never heard back from: each
    /// ends where the run was taken up again.
    fn interrupted(&mut self, at: SystemTime) -> Vec<SpanRecord> {
        let mut spans = Vec::new();
        for ((step, compensation), open) in std::mem::take(&mut self.attempts) {
            for (attempt, start) in open {
                let call = self.trace.call(&step, attempt, compensation);
                let name = match compensation {
                    false => format!("attempt {step}"),
                    true => format!("compensation attempt {step}"),
                };
                let mut span = self.span(name, call.span, start, at);
                span.kind = SpanKind::Client;
                span.parent = Some((call.parent, false));
                span.attributes
                    .push(KeyValue::new("maestro.step", step.clone()));
                span.attributes
                    .push(KeyValue::new("maestro.attempt", i64::from(attempt)));
                span.error = Some("the process stopped during this attempt".into());
                spans.push(span);
            }
        }
        spans.sort_by_key(|s| s.start);
        spans
    }

    fn root(&self, status: RunStatus, error: Option<String>, at: SystemTime) -> SpanRecord {
        let start = self.started.unwrap_or(at);
        let mut span = self.span(format!("run {}", self.workflow), self.trace.root, start, at);
        span.kind = SpanKind::Server;
        span.parent = self.trace.remote_parent.map(|p| (p, true));
        span.attributes.extend([
            KeyValue::new("maestro.workflow", self.workflow.clone()),
            KeyValue::new("maestro.run_id", self.run_id.clone()),
            KeyValue::new("maestro.run.status", status.label()),
        ]);
        if status != RunStatus::Succeeded {
            span.error = Some(error.unwrap_or_else(|| status.label().to_owned()));
        }
        span
    }

    /// A span under the run's root.
    fn span(
        &self,
        name: String,
        id: telemetry::SpanId,
        start: SystemTime,
        end: SystemTime,
    ) -> SpanRecord {
        SpanRecord {
            name,
            kind: SpanKind::Internal,
            trace_id: self.trace.trace_id,
            span_id: id,
            parent: Some((self.trace.root, false)),
            start,
            end,
            attributes: Vec::new(),
            error: None,
        }
    }
}

/// Exports a run's spans as its events are recorded, then hands each event
/// on to the next observer.
pub struct TraceObserver {
    fold: Mutex<SpanFold>,
    next: Option<Arc<dyn Observer>>,
}

impl TraceObserver {
    /// For a run whose log holds `past` already (resumed): their spans were
    /// the earlier process's to export; only what is still open is kept.
    pub fn new(mut fold: SpanFold, past: &[Recorded], next: Option<Arc<dyn Observer>>) -> Self {
        for recorded in past {
            let _theirs = fold.apply(recorded);
        }
        Self {
            fold: Mutex::new(fold),
            next,
        }
    }
}

impl Observer for TraceObserver {
    fn recorded(&self, seq: u64, recorded: &Recorded) {
        let ended = self
            .fold
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(recorded);
        ended.into_iter().for_each(telemetry::emit);
        if let Some(next) = &self.next {
            next.recorded(seq, recorded);
        }
    }
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
