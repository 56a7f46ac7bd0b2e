//! The step timeline `maestro execute` writes to stderr: one line per step
//! outcome, retry and compensation, printed as the events happen, or, on a
//! terminal, one row per step redrawn in place while the run goes on.

use std::collections::HashMap;
use std::io::Write;

use crate::escape;
use crate::resilience::FailureClass;
use crate::run::{Recorded, RunEvent, RunState};
use crate::runtime::report::{RunReport, StepOutcome, method_label};
use crate::workflow::Workflow;

/// Turns events into lines, reading each step's timing from the run's
/// state as the events leave it.
pub struct Timeline {
    labels: HashMap<String, String>,
    state: RunState,
    width: usize,
}

impl Timeline {
    pub fn new(workflow: &Workflow) -> Self {
        let labels: HashMap<String, String> = workflow
            .all_steps()
            .map(|s| {
                (
                    s.id.clone(),
                    format!("{} {}", s.service, method_label(&s.call)),
                )
            })
            .collect();
        let width = workflow.all_steps().map(|s| s.id.len()).max().unwrap_or(0);
        Self {
            labels,
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
                let detail = format!("  {}  {}", attempts_text(*attempts), self.took(step));
                self.row("✓", step, "ok", &detail)
            }
            RunEvent::StepSkipped { step } => self.row("-", step, "skipped", ""),
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
            } => {
                let detail = format!(
                    "  {}  {}{}\n    error: {error}",
                    attempts_text(*attempts),
                    self.took(step),
                    unknown_text(*outcome_unknown)
                );
                self.row("✗", step, "failed", &detail)
            }
            RunEvent::StepCancelled {
                step,
                outcome_unknown,
            } => self.row("✗", step, "cancelled", unknown_text(*outcome_unknown)),
            RunEvent::CompensationCompleted { step, attempts } => {
                let detail = format!("  {}", attempts_text(*attempts));
                self.row("↺", step, "compensated", &detail)
            }
            RunEvent::CompensationFailed {
                step,
                attempts,
                error,
            } => {
                let detail = format!("  {}\n    error: {error}", attempts_text(*attempts));
                self.row("✗", step, "compensation failed", &detail)
            }
            // The failure summary says why a run halted.
            RunEvent::RunStarted { .. }
            | RunEvent::AttemptStarted { .. }
            | RunEvent::CompensationStarted { .. }
            | RunEvent::RunHalted { .. } => return None,
            RunEvent::RunResumed => "  resumed from the journal".into(),
            RunEvent::RunFinished { status, .. } => format!("run {}", status.label()),
        })
    }

    fn row(&self, mark: &str, step: &str, outcome: &str, detail: &str) -> String {
        let label = self.labels.get(step).map(String::as_str).unwrap_or("");
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
