//! A workflow's `input_schema`: a JSON Schema (2020-12) compiled once at
//! load time, the `default`s it declares filled into a run's input, then
//! every violation of the filled input named by its JSON Pointer.

use std::fmt;
use std::sync::Arc;

use jsonschema::Validator;
use serde_json::{Map, Value};

use crate::escape;

/// The only dialect accepted in `$schema`.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";
/// Violations listed for one input: enough to fix a form in one go, few
/// enough that a hostile input (a list of 100,000 wrong items) cannot
/// make the answer huge. Past it the list ends and the error says so.
pub const MAX_VIOLATIONS: usize = 100;
/// Characters kept of a violation's path or message; both may quote keys
/// from the input.
pub const MAX_VIOLATION_CHARS: usize = 300;

/// A compiled `input_schema`.
#[derive(Clone)]
pub struct InputSchema {
    /// The schema as written, for the API and the console's form.
    document: Arc<Value>,
    validator: Arc<Validator>,
}

impl fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InputSchema").field(&self.document).finish()
    }
}

/// A problem in the schema itself, at a JSON Pointer into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    pub pointer: String,
    pub message: String,
}

/// One way a run's input breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// JSON Pointer (RFC 6901) to the offending value: `/items/0/qty`; `""`
    /// for the input itself.
    pub path: String,
    /// What is wrong; input values are not quoted, so secrets in them never
    /// reach a message or a log.
    pub message: String,
}

/// A run's input refused by its workflow's `input_schema`: nothing was
/// called and nothing journaled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct InputRejected {
    /// At most [`MAX_VIOLATIONS`], in the order the validator found them.
    pub violations: Vec<Violation>,
    /// Whether more were found than are listed.
    pub truncated: bool,
}

impl InputRejected {
    /// One line: how many, and the first few.
    pub fn summary(&self) -> String {
        let count = self.violations.len();
        let more = if self.truncated { " or more" } else { "" };
        let noun = if count == 1 && !self.truncated {
            "violation"
        } else {
            "violations"
        };
        let listed: Vec<String> = self.violations.iter().map(shown).collect();
        format!(
            "the input does not match the workflow's input_schema ({count}{more} {noun}): {}",
            listed.join("; ")
        )
    }

    /// For a terminal: one violation a line, input text escaped.
    fn render(&self) -> String {
        let mut out = String::from("the input does not match the workflow's input_schema:");
        for v in &self.violations {
            out.push_str("\n  ");
            out.push_str(&escape::line(&shown(v)));
        }
        if self.truncated {
            out.push_str(&format!("\n  (only the first {MAX_VIOLATIONS} are listed)"));
        }
        out
    }
}

fn shown(v: &Violation) -> String {
    let at = if v.path.is_empty() { "(root)" } else { &v.path };
    format!("at {at}: {}", v.message)
}

impl InputSchema {
    /// Check `document` against the 2020-12 meta-schema and compile it.
    /// `$ref`s reach only into the document itself: nothing is fetched
    /// from the network or read from disk while a workflow loads.
    pub fn compile(document: Value) -> Result<Self, Vec<SchemaProblem>> {
        if let Some(dialect) = document.get("$schema")
            && dialect != DIALECT
        {
            return Err(vec![SchemaProblem {
                pointer: "/$schema".into(),
                message: format!(
                    "input_schema is JSON Schema 2020-12: `$schema` must be `{DIALECT}` or left out"
                ),
            }]);
        }
        let meta = jsonschema::draft202012::meta::validator();
        let problems: Vec<SchemaProblem> = meta
            .iter_errors(&document)
            .map(|e| SchemaProblem {
                pointer: e.instance_path().as_str().to_string(),
                message: e.to_string(),
            })
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        let validator = jsonschema::draft202012::options()
            .offline()
            .build(&document)
            .map_err(|e| {
                vec![SchemaProblem {
                    pointer: e.instance_path().as_str().to_string(),
                    message: e.to_string(),
                }]
            })?;
        Ok(Self {
            document: Arc::new(document),
            validator: Arc::new(validator),
        })
    }

    /// The schema as written in the workflow file.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Fill the schema's `default`s into `input`, then validate the result:
    /// a default counts as given, so it must itself be valid, and a
    /// `required` property with a default is never missing.
    pub fn apply(&self, mut input: Value) -> Result<Value, InputRejected> {
        fill_defaults(&self.document, &mut input);
        let mut violations = Vec::new();
        let mut truncated = false;
        for error in self.validator.iter_errors(&input) {
            if violations.len() == MAX_VIOLATIONS {
                truncated = true;
                break;
            }
            violations.push(Violation {
                path: clipped(error.instance_path().as_str()),
                message: clipped(&error.masked_with("the value").to_string()),
            });
        }
        if violations.is_empty() {
            Ok(input)
        } else {
            Err(InputRejected {
                violations,
                truncated,
            })
        }
    }

    /// Whether a template's read of `.input` followed by `segments` names
    /// a property the schema rules out: the first segment that an object
    /// with `additionalProperties: false` (and no `patternProperties`)
    /// does not declare, and the properties it does declare.
    pub fn undeclared<'s>(&self, segments: &'s [String]) -> Option<Undeclared<'s>> {
        let mut schema = self.document.as_ref();
        for (depth, segment) in segments.iter().enumerate() {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(next) = properties.and_then(|p| p.get(segment)) {
                schema = next;
                continue;
            }
            if !is_closed(schema) {
                return None;
            }
            return Some(Undeclared {
                depth,
                name: segment,
                declared: properties
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default(),
            });
        }
        None
    }
}

/// A read the schema rules out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undeclared<'s> {
    /// Index of the segment that is not declared.
    pub depth: usize,
    pub name: &'s str,
    /// What the enclosing object does declare, in the schema's order.
    pub declared: Vec<String>,
}

/// No key but those of `properties`: `additionalProperties: false` alone
/// decides it, since it only ever admits keys of the same schema object.
fn is_closed(schema: &Value) -> bool {
    schema.get("additionalProperties") == Some(&Value::Bool(false))
        && schema.get("patternProperties").is_none()
}

/// Each property of `schema` missing from `instance` and carrying a
/// `default` gets it; then each property holding an object is filled from
/// its own `properties`. An absent object is not created: give it
/// `default: {}` to have its properties' defaults filled in.
pub fn fill_defaults(schema: &Value, instance: &mut Value) {
    let (Some(properties), Value::Object(object)) = (
        schema.get("properties").and_then(Value::as_object),
        instance,
    ) else {
        return;
    };
    fill_object(properties, object);
}

fn fill_object(properties: &Map<String, Value>, object: &mut Map<String, Value>) {
    for (name, property) in properties {
        if !object.contains_key(name)
            && let Some(default) = property.get("default")
        {
            object.insert(name.clone(), default.clone());
        }
        if let Some(value) = object.get_mut(name) {
            fill_defaults(property, value);
        }
    }
}

/// At most [`MAX_VIOLATION_CHARS`] characters, marked when cut.
fn clipped(text: &str) -> String {
    match text.char_indices().nth(MAX_VIOLATION_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
#[path = "input_schema_tests.rs"]
mod tests;
