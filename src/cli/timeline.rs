//! The step timeline `maestro execute` writes to stderr: one line per step
//! outcome, retry and compensation, printed as the events happen, or, on a
//! terminal, one row per step redrawn in place while the run goes on.

use std::io::Write;

use serde_json::{Map, Value};

use crate::escape;
use crate::resilience::FailureClass;
use crate::run::{Recorded, RunEvent, RunState, Undo};
use crate::runtime::report::{RunReport, StepOutcome, method_label};
use crate::workflow::{OnFailure, Step, Workflow};

/// Turns events into lines, reading each step's timing and the requests
/// sent from the run's state as the events leave it.
pub struct Timeline {
    state: RunState,
    width: usize,
}

/// A step's service and method as written, going forward and undoing:
/// shown until a request was sent.
pub(super) struct Labels {
    pub forward: (String, String),
    pub undo: Option<(String, String)>,
    /// `on_failure: continue`: its failure does not stop the run.
    goes_on: bool,
}

impl Labels {
    pub fn of(s: &Step) -> Self {
        Labels {
            forward: (s.service_name().to_owned(), s.label()),
            undo: s
                .compensation()
                .map(|c| (c.service.clone(), method_label(&c.call))),
            goes_on: s.on_failure == OnFailure::Continue,
        }
    }
}

impl Timeline {
    pub fn new(workflow: &Workflow) -> Self {
        let width = workflow.all_steps().map(|s| s.id.len()).max().unwrap_or(0);
        Self {
            state: RunState::new(workflow),
            width,
        }
    }

    /// The line for one event, if it deserves one; what services and
    /// inputs put in it is escaped for a terminal.
    pub fn line(&mut self, recorded: &Recorded) -> Option<String> {
        // A step the workflow does not have is still printed, untimed.
        let _ = self.state.apply(recorded);
        let line = self.raw_line(recorded)?;
        Some(escape::lines(&line).into_owned())
    }

    fn raw_line(&self, recorded: &Recorded) -> Option<String> {
        Some(match &recorded.event {
            RunEvent::StepCompleted { step, attempts, .. } => {
                // A sleep or a wait makes no attempt.
                let detail = match attempts {
                    0 => format!("  {}", self.took(step)),
                    n => format!("  {}  {}", attempts_text(*n), self.took(step)),
                };
                self.row("✓", step, "ok", &detail)
            }
            RunEvent::StepSkipped { step } => self.row("-", step, "skipped", ""),
            RunEvent::TimerStarted { step, until } => {
                let detail = format!("  until {}", humantime::format_rfc3339_seconds(*until));
                self.row("…", step, "sleeping", &detail)
            }
            RunEvent::WaitStarted {
                step,
                signal,
                until,
            } => {
                let mut detail = format!("  for signal `{signal}`");
                if let Some(until) = until {
                    let until = humantime::format_rfc3339_seconds(*until);
                    detail.push_str(&format!(" until {until}"));
                }
                let run = &self.state.run_id;
                detail.push_str(&format!("\n    send it: maestro signal {run} {signal}"));
                self.row("…", step, "waiting", &detail)
            }
            RunEvent::ForeachStarted { step, items } => {
                let detail = format!("  {} element(s)", items.len());
                self.row("…", step, "looping", &detail)
            }
            RunEvent::WorkflowStarted { step, .. } => self.row("…", step, "started", ""),
            RunEvent::SignalReceived { name, .. } => format!("  signal `{name}` received"),
            RunEvent::AttemptFailed {
                step,
                attempt,
                class,
                error,
            } => format!(
                "  ! {step} attempt {attempt} failed ({}): {error}",
                class_label(*class)
            ),
            RunEvent::CompensationAttemptFailed {
                step,
                attempt,
                class,
                error,
            } => format!(
                "  ! {step} compensation attempt {attempt} failed ({}): {error}",
                class_label(*class)
            ),
            RunEvent::StepFailed {
                step,
                attempts,
                error,
                outcome_unknown,
            } => self.failed_row(step, *attempts, error, *outcome_unknown),
            RunEvent::StepCancelled {
                step,
                outcome_unknown,
            } => self.row("✗", step, "cancelled", unknown_text(*outcome_unknown)),
            RunEvent::CompensationCompleted { step, attempts } => {
                let detail = format!("  {}", attempts_text(*attempts));
                self.undo_row("↺", step, "compensated", &detail)
            }
            RunEvent::CompensationFailed {
                step,
                attempts,
                error,
            } => {
                let detail = format!("  {}\n    error: {error}", attempts_text(*attempts));
                self.undo_row("✗", step, "compensation failed", &detail)
            }
            // The failure summary says why a run halted.
            RunEvent::RunStarted { .. }
            | RunEvent::RunParked { .. }
            | RunEvent::AttemptStarted { .. }
            | RunEvent::CompensationStarted { .. }
            | RunEvent::RunHalted { .. } => return None,
            RunEvent::RunResumed => "  resumed from the journal".into(),
            RunEvent::CompensationsRetried => "  failed compensations tried again".into(),
            RunEvent::RunFinished { status, .. } => format!("run {}", status.label()),
        })
    }

    /// A step that failed for good: whether the run stops, and why.
    fn failed_row(&self, step: &str, attempts: u32, error: &str, unknown: bool) -> String {
        let detail = format!(
            "  {}  {}{}\n    error: {error}",
            attempts_text(attempts),
            self.took(step),
            unknown_text(unknown)
        );
        let goes_on = self.labels(step).is_some_and(|l| l.goes_on);
        let what = if goes_on {
            "failed, run goes on"
        } else {
            "failed"
        };
        self.row("✗", step, what, &detail)
    }

    /// A row of the step going forward: the request it sent, or its method
    /// as written before any was sent.
    fn row(&self, mark: &str, step: &str, outcome: &str, detail: &str) -> String {
        let labels = self.labels(step);
        let sent = self.state.step(step).and_then(|s| s.request.as_deref());
        let label = label(labels.as_ref().map(|l| &l.forward), sent);
        self.compose(mark, step, &label, outcome, detail)
    }

    /// A row of the step's compensation: its own service and request.
    fn undo_row(&self, mark: &str, step: &str, outcome: &str, detail: &str) -> String {
        let labels = self.labels(step);
        let sent = self.state.step(step).and_then(|s| match &s.undo {
            Undo::Completed { request, .. } | Undo::Failed { request, .. } => request.as_deref(),
            Undo::Running { request } => request.as_deref(),
            Undo::NotStarted => None,
        });
        let label = label(labels.as_ref().and_then(|l| l.undo.as_ref()), sent);
        self.compose(mark, step, &label, outcome, detail)
    }

    /// Step `step`'s labels, at any depth.
    fn labels(&self, step: &str) -> Option<Labels> {
        self.state.step(step).map(|s| Labels::of(&s.def))
    }

    fn compose(&self, mark: &str, step: &str, label: &str, outcome: &str, detail: &str) -> String {
        format!(
            "{mark} {step:<w$}  {label}  {outcome}{detail}",
            w = self.width
        )
    }

    /// How long the step ran, from its first attempt to its outcome.
    fn took(&self, step: &str) -> String {
        self.state
            .step(step)
            .filter(|s| s.started.is_some())
            .map(|s| format!("{:.1?}", s.duration))
            .unwrap_or_default()
    }
}

/// `service request-as-sent`, else `service method-as-written`.
pub(super) fn label(written: Option<&(String, String)>, sent: Option<&str>) -> String {
    match (written, sent) {
        (Some((service, _)), Some(sent)) => format!("{service} {sent}"),
        (Some((service, method)), None) => format!("{service} {method}"),
        (None, Some(sent)) => sent.to_owned(),
        (None, None) => String::new(),
    }
}

/// What the JSON form of a timeline line carries besides its text: the
/// event as journaled, without the run's input or a step's output, which
/// may hold data that has no place in logs.
pub fn event_fields(recorded: &Recorded) -> Map<String, Value> {
    let mut fields = match serde_json::to_value(&recorded.event) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    fields.remove("input");
    fields.remove("output");
    fields
}

fn class_label(class: FailureClass) -> &'static str {
    match class {
        FailureClass::Retryable => "retryable",
        FailureClass::Permanent => "permanent",
        FailureClass::Unknown => "unknown",
    }
}

fn unknown_text(outcome_unknown: bool) -> &'static str {
    if outcome_unknown {
        "  (outcome unknown)"
    } else {
        ""
    }
}

pub(super) fn attempts_text(attempts: u32) -> String {
    match attempts {
        1 => "1 attempt".into(),
        n => format!("{n} attempts"),
    }
}

/// After a failed run: what ran, what was undone, and what could not be.
pub fn write_failure_summary(out: &mut impl Write, report: &RunReport) -> std::io::Result<()> {
    if let Some(error) = &report.error {
        writeln!(out, "error: {}", escape::lines(error))?;
    }
    let ran: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| !matches!(s.outcome, StepOutcome::NotRun | StepOutcome::Skipped))
        .map(|s| s.id.as_str())
        .collect();
    writeln!(out, "steps that ran: {}", list(&ran))?;
    let undone: Vec<&str> = report
        .compensations
        .iter()
        .filter(|c| c.ok)
        .map(|c| c.step.as_str())
        .collect();
    writeln!(out, "compensated (in order): {}", list(&undone))?;
    for c in report.compensations.iter().filter(|c| !c.ok) {
        writeln!(
            out,
            "NOT undone: {}: {}",
            c.step,
            escape::lines(c.error.as_deref().unwrap_or("unknown error"))
        )?;
    }
    Ok(())
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
