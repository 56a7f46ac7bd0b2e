//! What a run did, derived from its event log alone: each step's outcome,
//! attempts, duration and error, each compensation, and the run's status.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::workflow::{Call, Workflow};

use super::events::{Recorded, RunEvent, RunStatus};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunReport {
    pub run_id: String,
    pub workflow: String,
    pub status: RunStatus,
    /// The workflow's output, once it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Human-readable, e.g. `1s 250ms`.
    #[serde(serialize_with = "as_millis")]
    #[schema(value_type = String, example = "1s 250ms")]
    pub duration: Duration,
    pub steps: Vec<StepRecord>,
    pub compensations: Vec<CompensationRecord>,
}

/// How far a step got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    NotRun,
    Running,
    Ok,
    Skipped,
    Failed,
    Cancelled,
    Compensated,
    CompensationFailed,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepRecord {
    pub id: String,
    pub service: String,
    pub method: String,
    pub outcome: StepOutcome,
    pub attempts: u32,
    /// The last attempt's request as sent, data encoded:
    /// `POST /orders/A%2F1`, or the gRPC method.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "POST /orders/A%2F1")]
    pub request: Option<String>,
    #[serde(serialize_with = "as_millis")]
    #[schema(value_type = String, example = "120ms")]
    pub duration: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An attempt may have been applied without its answer arriving.
    pub outcome_unknown: bool,
    #[serde(skip)]
    #[schema(ignore)]
    started: Option<SystemTime>,
    /// The undo's request as last sent, until its record is made.
    #[serde(skip)]
    #[schema(ignore)]
    undo_request: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CompensationRecord {
    pub step: String,
    pub ok: bool,
    pub attempts: u32,
    /// The undo's last request as sent: `POST /release/r1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Durations for people: `1s 250ms`, to the millisecond.
fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    let rounded = super::round_ms(*d);
    s.collect_str(&humantime::format_duration(rounded))
}

/// `POST /path` or the gRPC method, as written in the workflow.
pub fn method_label(call: &Call) -> String {
    match call {
        Call::Grpc { method } => method.clone(),
        Call::Http { verb, path } => format!("{verb} {}", path.source()),
    }
}

impl RunReport {
    pub fn from_events(workflow: &Workflow, events: &[Recorded], error: Option<String>) -> Self {
        let mut report = RunReport {
            run_id: String::new(),
            workflow: workflow.name.clone(),
            status: RunStatus::Running,
            output: None,
            error,
            duration: Duration::ZERO,
            steps: workflow
                .all_steps()
                .map(|s| StepRecord {
                    id: s.id.clone(),
                    service: s.service.clone(),
                    method: method_label(&s.call),
                    outcome: StepOutcome::NotRun,
                    attempts: 0,
                    request: None,
                    duration: Duration::ZERO,
                    error: None,
                    outcome_unknown: false,
                    started: None,
                    undo_request: None,
                })
                .collect(),
            compensations: Vec::new(),
        };
        let started = events.first().map(|e| e.at);
        for recorded in events {
            report.apply(recorded);
        }
        if let (Some(first), Some(last)) = (started, events.last()) {
            report.duration = last.at.duration_since(first).unwrap_or_default();
        }
        report
    }

    fn step_mut(&mut self, id: &str) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    fn apply(&mut self, recorded: &Recorded) {
        let at = recorded.at;
        let elapsed = |rec: &StepRecord| {
            rec.started
                .and_then(|s| at.duration_since(s).ok())
                .unwrap_or_default()
        };
        match &recorded.event {
            RunEvent::RunStarted { run_id, .. } => self.run_id = run_id.clone(),
            RunEvent::RunResumed => {}
            RunEvent::RunHalted { reason } => {
                self.error.get_or_insert_with(|| reason.message());
            }
            RunEvent::StepSkipped { step } => {
                if let Some(rec) = self.step_mut(step) {
                    rec.outcome = StepOutcome::Skipped;
                }
            }
            RunEvent::AttemptStarted {
                step,
                attempt,
                request,
                ..
            } => {
                if let Some(rec) = self.step_mut(step) {
                    rec.outcome = StepOutcome::Running;
                    rec.attempts = *attempt;
                    rec.request.clone_from(request);
                    rec.started.get_or_insert(at);
                }
            }
            RunEvent::AttemptFailed { step, error, .. } => {
                if let Some(rec) = self.step_mut(step) {
                    rec.error = Some(error.clone());
                }
            }
            RunEvent::StepCompleted { step, attempts, .. } => {
                if let Some(rec) = self.step_mut(step) {
                    rec.outcome = StepOutcome::Ok;
                    rec.attempts = *attempts;
                    rec.duration = elapsed(rec);
                    rec.error = None;
                }
            }
            RunEvent::StepFailed {
                step,
                attempts,
                error,
                outcome_unknown,
            } => {
                if let Some(rec) = self.step_mut(step) {
                    rec.outcome = StepOutcome::Failed;
                    rec.attempts = *attempts;
                    rec.duration = elapsed(rec);
                    rec.error = Some(error.clone());
                    rec.outcome_unknown = *outcome_unknown;
                }
            }
            RunEvent::StepCancelled {
                step,
                outcome_unknown,
            } => {
                if let Some(rec) = self.step_mut(step) {
                    rec.outcome = StepOutcome::Cancelled;
                    rec.duration = elapsed(rec);
                    rec.outcome_unknown = *outcome_unknown;
                }
            }
            RunEvent::CompensationStarted { step, request, .. } => {
                if let Some(rec) = self.step_mut(step) {
                    rec.undo_request.clone_from(request);
                }
            }
            RunEvent::CompensationCompleted { step, attempts } => {
                let request = self.step_mut(step).and_then(|rec| {
                    rec.outcome = StepOutcome::Compensated;
                    rec.undo_request.take()
                });
                self.compensations.push(CompensationRecord {
                    step: step.clone(),
                    ok: true,
                    attempts: *attempts,
                    request,
                    error: None,
                });
            }
            RunEvent::CompensationFailed {
                step,
                attempts,
                error,
            } => {
                let request = self.step_mut(step).and_then(|rec| {
                    rec.outcome = StepOutcome::CompensationFailed;
                    rec.undo_request.take()
                });
                self.compensations.push(CompensationRecord {
                    step: step.clone(),
                    ok: false,
                    attempts: *attempts,
                    request,
                    error: Some(error.clone()),
                });
            }
            RunEvent::RunFinished {
                status,
                output,
                error,
            } => {
                self.status = *status;
                self.output = output.clone();
                if error.is_some() {
                    self.error = error.clone();
                }
            }
        }
    }
}
