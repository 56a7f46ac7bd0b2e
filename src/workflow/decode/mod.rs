//! The located YAML tree decoded by hand into the validated model. Every
//! check runs and reports; a model is built only when none failed.

mod call;
mod child;
mod compensate;
mod dataflow;
mod endpoint;
mod foreach;
mod group;
mod headers;
mod input;
mod message;
mod names;
mod pause;
mod place;
mod policy;
mod proto;
mod request;
mod scalar;
mod schedule;
mod service;
mod step;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_child;
#[cfg(test)]
mod tests_foreach;
#[cfg(test)]
mod tests_guards;
#[cfg(test)]
mod tests_hints;
#[cfg(test)]
mod tests_input;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_pause;
#[cfg(test)]
mod tests_schedule;
mod visibility;

use std::path::Path;
use std::sync::Arc;

use super::diagnostic::Diagnostic;
use super::model::{DEFAULT_COMPENSATION_TIMEOUT, Workflow};
use super::suggest;
use super::yaml::{Key, Kind, Node};

pub(super) use child::Tree;

/// A line and column, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Node {
    pub(super) fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }
}

impl Key {
    pub(super) fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }
}

/// Looks up environment variables for endpoint expansion.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What the decoders share: where diagnostics go, and the file's context.
pub(super) struct Cx<'a> {
    file: &'a Path,
    /// Folder that relative `proto:` paths start from, and that they must
    /// stay inside.
    pub base: &'a Path,
    /// Another folder `proto:` files may be read from (`--proto-root`).
    pub proto_root: Option<&'a Path>,
    pub env: EnvLookup<'a>,
    /// The files of the tree of workflows loaded with this one.
    pub tree: &'a mut Tree,
    diagnostics: Vec<Diagnostic>,
    /// Problems of child workflows, in their own files: after this file's.
    nested: Vec<Diagnostic>,
    /// Summaries close the list, after the located problems in file order.
    summaries: Vec<Diagnostic>,
}

impl<'a> Cx<'a> {
    pub fn error(&mut self, at: Pos, path: &str, message: impl Into<String>) {
        self.report(at, path, message, None);
    }

    pub fn report(
        &mut self,
        at: Pos,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let d = self.diagnostic(at, path, message.into(), hint);
        self.diagnostics.push(d);
    }

    /// A diagnostic that sums up several others, listed after them.
    pub fn summary(
        &mut self,
        at: Pos,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let d = self.diagnostic(at, path, message.into(), hint);
        self.summaries.push(d);
    }

    fn diagnostic(&self, at: Pos, path: &str, message: String, hint: Option<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.to_path_buf(),
            line: at.line,
            column: at.column,
            path: path.to_string(),
            message,
            hint,
        }
    }

    /// Problems reported so far, to tell whether a part decoded cleanly.
    pub fn count(&self) -> usize {
        self.diagnostics.len()
    }
}

/// `parent.key`, or `key` at the top.
pub(super) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(super) fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// A mapping whose keys were checked against the fields it may hold.
pub(super) struct Fields<'n> {
    node: &'n Node,
    entries: &'n [(Key, Node)],
    path: String,
    /// Known fields that an unknown key was taken for: their absence is
    /// already explained by the "did you mean" of that key.
    suggested: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// Open `node` as a mapping of `what` (`a step`, `a service`) with the
    /// given fields, reporting unknown keys; `None` if it is not a mapping.
    pub fn open(
        cx: &mut Cx<'_>,
        node: &'n Node,
        path: &str,
        what: &str,
        known: &[&'static str],
    ) -> Option<Self> {
        let Kind::Map(entries) = &node.kind else {
            let found = node.kind.describe();
            cx.error(
                node.pos(),
                path,
                format!("expected {what} (a mapping), found {found}"),
            );
            return None;
        };
        let mut suggested = Vec::new();
        for (key, _) in entries {
            if known.contains(&key.name.as_str()) {
                continue;
            }
            let close = suggest::closest(&key.name, known.iter().copied());
            let hint = match close {
                Some(field) => format!("did you mean `{field}`?"),
                None => format!("{what} may hold {}", suggest::list(known.iter().copied())),
            };
            if let Some(field) = close.and_then(|c| known.iter().find(|k| **k == c)) {
                suggested.push(*field);
            }
            cx.report(
                key.pos(),
                &join(path, &key.name),
                format!("unknown field `{}`", key.name),
                Some(hint),
            );
        }
        Some(Self {
            node,
            entries,
            path: path.to_string(),
            suggested,
        })
    }

    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entry(key).map(|(_, v)| v)
    }

    pub fn entry(&self, key: &str) -> Option<(&'n Key, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, v)| (k, v))
    }

    /// The field, or a "missing field" diagnostic at the mapping.
    pub fn required(&self, cx: &mut Cx<'_>, key: &str, hint: Option<String>) -> Option<&'n Node> {
        let found = self.get(key);
        if found.is_none() && !self.suggested.contains(&key) {
            cx.report(
                self.node.pos(),
                &self.path,
                format!("missing field `{key}`"),
                hint,
            );
        }
        found
    }

    /// Path of one of this mapping's fields.
    pub fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub fn pos(&self) -> Pos {
        self.node.pos()
    }
}

pub(crate) const WORKFLOW_FIELDS: &[&str] = &[
    "name",
    "version",
    "timeout",
    "compensation_timeout",
    "input_schema",
    "services",
    "steps",
    "output",
    "schedules",
];

/// Every mapping the decoder reads, by the name the JSON Schema gives its
/// definition, with the keys it accepts: the schema is checked against it.
#[cfg(test)]
pub(crate) const SHAPES: &[(&str, &[&str])] = &[
    ("workflow", WORKFLOW_FIELDS),
    ("service", service::SERVICE_FIELDS),
    ("pool", service::POOL_FIELDS),
    ("retry", policy::RETRY_FIELDS),
    ("circuit_breaker", policy::BREAKER_FIELDS),
    ("step", step::STEP_FIELDS),
    ("parallel_group", group::GROUP_FIELDS),
    ("compensation", compensate::COMPENSATE_FIELDS),
    ("schedule", schedule::SCHEDULE_FIELDS),
];

/// Where a workflow file is, and what it may read beside it.
pub(super) struct Files<'a> {
    pub file: &'a Path,
    /// The file's folder.
    pub base: &'a Path,
    pub proto_root: Option<&'a Path>,
}

/// Decode a parsed document; every problem if any.
pub(super) fn decode(
    root: &Node,
    files: Files<'_>,
    env: EnvLookup<'_>,
    tree: &mut Tree,
) -> Result<Workflow, Vec<Diagnostic>> {
    let mut cx = Cx {
        file: files.file,
        base: files.base,
        proto_root: files.proto_root,
        env,
        tree,
        diagnostics: Vec::new(),
        nested: Vec::new(),
        summaries: Vec::new(),
    };
    let workflow = decode_workflow(&mut cx, root);
    let mut diagnostics = cx.diagnostics;
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics.extend(cx.nested);
    diagnostics.extend(cx.summaries);
    match workflow {
        Some(workflow) if diagnostics.is_empty() => Ok(workflow),
        _ => Err(diagnostics),
    }
}

fn decode_workflow(cx: &mut Cx<'_>, root: &Node) -> Option<Workflow> {
    let fields = Fields::open(cx, root, "", "a workflow", WORKFLOW_FIELDS)?;
    let name = fields
        .required(
            cx,
            "name",
            Some("name the workflow: `name: order_processing`".into()),
        )
        .and_then(|n| scalar::nonempty_string(cx, n, "name"));
    let version = fields
        .get("version")
        .and_then(|n| scalar::version(cx, n, "version"));
    let timeout = fields
        .get("timeout")
        .and_then(|n| scalar::positive_duration(cx, n, "timeout"));
    let compensation_timeout = fields
        .get("compensation_timeout")
        .and_then(|n| scalar::positive_duration(cx, n, "compensation_timeout"));

    let input_schema = fields.get("input_schema").map(|n| input::decode(cx, n));
    let services = service::decode_all(cx, fields.entry("services"));
    let steps_node = fields.required(
        cx,
        "steps",
        Some("list the calls to make under `steps:`".into()),
    );
    let decoded = steps_node.and_then(|n| step::decode_all(cx, n, &services));
    let output = fields
        .get("output")
        .and_then(|n| scalar::value_template(cx, n, "output"));
    let schedules = match fields.get("schedules") {
        Some(n) => {
            let schema = input_schema.as_ref().and_then(Option::as_ref);
            schedule::decode_all(cx, n, schema)
        }
        None => Some(Vec::new()),
    };

    let decoded = decoded?;
    let mut uses = decoded.uses;
    uses.extend(services.header_uses.iter().cloned());
    if let Some((_, refs)) = &output {
        uses.extend(
            refs.iter()
                .cloned()
                .map(|r| r.at_scope(dataflow::Scope::WorkflowOutput)),
        );
    }
    let flow = dataflow::Dataflow {
        producers: &decoded.producers,
        elements: &decoded.elements,
        uses: &uses,
    };
    dataflow::check(cx, &flow);
    if let Some(Some(schema)) = &input_schema {
        input::check_reads(cx, schema, &uses);
    }
    dataflow::report_unknown_services(
        cx,
        &decoded.unknown_services,
        &services,
        fields.entry("services"),
        root,
    );

    Some(Workflow {
        name: name?,
        version,
        timeout,
        compensation_timeout: compensation_timeout.unwrap_or(DEFAULT_COMPENSATION_TIMEOUT),
        services: child::merge_services(cx, services.built()?, &decoded.children)?,
        steps: decoded.nodes,
        output: output.map(|(template, _)| template),
        schedules: schedules?,
        input_schema: match input_schema {
            Some(schema) => Some(schema?),
            None => None,
        },
        source: cx.file.to_path_buf(),
        text: Arc::from(""),
    })
}
