//! What a run did, as its events left it (see [`RunState`]): each step's
//! outcome, attempts, duration and error, each compensation, and the run's
//! status.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::run::{HaltReason, Phase, Recorded, RunState, RunStatus, StepState, Undo};
use crate::workflow::{Call, OnFailure, Step, Workflow};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunReport {
    pub run_id: String,
    pub workflow: String,
    /// The run this one started again, with the same input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
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
    /// Sleeping, or waiting for a signal.
    Waiting,
    Ok,
    Skipped,
    Failed,
    /// Failed with `on_failure: continue`: the run went on without it.
    FailedContinued,
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
    call.label()
}

impl RunReport {
    pub fn from_events(workflow: &Workflow, events: &[Recorded], error: Option<String>) -> Self {
        let mut state = RunState::new(workflow);
        for recorded in events {
            // A report shows what it can of a log naming unknown steps.
            let _ = state.apply(recorded);
        }
        Self::from_state(workflow, &state, error)
    }

    /// The report of a run as its events left it; `error` unless the
    /// events say otherwise.
    pub fn from_state(workflow: &Workflow, state: &RunState, error: Option<String>) -> Self {
        let duration = match (state.started_at, state.last_at) {
            (Some(first), Some(last)) => last.duration_since(first).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let finished = state.finished.as_ref();
        let error = match finished.and_then(|f| f.error.clone()) {
            Some(error) => Some(error),
            None => error.or_else(|| state.halt.as_ref().map(HaltReason::message)),
        };
        RunReport {
            run_id: state.run_id.clone(),
            workflow: workflow.name.clone(),
            retry_of: state.retry_of.clone(),
            status: finished.map_or(RunStatus::Running, |f| f.status),
            output: finished.and_then(|f| f.output.clone()),
            error,
            duration,
            steps: state
                .in_order()
                .map(|s| StepRecord::of(&s.def, s))
                .collect(),
            compensations: state
                .compensations()
                .filter_map(CompensationRecord::of)
                .collect(),
        }
    }
}

impl StepRecord {
    fn of(step: &Step, s: &StepState) -> Self {
        let outcome = match (&s.undo, s.phase) {
            (Undo::Completed { .. }, _) => StepOutcome::Compensated,
            (Undo::Failed { .. }, _) => StepOutcome::CompensationFailed,
            (_, Phase::NotRun) => StepOutcome::NotRun,
            (_, Phase::Running) => StepOutcome::Running,
            (_, Phase::Waiting) => StepOutcome::Waiting,
            (_, Phase::Completed) => StepOutcome::Ok,
            (_, Phase::Skipped) => StepOutcome::Skipped,
            (_, Phase::Failed) if step.on_failure == OnFailure::Continue => {
                StepOutcome::FailedContinued
            }
            (_, Phase::Failed) => StepOutcome::Failed,
            (_, Phase::Cancelled) => StepOutcome::Cancelled,
        };
        StepRecord {
            id: s.id.clone(),
            service: step.service_name().to_owned(),
            method: step.label(),
            outcome,
            attempts: s.attempts,
            request: s.request.clone(),
            duration: s.duration,
            error: s.error.clone(),
            outcome_unknown: s.outcome_unknown,
        }
    }
}

impl CompensationRecord {
    fn of(s: &StepState) -> Option<Self> {
        let (ok, attempts, request, error) = match &s.undo {
            Undo::Completed { attempts, request } => (true, *attempts, request, None),
            Undo::Failed {
                attempts,
                request,
                error,
            } => (false, *attempts, request, Some(error.clone())),
            Undo::NotStarted | Undo::Running { .. } => return None,
        };
        Some(CompensationRecord {
            step: s.id.clone(),
            ok,
            attempts,
            request: request.clone(),
            error,
        })
    }
}
