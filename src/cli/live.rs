//! The live timeline for a terminal: one row per step, redrawn in place
//! while the run goes on, so running steps show their time as it grows.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::escape;
use crate::runtime::report::method_label;
use crate::runtime::{Recorded, RunEvent};
use crate::workflow::Workflow;

use super::timeline::attempts_text;

/// Where a step stands, as its live row shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowState {
    Pending,
    Running,
    Ok,
    Skipped,
    Failed,
    Cancelled,
    Compensating,
    Compensated,
    CompensationFailed,
}

struct Row {
    id: String,
    label: String,
    state: RowState,
    started: Option<SystemTime>,
    /// When the step stopped running; its row then shows a fixed duration.
    ended: Option<SystemTime>,
    attempts: u32,
    /// The last failed attempt or the outcome's error, on one line.
    note: String,
    outcome_unknown: bool,
}

/// The timeline for a terminal: one row per step, in workflow order, and a
/// last row for the run, all redrawn in place (ANSI cursor movement) on
/// every event and tick, so running steps show their time as it grows.
pub struct LiveTimeline {
    rows: Vec<Row>,
    width: usize,
    run: String,
    /// Lines of the previous frame, to move back over.
    drawn: usize,
}

impl LiveTimeline {
    pub fn new(workflow: &Workflow) -> Self {
        let rows: Vec<Row> = workflow
            .all_steps()
            .map(|s| Row {
                id: s.id.clone(),
                label: format!("{} {}", s.service, method_label(&s.call)),
                state: RowState::Pending,
                started: None,
                ended: None,
                attempts: 0,
                note: String::new(),
                outcome_unknown: false,
            })
            .collect();
        let width = rows.iter().map(|r| r.id.len()).max().unwrap_or(0);
        Self {
            rows,
            width,
            run: "running".into(),
            drawn: 0,
        }
    }

    /// Takes one event into the rows.
    pub fn apply(&mut self, recorded: &Recorded) {
        let at = recorded.at;
        let row = |rows: &[Row], step: &str| -> Option<usize> {
            let step = step.strip_suffix(".compensate").unwrap_or(step);
            rows.iter().position(|r| r.id == step)
        };
        let Some(i) = (match &recorded.event {
            RunEvent::RunFinished { status, .. } => {
                self.run = serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                return;
            }
            RunEvent::RunStarted { .. } | RunEvent::RunResumed | RunEvent::RunHalted { .. } => {
                return;
            }
            RunEvent::StepSkipped { step }
            | RunEvent::AttemptStarted { step, .. }
            | RunEvent::AttemptFailed { step, .. }
            | RunEvent::StepCompleted { step, .. }
            | RunEvent::StepFailed { step, .. }
            | RunEvent::StepCancelled { step, .. }
            | RunEvent::CompensationStarted { step, .. }
            | RunEvent::CompensationCompleted { step, .. }
            | RunEvent::CompensationFailed { step, .. } => row(&self.rows, step),
        }) else {
            return;
        };
        let row = &mut self.rows[i];
        match &recorded.event {
            RunEvent::StepSkipped { .. } => row.state = RowState::Skipped,
            RunEvent::AttemptStarted { attempt, .. } => {
                row.state = RowState::Running;
                row.attempts = *attempt;
                row.started.get_or_insert(at);
            }
            RunEvent::AttemptFailed { attempt, error, .. } => {
                row.note = format!("attempt {attempt} failed: {error}");
            }
            RunEvent::StepCompleted { attempts, .. } => {
                (row.state, row.attempts, row.ended) = (RowState::Ok, *attempts, Some(at));
                row.note.clear();
            }
            RunEvent::StepFailed {
                attempts,
                error,
                outcome_unknown,
                ..
            } => {
                (row.state, row.attempts, row.ended) = (RowState::Failed, *attempts, Some(at));
                row.note = error.clone();
                row.outcome_unknown = *outcome_unknown;
            }
            RunEvent::StepCancelled {
                outcome_unknown, ..
            } => {
                (row.state, row.ended) = (RowState::Cancelled, Some(at));
                row.outcome_unknown = *outcome_unknown;
            }
            RunEvent::CompensationStarted { .. } => row.state = RowState::Compensating,
            RunEvent::CompensationCompleted { .. } => row.state = RowState::Compensated,
            RunEvent::CompensationFailed { error, .. } => {
                row.state = RowState::CompensationFailed;
                row.note = error.clone();
            }
            RunEvent::RunStarted { .. }
            | RunEvent::RunResumed
            | RunEvent::RunHalted { .. }
            | RunEvent::RunFinished { .. } => {}
        }
    }

    /// The next frame: back over the previous one, then every row again.
    /// Line wrapping is off while drawing, so that a row wider than the
    /// terminal is clipped instead of taking two lines the next frame would
    /// not move back over.
    pub fn frame(&mut self, now: SystemTime) -> String {
        let mut out = String::from("\x1b[?7l");
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        for row in &self.rows {
            let _ = writeln!(out, "\r\x1b[2K{}", self.row_text(row, now));
        }
        let _ = writeln!(out, "\r\x1b[2Krun {}", self.run);
        out.push_str("\x1b[?7h");
        self.drawn = self.rows.len() + 1;
        out
    }

    fn row_text(&self, row: &Row, now: SystemTime) -> String {
        let (mark, state) = match row.state {
            RowState::Pending => (" ", "pending"),
            RowState::Running => ("…", "running"),
            RowState::Ok => ("✓", "ok"),
            RowState::Skipped => ("-", "skipped"),
            RowState::Failed => ("✗", "failed"),
            RowState::Cancelled => ("✗", "cancelled"),
            RowState::Compensating => ("↺", "compensating"),
            RowState::Compensated => ("↺", "compensated"),
            RowState::CompensationFailed => ("✗", "compensation failed"),
        };
        let mut text = format!(
            "{mark} {:<w$}  {}  {state}",
            row.id,
            row.label,
            w = self.width
        );
        if let Some(started) = row.started {
            let took = row
                .ended
                .unwrap_or(now)
                .duration_since(started)
                .unwrap_or_default();
            let took = Duration::from_millis(took.as_millis().try_into().unwrap_or(u64::MAX));
            let _ = write!(text, "  {}  {took:.1?}", attempts_text(row.attempts));
        }
        if row.outcome_unknown {
            text.push_str("  (outcome unknown)");
        }
        if !row.note.is_empty() {
            let _ = write!(text, "  {}", row.note.replace('\n', " "));
        }
        // Between the frame's own escape sequences, nothing from a service
        // or an input may move the cursor.
        escape::line(&text).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::load_str;

    const WORKFLOW: &str = r#"
name: live
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: reserve
    service: api
    method: "POST /reserve"
  - id: charge
    service: api
    method: "POST /charge"
"#;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn event(ms: u64, event: RunEvent) -> Recorded {
        Recorded { at: at(ms), event }
    }

    #[test]
    fn rows_are_redrawn_in_place_with_the_latest_state() {
        let workflow = load_str(WORKFLOW, "live.yaml", &|_| None).expect("valid");
        let mut live = LiveTimeline::new(&workflow);
        live.apply(&event(
            0,
            RunEvent::AttemptStarted {
                step: "reserve".into(),
                attempt: 1,
                idempotency_key: "k".into(),
                request: None,
            },
        ));
        let first = live.frame(at(1500));
        assert!(!first.contains("\x1b[3A"), "nothing to move back over yet");
        assert!(first.contains("… reserve  api POST /reserve  running  1 attempt  1.5s"));
        assert!(first.contains("  charge   api POST /charge  pending"));
        assert!(first.contains("run running"));

        live.apply(&event(
            1600,
            RunEvent::AttemptFailed {
                step: "reserve".into(),
                attempt: 1,
                class: crate::transport::FailureClass::Retryable,
                error: "503\nbusy".into(),
            },
        ));
        live.apply(&event(
            2000,
            RunEvent::StepCompleted {
                step: "reserve".into(),
                attempts: 2,
                output: serde_json::Value::Null,
            },
        ));
        live.apply(&event(
            2100,
            RunEvent::RunFinished {
                status: crate::runtime::RunStatus::Succeeded,
                output: None,
                error: None,
            },
        ));
        let second = live.frame(at(9000));
        assert!(second.starts_with("\x1b[?7l\x1b[3A"), "back over 3 lines");
        assert!(second.ends_with("\x1b[?7h"), "wrapping on again");
        assert!(second.contains("✓ reserve  api POST /reserve  ok  2 attempts  2.0s\n"));
        assert!(second.contains("run succeeded"));
        assert_eq!(second.matches("\x1b[2K").count(), 3, "each line cleared");
    }

    #[test]
    fn compensation_retries_and_failures_show_on_their_steps_row() {
        let workflow = load_str(WORKFLOW, "live.yaml", &|_| None).expect("valid");
        let mut live = LiveTimeline::new(&workflow);
        live.apply(&event(
            0,
            RunEvent::CompensationStarted {
                step: "reserve".into(),
                attempt: 1,
                request: None,
            },
        ));
        live.apply(&event(
            5,
            RunEvent::AttemptFailed {
                step: "reserve.compensate".into(),
                attempt: 1,
                class: crate::transport::FailureClass::Retryable,
                error: "503".into(),
            },
        ));
        assert!(
            live.frame(at(10))
                .contains("↺ reserve  api POST /reserve  compensating  attempt 1 failed: 503")
        );
        live.apply(&event(
            20,
            RunEvent::CompensationFailed {
                step: "reserve".into(),
                attempts: 3,
                error: "gave up".into(),
            },
        ));
        assert!(
            live.frame(at(30))
                .contains("✗ reserve  api POST /reserve  compensation failed  gave up")
        );
    }
}
