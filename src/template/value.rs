//! [`ValueTemplate`]: a JSON document (a step's `input`, the workflow's
//! `output`) whose string leaves may be templates. All its leaves share one
//! compiled engine; subtrees without templates are kept as plain values.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::compiled::{Pending, Template};
use super::convert::{charge, too_large};
use super::engine::{Engine, EngineBuilder};
use super::{DataPath, MAX_RENDERED_BYTES, Scope, TemplateError};

#[derive(Debug, Clone)]
enum Node {
    /// Holds no template: rendered by cloning.
    Const(Value),
    Leaf(Box<Template>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// A JSON value (an `input`, an `output`) whose strings, at any depth, may be
/// templates. Map keys are literal.
#[derive(Debug, Clone)]
pub struct ValueTemplate {
    root: Node,
}

/// A node before its engine exists.
enum Draft {
    Const(Value),
    Leaf(Box<Pending>),
    Array(Vec<Draft>),
    Object(Vec<(String, Draft)>),
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn draft(
    value: &Value,
    at: &str,
    builder: &mut EngineBuilder,
    errors: &mut Vec<(String, TemplateError)>,
) -> Draft {
    match value {
        Value::String(s) if s.contains("{{") => match Pending::prepare(s, builder) {
            Ok(pending) => Draft::Leaf(Box::new(pending)),
            Err(e) => {
                errors.push((at.to_owned(), e));
                Draft::Const(Value::Null)
            }
        },
        Value::Array(items) => {
            let drafts: Vec<Draft> = items
                .iter()
                .enumerate()
                .map(|(i, v)| draft(v, &format!("{at}[{i}]"), builder, errors))
                .collect();
            if drafts.iter().all(|d| matches!(d, Draft::Const(_))) {
                Draft::Const(value.clone())
            } else {
                Draft::Array(drafts)
            }
        }
        Value::Object(fields) => {
            let drafts: Vec<(String, Draft)> = fields
                .iter()
                .map(|(k, v)| (k.clone(), draft(v, &child_path(at, k), builder, errors)))
                .collect();
            if drafts.iter().all(|(_, d)| matches!(d, Draft::Const(_))) {
                Draft::Const(value.clone())
            } else {
                Draft::Object(drafts)
            }
        }
        other => Draft::Const(other.clone()),
    }
}

fn finish(draft: Draft, engine: Option<&Arc<Engine>>) -> Node {
    match draft {
        Draft::Const(v) => Node::Const(v),
        Draft::Leaf(p) => Node::Leaf(Box::new(p.finish(engine))),
        Draft::Array(items) => Node::Array(items.into_iter().map(|d| finish(d, engine)).collect()),
        Draft::Object(fields) => Node::Object(
            fields
                .into_iter()
                .map(|(k, d)| (k, finish(d, engine)))
                .collect(),
        ),
    }
}

impl ValueTemplate {
    /// Compile every string leaf; errors carry the JSON path of the leaf
    /// (`customer.address[0]`) in `Err((path, error))`, all of them.
    pub fn parse(value: &Value) -> Result<Self, Vec<(String, TemplateError)>> {
        let mut builder = EngineBuilder::default();
        let mut errors = Vec::new();
        let root = draft(value, "", &mut builder, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let engine = if builder.is_empty() {
            None
        } else {
            Some(builder.build().map_err(|e| vec![(String::new(), e)])?)
        };
        Ok(ValueTemplate {
            root: finish(root, engine.as_ref()),
        })
    }

    /// Every data path read anywhere inside, with the JSON path of the leaf.
    pub fn references(&self) -> Vec<(String, DataPath)> {
        fn walk(node: &Node, at: &str, out: &mut Vec<(String, DataPath)>) {
            match node {
                Node::Const(_) => {}
                Node::Leaf(t) => out.extend(t.references().into_iter().map(|r| (at.to_owned(), r))),
                Node::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, &format!("{at}[{i}]"), out);
                    }
                }
                Node::Object(fields) => {
                    for (k, v) in fields {
                        walk(v, &child_path(at, k), out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, "", &mut out);
        out
    }

    /// Render every leaf. The leaves together may produce at most
    /// [`MAX_RENDERED_BYTES`]: a thousand `"{{ .input }}"` leaves are a
    /// thousand copies of the input.
    pub fn render(&self, scope: &Scope) -> Result<Value, TemplateError> {
        fn render(node: &Node, scope: &Scope, left: &mut usize) -> Result<Value, TemplateError> {
            Ok(match node {
                Node::Const(v) => v.clone(),
                Node::Leaf(t) => {
                    let value = t.render(scope)?;
                    if !charge(&value, left) {
                        return Err(too_large(t.source()));
                    }
                    value
                }
                Node::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|item| render(item, scope, left))
                        .collect::<Result<_, _>>()?,
                ),
                Node::Object(fields) => {
                    let mut map = Map::new();
                    for (k, v) in fields {
                        map.insert(k.clone(), render(v, scope, left)?);
                    }
                    Value::Object(map)
                }
            })
        }
        render(&self.root, scope, &mut { MAX_RENDERED_BYTES })
    }
}
