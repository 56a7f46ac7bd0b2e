//! A run's progress as an append-only event log. Everything a report shows is
//! derived from these events, so a log that survives the process (a journal)
//! is enough to tell, or resume, where a run stood.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resilience::FailureClass;

/// One fact about a run, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        run_id: String,
        workflow: String,
        /// Shared with the scope the run's templates read.
        input: Arc<Value>,
        /// The run this one started again, with the same input.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_of: Option<String>,
        /// The caller's W3C `traceparent`: the trace the run continues,
        /// after a restart too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
    },
    /// The compensations that failed are tried again, with the same
    /// idempotency keys: the run is no longer finished.
    CompensationsRetried,
    /// A new process took the run over from the journal and goes on with it.
    RunResumed,
    /// Nothing in flight, every step left waiting (a sleep, a wait): the
    /// run's actor stepped aside, and the run is taken up again from the
    /// journal at `until` or when a signal comes.
    RunParked {
        #[serde(default, with = "humantime_serde")]
        until: Option<SystemTime>,
    },
    /// A step's `when` was false: its output reads as null.
    StepSkipped {
        step: String,
    },
    /// Announced before the request leaves, with the key the service sees
    /// and the request as it is sent (`POST /orders/A%2F1`, a gRPC method).
    AttemptStarted {
        step: String,
        attempt: u32,
        idempotency_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<String>,
    },
    /// A step's attempt failed. Journals written before compensations had
    /// an event of their own name a compensation's step `STEP.compensate`
    /// here (read by [`crate::run::RunState::apply`]).
    AttemptFailed {
        step: String,
        attempt: u32,
        class: FailureClass,
        error: String,
    },
    StepCompleted {
        step: String,
        attempts: u32,
        /// Shared with the scope that step's output goes into.
        output: Arc<Value>,
    },
    /// The step gave up. `outcome_unknown` when an attempt may have been
    /// applied, so the step is compensated anyway.
    StepFailed {
        step: String,
        attempts: u32,
        error: String,
        outcome_unknown: bool,
    },
    /// A branch stopped because a sibling failed or the run was cancelled.
    StepCancelled {
        step: String,
        outcome_unknown: bool,
    },
    /// A `sleep` step began: it ends at `until`, after a restart too.
    TimerStarted {
        step: String,
        #[serde(with = "humantime_serde")]
        until: SystemTime,
    },
    /// A `wait` step began: it ends with the first signal named `signal`
    /// the run has not used yet, or fails at `until`.
    WaitStarted {
        step: String,
        signal: String,
        #[serde(default, with = "humantime_serde")]
        until: Option<SystemTime>,
    },
    /// A `foreach` step began over `items`, the list as rendered then: one
    /// frame of its body per element, named `STEP[i]/...`.
    ForeachStarted {
        step: String,
        items: Vec<Value>,
    },
    /// A `workflow` step began: the child's steps run inside this run,
    /// named `STEP/...`, over `input` as rendered then.
    WorkflowStarted {
        step: String,
        input: Value,
    },
    /// A signal was sent to the run; kept until a `wait` step takes it.
    /// A second signal with the same `id` is the first one sent again.
    SignalReceived {
        name: String,
        id: String,
        #[serde(default)]
        payload: Value,
    },
    /// The run stops going forward; what may have taken effect is undone next.
    RunHalted {
        #[serde(flatten)]
        reason: HaltReason,
    },
    CompensationStarted {
        step: String,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<String>,
    },
    /// An attempt of `step`'s compensation failed; another may follow.
    CompensationAttemptFailed {
        step: String,
        attempt: u32,
        class: FailureClass,
        error: String,
    },
    CompensationCompleted {
        step: String,
        attempts: u32,
    },
    CompensationFailed {
        step: String,
        attempts: u32,
        error: String,
    },
    RunFinished {
        status: RunStatus,
        output: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

impl RunEvent {
    /// The event's name as serialized, e.g. `attempt_started`.
    pub fn kind(&self) -> &'static str {
        match self {
            RunEvent::RunStarted { .. } => "run_started",
            RunEvent::RunResumed => "run_resumed",
            RunEvent::RunParked { .. } => "run_parked",
            RunEvent::CompensationsRetried => "compensations_retried",
            RunEvent::StepSkipped { .. } => "step_skipped",
            RunEvent::AttemptStarted { .. } => "attempt_started",
            RunEvent::AttemptFailed { .. } => "attempt_failed",
            RunEvent::StepCompleted { .. } => "step_completed",
            RunEvent::StepFailed { .. } => "step_failed",
            RunEvent::StepCancelled { .. } => "step_cancelled",
            RunEvent::TimerStarted { .. } => "timer_started",
            RunEvent::WaitStarted { .. } => "wait_started",
            RunEvent::ForeachStarted { .. } => "foreach_started",
            RunEvent::WorkflowStarted { .. } => "workflow_started",
            RunEvent::SignalReceived { .. } => "signal_received",
            RunEvent::RunHalted { .. } => "run_halted",
            RunEvent::CompensationStarted { .. } => "compensation_started",
            RunEvent::CompensationAttemptFailed { .. } => "compensation_attempt_failed",
            RunEvent::CompensationCompleted { .. } => "compensation_completed",
            RunEvent::CompensationFailed { .. } => "compensation_failed",
            RunEvent::RunFinished { .. } => "run_finished",
        }
    }
}

/// Why a run stopped going forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum HaltReason {
    Failed {
        step: String,
        error: String,
    },
    TimedOut {
        #[serde(with = "humantime_serde")]
        after: Duration,
    },
    Cancelled,
}

impl HaltReason {
    /// The run's error as a person reads it.
    pub fn message(&self) -> String {
        match self {
            HaltReason::Failed { step, error } => format!("step `{step}` failed: {error}"),
            HaltReason::TimedOut { after } => format!(
                "workflow timed out after {}",
                humantime::format_duration(*after)
            ),
            HaltReason::Cancelled => "run cancelled".into(),
        }
    }

    /// The final status once compensation is over.
    pub fn status(&self, compensation_failed: bool) -> RunStatus {
        match self {
            _ if compensation_failed => RunStatus::CompensationFailed,
            HaltReason::Failed { .. } => RunStatus::Compensated,
            HaltReason::TimedOut { .. } => RunStatus::TimedOut,
            HaltReason::Cancelled => RunStatus::Cancelled,
        }
    }
}

/// A run's final (or current) state.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted by `maestro serve`, waiting for a free run slot.
    Queued,
    Running,
    Succeeded,
    /// A step failed and every compensation ran.
    Compensated,
    /// A step failed and at least one compensation could not be done.
    CompensationFailed,
    /// The workflow timeout fired; compensations ran.
    TimedOut,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Compensated,
        RunStatus::CompensationFailed,
        RunStatus::TimedOut,
        RunStatus::Cancelled,
    ];

    /// The name used in JSON and metrics.
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Compensated => "compensated",
            RunStatus::CompensationFailed => "compensation_failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    /// The status named by [`RunStatus::label`].
    pub fn from_label(label: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.label() == label)
    }
}

/// An event with the moment it was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
    #[serde(flatten)]
    pub event: RunEvent,
}
