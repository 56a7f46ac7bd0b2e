//! A run's report against what its test expects: one line per difference,
//! as a person reads a diff.

use serde_json::Value;

use crate::escape;
use crate::runtime::RunReport;

use super::spec::Expect;

/// Every way `report` differs from `expect`; empty when it passes.
pub fn differences(expect: &Expect, report: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |what: &str, expected: String, got: String| {
        if expected != got {
            out.push(format!("{what}: expected {expected}, got {got}"));
        }
    };
    if let Some(status) = expect.status {
        differ(
            "status",
            status.label().into(),
            report.status.label().into(),
        );
    }
    if let Some(output) = &expect.output {
        let got = report.output.clone().unwrap_or(Value::Null);
        differ("output", output.to_string(), got.to_string());
    }
    for (id, outcome) in &expect.steps {
        let got = report
            .steps
            .iter()
            .find(|s| s.id == *id)
            .map_or_else(|| "no such step".to_owned(), |s| label(&s.outcome));
        differ(&format!("step `{id}`"), outcome.clone(), got);
    }
    for (id, attempts) in &expect.attempts {
        let got = report.steps.iter().find(|s| s.id == *id);
        let got = got.map_or_else(|| "no such step".into(), |s| s.attempts.to_string());
        differ(&format!("attempts of `{id}`"), attempts.to_string(), got);
    }
    if let Some(order) = &expect.compensated {
        let got: Vec<&str> = report
            .compensations
            .iter()
            .map(|c| c.step.as_str())
            .collect();
        differ("compensated", format!("{order:?}"), format!("{got:?}"));
    }
    if let Some(part) = &expect.error {
        let got = report.error.clone().unwrap_or_default();
        if !got.contains(part.as_str()) {
            out.push(format!(
                "error: expected one containing {part:?}, got {got:?}"
            ));
        }
    }
    // What services and inputs put in a report reaches a terminal.
    out.iter()
        .map(|line| escape::line(line).into_owned())
        .collect()
}

/// The outcome as it is written in reports and test files: `ok`, `failed`.
fn label<T: serde::Serialize>(outcome: &T) -> String {
    match serde_json::to_value(outcome) {
        Ok(Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}
