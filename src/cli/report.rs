//! The run report `maestro execute --output json` prints: the API's report
//! with durations as whole milliseconds, for scripts to compare, and each
//! completed step's output, gathered from the run's events.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::run::{Recorded, RunEvent};
use crate::runtime::report::{CompensationRecord, StepOutcome};
use crate::runtime::{RunReport, RunStatus};

#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    pub run_id: &'a str,
    pub workflow: &'a str,
    pub status: RunStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    pub duration_ms: u64,
    pub steps: Vec<JsonStep<'a>>,
    pub compensations: &'a [CompensationRecord],
}

#[derive(Debug, Serialize)]
pub struct JsonStep<'a> {
    pub id: &'a str,
    pub service: &'a str,
    pub method: &'a str,
    pub outcome: StepOutcome,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<&'a str>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    pub outcome_unknown: bool,
    /// What the step answered, once it completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<&'a Value>,
}

/// Each completed step's output, by step id, as the run's events give them.
#[derive(Debug, Default)]
pub struct StepOutputs(Map<String, Value>);

impl StepOutputs {
    pub fn keep(&mut self, recorded: &Recorded) {
        if let RunEvent::StepCompleted { step, output, .. } = &recorded.event {
            self.0.insert(step.clone(), Value::clone(output));
        }
    }
}

impl<'a> JsonReport<'a> {
    pub fn new(report: &'a RunReport, outputs: &'a StepOutputs) -> Self {
        JsonReport {
            run_id: &report.run_id,
            workflow: &report.workflow,
            status: report.status,
            output: report.output.as_ref(),
            error: report.error.as_deref(),
            duration_ms: millis(report.duration),
            steps: report
                .steps
                .iter()
                .map(|s| JsonStep {
                    id: &s.id,
                    service: &s.service,
                    method: &s.method,
                    outcome: s.outcome,
                    attempts: s.attempts,
                    request: s.request.as_deref(),
                    duration_ms: millis(s.duration),
                    error: s.error.as_deref(),
                    outcome_unknown: s.outcome_unknown,
                    output: outputs.0.get(&s.id),
                })
                .collect(),
            compensations: &report.compensations,
        }
    }
}

/// Whole milliseconds, as the API's report shows them.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
