//! Templates in the seeds' syntax (`{{ .input.payload }}`, `&&`, `? :`),
//! translated to tera once when a workflow loads and evaluated per run
//! against the run's data, with typed results and errors that name the path.
//!
//! INTERFACE (fixed, used by workflow/ and runtime/): `Template`,
//! `ValueTemplate`, `Condition`, `DataPath`, `Scope`, `TemplateError`.

use serde_json::Value;

/// A reference to run data found in a template: `.analysis.confidence` is
/// root `analysis` with segments `["confidence"]`; `.items[0].id` has
/// segments `["items", "0", "id"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataPath {
    pub root: String,
    pub segments: Vec<String>,
}

/// The data a run has produced so far, as templates see it: `input`, and one
/// entry per step output name. An output whose step was skipped is present
/// with the value null (see [`Scope::skip`]).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    // filled by the template implementation
}

impl Scope {
    /// A scope holding only the run's input.
    pub fn new(input: Value) -> Self {
        let _ = input;
        todo!()
    }
    /// Record a step's output under its name.
    pub fn insert(&mut self, name: &str, value: Value) {
        let _ = (name, value);
        todo!()
    }
    /// Record that the step producing `name` was skipped: its data reads as
    /// null, and so does any path below it.
    pub fn skip(&mut self, name: &str) {
        let _ = name;
        todo!()
    }
    /// The value stored under a root name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let _ = name;
        todo!()
    }
}

/// Why a template could not be compiled or evaluated. Messages name the
/// template text or the data path involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("template `{template}` does not parse: {message}")]
    Syntax { template: String, message: String },
    #[error("`.{path}` is not in the run's data{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Missing { path: String, hint: Option<String> },
    #[error("`when` must be true or false, but `{template}` gave {got}")]
    NotBoolean { template: String, got: String },
    #[error("template `{template}` failed: {message}")]
    Eval { template: String, message: String },
}

/// One string that may hold `{{ }}` templates. A string that is exactly one
/// `{{ expr }}` renders to the expression's JSON value (object, number, ...);
/// text around templates renders to a string.
#[derive(Debug, Clone)]
pub struct Template {
    // filled by the template implementation
}

impl Template {
    /// Compile once, at load time.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let _ = source;
        todo!()
    }
    /// The original text.
    pub fn source(&self) -> &str {
        todo!()
    }
    /// True when the text holds no `{{ }}` at all.
    pub fn is_literal(&self) -> bool {
        todo!()
    }
    /// Every data path the template reads.
    pub fn references(&self) -> Vec<DataPath> {
        todo!()
    }
    pub fn render(&self, scope: &Scope) -> Result<Value, TemplateError> {
        let _ = scope;
        todo!()
    }
    /// Render as text: a whole-value template of a string gives the string
    /// itself, other values their JSON text (for paths and headers).
    pub fn render_string(&self, scope: &Scope) -> Result<String, TemplateError> {
        let _ = scope;
        todo!()
    }
}

/// A `when` condition: one template that must evaluate to a boolean.
#[derive(Debug, Clone)]
pub struct Condition {
    // filled by the template implementation
}

impl Condition {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let _ = source;
        todo!()
    }
    pub fn source(&self) -> &str {
        todo!()
    }
    pub fn references(&self) -> Vec<DataPath> {
        todo!()
    }
    pub fn evaluate(&self, scope: &Scope) -> Result<bool, TemplateError> {
        let _ = scope;
        todo!()
    }
}

/// A JSON value (an `input`, an `output`) whose strings, at any depth, may be
/// templates. Map keys are literal.
#[derive(Debug, Clone)]
pub struct ValueTemplate {
    // filled by the template implementation
}

impl ValueTemplate {
    /// Compile every string leaf; errors carry the JSON path of the leaf
    /// (`customer.address[0]`) in `Err((path, error))`, all of them.
    pub fn parse(value: &Value) -> Result<Self, Vec<(String, TemplateError)>> {
        let _ = value;
        todo!()
    }
    /// Every data path read anywhere inside, with the JSON path of the leaf.
    pub fn references(&self) -> Vec<(String, DataPath)> {
        todo!()
    }
    pub fn render(&self, scope: &Scope) -> Result<Value, TemplateError> {
        let _ = scope;
        todo!()
    }
}
