//! The format of a workflow's test file (`NAME.test.yaml`, next to the
//! workflow): cases with an input, canned answers per step or attempt, and
//! what the run must do. The answers become a scripted transport.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::run::RunStatus;
use crate::transport::grpc::status::{classify, code_name};
use crate::transport::http::classify::classify_status;
use crate::transport::{Answer, CallError, CallRequest, CallResult};

/// A test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The workflow, relative to the test file; by default the file's own
    /// name without `.test` (`onboarding.test.yaml` tests `onboarding.yaml`).
    pub workflow: Option<PathBuf>,
    pub tests: Vec<Case>,
}

/// One test: a run of the workflow against canned answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default = "empty_object")]
    pub input: Value,
    /// Answers per step id: one for every attempt, or a list, one per
    /// attempt, the last one repeated. A step without one answers `{}`.
    #[serde(default)]
    pub steps: BTreeMap<String, Answers>,
    /// Answers of compensations, per step id; `{}` by default.
    #[serde(default)]
    pub compensations: BTreeMap<String, Answers>,
    /// Signals sent to the run as it starts, kept for its `wait` steps.
    #[serde(default)]
    pub signals: Vec<SignalSpec>,
    #[serde(default)]
    pub expect: Expect,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Answers {
    Each(Vec<Canned>),
    One(Canned),
}

/// `{output: VALUE}`, or `{error: CODE}` with an HTTP status (`503`), a gRPC
/// code name (`UNAVAILABLE`) or `timeout`, and an optional `message`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canned {
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSpec {
    pub name: String,
    #[serde(default)]
    pub payload: Value,
}

/// What the run must have done; what is left out is not checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<RunStatus>,
    pub output: Option<Value>,
    /// A part of the run's error.
    pub error: Option<String>,
    /// Outcome per step: `ok`, `failed`, `skipped`, `compensated`, ...
    #[serde(default)]
    pub steps: BTreeMap<String, String>,
    /// Attempts per step.
    #[serde(default)]
    pub attempts: BTreeMap<String, u32>,
    /// The steps undone, in the order they were.
    pub compensated: Option<Vec<String>>,
}

/// The workflow a test file names.
pub fn workflow_path(file: &Path, spec: &TestFile) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new("."));
    match &spec.workflow {
        Some(path) => dir.join(path),
        None => {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let name = name
                .strip_suffix(".test.yaml")
                .or_else(|| name.strip_suffix(".test.yml"))
                .unwrap_or(name);
            dir.join(format!("{name}.yaml"))
        }
    }
}

impl Canned {
    /// The answer, or why the test file is wrong.
    fn answer(&self) -> Result<CallResult, String> {
        match (&self.output, &self.error) {
            (Some(output), None) => Ok(Ok(output.clone())),
            (None, Some(code)) => failure(code, self.message.as_deref()).map(Err),
            _ => Err("an answer holds either `output` or `error`".into()),
        }
    }
}

/// The error a service answering `code` gives, classified as the real
/// transport classifies it.
fn failure(code: &Value, message: Option<&str>) -> Result<CallError, String> {
    let text = match code {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(format!("`error` is a status or a code, not {other}")),
    };
    let message = message.unwrap_or("scripted failure");
    if text == "timeout" {
        return Ok(CallError::unknown(format!("timed out: {message}")));
    }
    if let Ok(status) = text.parse::<u16>() {
        let status = http::StatusCode::from_u16(status)
            .map_err(|_| format!("`{text}` is not an HTTP status"))?;
        return Ok(classify_status(status, None, message.as_bytes()));
    }
    let code = (0..=16)
        .map(tonic::Code::from)
        .find(|c| code_name(*c) == text)
        .ok_or_else(|| format!("`{text}` is neither an HTTP status, a gRPC code nor `timeout`"))?;
    Ok(classify(&tonic::Status::new(code, message)))
}

/// The answers of one case, checked, as a transport's script.
pub fn script(case: &Case) -> Result<Answer, String> {
    let compile = |answers: &BTreeMap<String, Answers>| -> Result<_, String> {
        let mut out: HashMap<String, Vec<CallResult>> = HashMap::new();
        for (step, answers) in answers {
            let list = match answers {
                Answers::One(one) => std::slice::from_ref(one),
                Answers::Each(each) if each.is_empty() => {
                    return Err(format!("step `{step}`: an empty list of answers"));
                }
                Answers::Each(each) => each.as_slice(),
            };
            let results = list.iter().map(Canned::answer).collect::<Result<_, _>>();
            out.insert(
                step.clone(),
                results.map_err(|e| format!("step `{step}`: {e}"))?,
            );
        }
        Ok(out)
    };
    let (steps, undos) = (compile(&case.steps)?, compile(&case.compensations)?);
    let calls: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
    Ok(Arc::new(move |req: &CallRequest| {
        let undo = req.idempotency_key.ends_with(":compensate");
        let answers = if undo { &undos } else { &steps };
        let mut calls = calls.lock().unwrap_or_else(|p| p.into_inner());
        let n = calls.entry(req.idempotency_key.to_string()).or_default();
        *n += 1;
        // `reserve_all[2]/reserve` answers as itself, else as `reserve`:
        // every element of a loop alike.
        let own = req.step_id.rsplit('/').next().unwrap_or_default();
        match answers.get(&*req.step_id).or_else(|| answers.get(own)) {
            Some(list) => list[(*n - 1).min(list.len() - 1)].clone(),
            None => Ok(empty_object()),
        }
    }))
}
