//! The run's data as templates see it. It keeps a tera context up to date as
//! outputs arrive, so evaluating a template never rebuilds one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::convert::to_tera;

/// Context entry listing the skipped roots, for the path functions; no
/// template can name it.
pub(crate) const SKIPPED_KEY: &str = "\u{0}skipped";

/// The data a run has produced so far, as templates see it: `input`, and one
/// entry per step output name. An output whose step was skipped is present
/// with the value null (see [`Scope::skip`]).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Shared so that cloning a scope (one per parallel branch) is cheap.
    data: HashMap<String, Arc<Value>>,
    skipped: BTreeSet<String>,
    context: tera::Context,
}

impl Scope {
    /// A scope holding only the run's input.
    pub fn new(input: Value) -> Self {
        let mut scope = Scope::default();
        scope.insert("input", input);
        scope
    }

    /// Record a step's output under its name.
    pub fn insert(&mut self, name: &str, value: Value) {
        self.context.insert_value(name.to_owned(), to_tera(&value));
        self.data.insert(name.to_owned(), Arc::new(value));
        if self.skipped.remove(name) {
            self.publish_skipped();
        }
    }

    /// Record that the step producing `name` was skipped: its data reads as
    /// null, and so does any path below it.
    pub fn skip(&mut self, name: &str) {
        self.context
            .insert_value(name.to_owned(), tera::Value::none());
        self.data.insert(name.to_owned(), Arc::new(Value::Null));
        if self.skipped.insert(name.to_owned()) {
            self.publish_skipped();
        }
    }

    /// The value stored under a root name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.data.get(name).map(|value| &**value)
    }

    /// Whether `name` was recorded with [`Scope::skip`].
    pub fn is_skipped(&self, name: &str) -> bool {
        self.skipped.contains(name)
    }

    pub(crate) fn context(&self) -> &tera::Context {
        &self.context
    }

    fn publish_skipped(&mut self) {
        let mut map = tera::Map::with_capacity(self.skipped.len());
        for name in &self.skipped {
            map.insert(
                tera::value::Key::String(Arc::from(name.as_str())),
                tera::Value::from(true),
            );
        }
        self.context
            .insert_value(SKIPPED_KEY, tera::Value::from(map));
    }
}
