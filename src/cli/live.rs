//! The live timeline for a terminal: one row per step, redrawn in place
//! while the run goes on, so running steps show their time as it grows.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::escape;
use crate::run::{Phase, Recorded, RunState, StepState, Undo};
use crate::workflow::Workflow;

use super::timeline::{Labels, attempts_text, label};

/// Most rows a frame draws: moving back over more than a terminal holds
/// would scroll it. A loop's steps beyond it are counted on one line.
const MAX_ROWS: usize = 40;

/// The timeline for a terminal: one row per step, in workflow order, and a
/// last row for the run, all redrawn in place (ANSI cursor movement) on
/// every event and tick, so running steps show their time as it grows.
pub struct LiveTimeline {
    state: RunState,
    width: usize,
    /// Lines of the previous frame, to move back over.
    drawn: usize,
}

impl LiveTimeline {
    pub fn new(workflow: &Workflow) -> Self {
        let width = workflow.all_steps().map(|s| s.id.len()).max().unwrap_or(0);
        Self {
            state: RunState::new(workflow),
            width,
            drawn: 0,
        }
    }

    /// Takes one event into the rows.
    pub fn apply(&mut self, recorded: &Recorded) {
        // An event of a step the workflow does not have has no row.
        let _ = self.state.apply(recorded);
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
        let (shown, hidden) = self.rows();
        for step in &shown {
            let label = row_label(step, &Labels::of(&step.def));
            let _ = writeln!(out, "\r\x1b[2K{}", self.row_text(step, &label, now));
        }
        if hidden > 0 {
            let _ = writeln!(out, "\r\x1b[2K  … {hidden} more steps of loops");
        }
        let run = self
            .state
            .finished
            .as_ref()
            .map_or("running", |f| f.status.label());
        let _ = writeln!(out, "\r\x1b[2Krun {run}");
        out.push_str("\x1b[?7h");
        self.drawn = shown.len() + usize::from(hidden > 0) + 1;
        out
    }

    /// The rows to draw, and how many steps of loops were left out: every
    /// step outside a loop, and a loop's steps while the frame stays within
    /// [`MAX_ROWS`], else only those under way, failed or undone.
    fn rows(&self) -> (Vec<&StepState>, usize) {
        let all: Vec<&StepState> = self.state.in_order().collect();
        if all.len() <= MAX_ROWS {
            return (all, 0);
        }
        let in_loop = |s: &StepState| self.state.frames[s.frame].element.is_some();
        let telling = |s: &StepState| {
            !matches!(s.phase, Phase::NotRun | Phase::Completed | Phase::Skipped)
                || !matches!(s.undo, Undo::NotStarted)
        };
        let mut room = MAX_ROWS.saturating_sub(all.iter().filter(|s| !in_loop(s)).count());
        let mut hidden = 0;
        let shown = all
            .into_iter()
            .filter(|s| {
                let keep = !in_loop(s) || (telling(s) && room > 0);
                if in_loop(s) && keep {
                    room -= 1;
                }
                hidden += usize::from(!keep);
                keep
            })
            .collect();
        (shown, hidden)
    }

    fn row_text(&self, step: &StepState, label: &str, now: SystemTime) -> String {
        let (mark, state) = match (&step.undo, step.phase) {
            (Undo::Running { .. }, _) => ("↺", "compensating"),
            (Undo::Completed { .. }, _) => ("↺", "compensated"),
            (Undo::Failed { .. }, _) => ("✗", "compensation failed"),
            (_, Phase::NotRun) => (" ", "pending"),
            (_, Phase::Running) => ("…", "running"),
            (_, Phase::Waiting) => ("…", "waiting"),
            (_, Phase::Completed) => ("✓", "ok"),
            (_, Phase::Skipped) => ("-", "skipped"),
            (_, Phase::Failed) => ("✗", "failed"),
            (_, Phase::Cancelled) => ("✗", "cancelled"),
        };
        let mut text = format!("{mark} {:<w$}  {label}  {state}", step.id, w = self.width);
        if let Some(started) = step.started {
            let took = match step.phase.is_settled() {
                true => step.duration,
                false => now.duration_since(started).unwrap_or_default(),
            };
            let took = Duration::from_millis(took.as_millis().try_into().unwrap_or(u64::MAX));
            let _ = write!(text, "  {}  {took:.1?}", attempts_text(step.attempts));
        }
        if step.outcome_unknown {
            text.push_str("  (outcome unknown)");
        }
        if let Some(note) = note(step) {
            let _ = write!(text, "  {}", note.replace('\n', " "));
        }
        // Between the frame's own escape sequences, nothing from a service
        // or an input may move the cursor.
        escape::line(&text).into_owned()
    }
}

/// The undo's service and request once it started, else the step's.
fn row_label(step: &StepState, labels: &Labels) -> String {
    let undo_request = match &step.undo {
        Undo::NotStarted => None,
        Undo::Running { request }
        | Undo::Completed { request, .. }
        | Undo::Failed { request, .. } => Some(request.as_deref()),
    };
    match (undo_request, &labels.undo) {
        (Some(sent), Some(undo)) => label(Some(undo), sent),
        _ => label(Some(&labels.forward), step.request.as_deref()),
    }
}

/// The row's last error: its compensation's, else its own.
fn note(step: &StepState) -> Option<String> {
    let attempt_failed = |(n, error): &(u32, String)| format!("attempt {n} failed: {error}");
    match (&step.undo, step.phase) {
        (Undo::Failed { error, .. }, _) => Some(error.clone()),
        (_, _) if step.undo_failure.is_some() => step.undo_failure.as_ref().map(attempt_failed),
        (_, Phase::Failed) => step.error.clone(),
        _ => step.last_failure.as_ref().map(attempt_failed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::RunEvent;
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
                output: serde_json::Value::Null.into(),
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
    fn a_long_loop_draws_its_steps_under_way_and_counts_the_others() {
        let yaml = r#"
name: live
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: all
    foreach: "{{ .input.items }}"
    concurrency: 2
    steps:
      - {id: put, service: api, method: "POST /put"}
"#;
        let workflow = load_str(yaml, "live.yaml", &|_| None).expect("valid");
        let mut live = LiveTimeline::new(&workflow);
        let items = vec![serde_json::Value::Null; 100];
        let step = "all".to_owned();
        live.apply(&event(0, RunEvent::ForeachStarted { step, items }));
        live.apply(&event(
            1,
            RunEvent::AttemptStarted {
                step: "all[57]/put".into(),
                attempt: 1,
                idempotency_key: "k".into(),
                request: None,
            },
        ));
        let frame = live.frame(at(10));
        assert!(
            frame.contains("all[57]/put"),
            "the element under way is drawn"
        );
        assert!(
            !frame.contains("all[3]/put"),
            "pending elements are counted"
        );
        assert!(frame.contains("… 99 more steps of loops"));
        // The loop, the element under way, the count and the run's line.
        assert_eq!(frame.matches("\x1b[2K").count(), 4);
        assert!(live.frame(at(20)).starts_with("\x1b[?7l\x1b[4A"));
    }

    #[test]
    fn rows_show_the_requests_sent_and_the_undos_own_call() {
        let yaml = r#"
name: live
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: reserve
    service: api
    method: "POST /reserve/{{ .input.sku }}"
    output: r
    compensate:
      method: "DELETE /reservations/{{ .r.id }}"
"#;
        let workflow = load_str(yaml, "live.yaml", &|_| None).expect("valid");
        let mut live = LiveTimeline::new(&workflow);
        assert!(
            live.frame(at(0))
                .contains("api POST /reserve/{{ .input.sku }}  pending")
        );
        live.apply(&event(
            0,
            RunEvent::AttemptStarted {
                step: "reserve".into(),
                attempt: 1,
                idempotency_key: "k".into(),
                request: Some("POST /reserve/A%2F1".into()),
            },
        ));
        assert!(
            live.frame(at(5))
                .contains("api POST /reserve/A%2F1  running")
        );
        live.apply(&event(
            10,
            RunEvent::CompensationStarted {
                step: "reserve".into(),
                attempt: 1,
                request: Some("DELETE /reservations/r1".into()),
            },
        ));
        assert!(
            live.frame(at(20))
                .contains("↺ reserve  api DELETE /reservations/r1  compensating")
        );
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
            RunEvent::CompensationAttemptFailed {
                step: "reserve".into(),
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
