//! The run's data as templates see it, kept as JSON only: a template reads
//! the paths it names straight from here, so an output is never copied into
//! another representation, and only the values a template reads are.

use std::collections::BTreeSet;
use std::sync::Arc;

use foldhash::HashMap;
use serde_json::Value;

use super::TemplateError;
use super::convert::type_name;
use super::syntax::{PathRef, Segment, display_prefix};

/// The data a run has produced so far, as templates see it: `input`, and one
/// entry per step output name. An output whose step was skipped is present
/// with the value null (see [`Scope::skip`]).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Shared, so that cloning a scope (a run's data handed to a task)
    /// copies nothing.
    data: Arc<Data>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Data {
    values: HashMap<String, Arc<Value>>,
    skipped: BTreeSet<String>,
}

impl Scope {
    /// A scope holding only the run's input.
    pub fn new(input: Value) -> Self {
        Self::with_input(Arc::new(input))
    }

    /// The same, for an input shared with whoever else holds it.
    pub fn with_input(input: Arc<Value>) -> Self {
        let mut scope = Scope::default();
        scope.insert_shared("input", input);
        scope
    }

    /// Record a step's output under its name.
    pub fn insert(&mut self, name: &str, value: Value) {
        self.insert_shared(name, Arc::new(value));
    }

    /// The same, for a value shared with whoever else holds it (the event
    /// that recorded it): no copy.
    pub fn insert_shared(&mut self, name: &str, value: Arc<Value>) {
        let data = Arc::make_mut(&mut self.data);
        data.values.insert(name.to_owned(), value);
        data.skipped.remove(name);
    }

    /// Record that the step producing `name` was skipped: its data reads as
    /// null, and so does any path below it.
    pub fn skip(&mut self, name: &str) {
        let data = Arc::make_mut(&mut self.data);
        data.values.insert(name.to_owned(), Arc::new(Value::Null));
        data.skipped.insert(name.to_owned());
    }

    /// The value stored under a root name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.data.values.get(name).map(|value| &**value)
    }

    /// Whether `name` was recorded with [`Scope::skip`].
    pub fn is_skipped(&self, name: &str) -> bool {
        self.data.skipped.contains(name)
    }

    pub(crate) fn data(&self) -> &Arc<Data> {
        &self.data
    }
}

impl Data {
    /// The value at `path`: a skipped root reads as null at any depth;
    /// anything else that is not there is an error naming the path.
    pub(crate) fn lookup<'a>(&'a self, path: &PathRef) -> Result<&'a Value, TemplateError> {
        static NULL: Value = Value::Null;
        let missing = |hint: String| TemplateError::Missing {
            path: path.display(),
            hint: Some(hint),
        };
        let Some(root) = self.values.get(&path.root) else {
            return Err(missing(format!(
                "nothing named `{}` has been produced at this point",
                path.root
            )));
        };
        if root.is_null() && !path.segments.is_empty() && self.skipped.contains(&path.root) {
            return Ok(&NULL);
        }
        let mut current: &Value = root;
        for (depth, segment) in path.segments.iter().enumerate() {
            let next = match (segment, current) {
                (Segment::Field(name), Value::Object(map)) => map.get(name),
                (Segment::Index(i), Value::Array(items)) => items.get(*i),
                (Segment::Index(i), Value::Object(map)) => map.get(&i.to_string()),
                _ => None,
            };
            match next {
                Some(value) => current = value,
                None => {
                    let parent = display_prefix(&path.root, &path.segments[..depth]);
                    return Err(missing(why_absent(current, &parent, segment)));
                }
            }
        }
        Ok(current)
    }
}

fn why_absent(parent_value: &Value, parent: &str, segment: &Segment) -> String {
    match (segment, parent_value) {
        (Segment::Index(i), Value::Array(items)) => {
            format!(
                "`{parent}` has {} element(s), so there is no index {i}",
                items.len()
            )
        }
        (_, Value::Object(map)) => {
            let name = match segment {
                Segment::Field(name) => name.clone(),
                Segment::Index(i) => i.to_string(),
            };
            let keys: Vec<String> = map.keys().take(10).map(|k| format!("`{k}`")).collect();
            if keys.is_empty() {
                format!("`{parent}` is an empty object, with no field `{name}`")
            } else {
                format!(
                    "`{parent}` has no field `{name}`; it has {}",
                    keys.join(", ")
                )
            }
        }
        (_, other) => format!(
            "`{parent}` is {}, which has no fields or elements",
            type_name(other)
        ),
    }
}
