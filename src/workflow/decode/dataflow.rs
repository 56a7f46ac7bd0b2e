//! Which data each template may read: `.input` always, a step's output only
//! once that step has run, a foreach's element only in its body. Also the
//! report of services used but not defined.

use std::collections::HashSet;

use super::place::Place;
use super::service::Services;
use super::{Cx, Pos, visibility};
use crate::template::DataPath;
use crate::workflow::suggest;
use crate::workflow::yaml::{Key, Node};

/// The root every template may read: the run's input.
pub const INPUT: &str = "input";
/// The root every template may read about the run itself, and its fields.
pub const RUN: &str = "run";
pub const RUN_FIELDS: &[&str] = &["id", "workflow", "started_at"];

/// A data path read by a template, where the template is.
#[derive(Debug, Clone)]
pub struct Read {
    pub data: DataPath,
    pub at: Pos,
    pub path: String,
}

impl Read {
    pub fn new(data: DataPath, at: Pos, path: &str) -> Self {
        Self {
            data,
            at,
            path: path.to_string(),
        }
    }

    pub fn at_scope(self, scope: Scope) -> Use {
        Use { read: self, scope }
    }
}

/// Where a template is evaluated, which decides what it can see.
#[derive(Debug, Clone)]
pub enum Scope {
    /// A step's input, path, headers, `when` or list: outputs of earlier
    /// entries of its list of steps and of the lists enclosing it, not of
    /// its own parallel group; in a foreach's body, its element too.
    Step { place: Place, id: String },
    /// A compensation: like its step, plus that step's own output.
    Compensation { place: Place, id: String },
    /// The workflow's `output`: every output of the top-level steps.
    WorkflowOutput,
    /// A service's headers are shared by every step, so only `.input` is
    /// certain to exist for all of them.
    ServiceHeaders,
}

#[derive(Debug, Clone)]
pub struct Use {
    pub read: Read,
    pub scope: Scope,
}

/// A step that stores its result under a name.
#[derive(Debug, Clone)]
pub struct Producer {
    pub output: String,
    pub step: String,
    pub place: Place,
    pub line: usize,
}

/// The element of a foreach, readable in its body as `.name`, its position
/// as `.index`.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub index: String,
    /// The foreach step's id and place.
    pub step: String,
    pub place: Place,
    pub line: usize,
    /// The `as` value, or the `foreach` one when the name is the default.
    pub at: Pos,
    pub path: String,
    pub written: bool,
}

/// What the whole-file check needs: every output, element and read.
pub struct Dataflow<'a> {
    pub producers: &'a [Producer],
    pub elements: &'a [Element],
    pub uses: &'a [Use],
}

/// Report every read of data that does not exist where it is read, once per
/// template and name, and every element name that hides an output.
pub fn check(cx: &mut Cx<'_>, flow: &Dataflow<'_>) {
    let mut seen: HashSet<(Pos, String, String)> = HashSet::new();
    for u in flow.uses {
        let root = &u.read.data.root;
        if root == INPUT || !seen.insert((u.read.at, u.read.path.clone(), root.clone())) {
            continue;
        }
        let found = if root == RUN {
            run_problem(&u.read.data)
        } else {
            visibility::problem(u, flow)
        };
        if let Some((message, hint)) = found {
            cx.report(u.read.at, &u.read.path, message, Some(hint));
        }
    }
    visibility::check_elements(cx, flow.elements, flow.producers);
}

/// `.run` holds a few fields, each a string.
fn run_problem(data: &DataPath) -> Option<(String, String)> {
    let hint = || format!("`.run` holds {}", suggest::list(RUN_FIELDS.iter().copied()));
    match data.segments.as_slice() {
        [field] if RUN_FIELDS.contains(&field.as_str()) => None,
        [] => Some((
            format!("`{data}` is an object; read one of its fields"),
            hint(),
        )),
        [field, ..] if RUN_FIELDS.contains(&field.as_str()) => {
            Some((format!("`{data}`: `.run.{field}` is a string"), hint()))
        }
        [field, ..] => Some((
            format!("`{data}`: the run has no `{field}`"),
            suggest::did_you_mean(field, RUN_FIELDS.iter().copied()).unwrap_or_else(hint),
        )),
    }
}

/// A step or compensation naming a service the file does not define.
#[derive(Debug, Clone)]
pub struct UnknownService {
    pub name: String,
    pub at: Pos,
    pub path: String,
}

/// One diagnostic per missing service, at its first use, then a summary
/// listing all of them so the `services:` block can be written in one go.
pub fn report_unknown_services(
    cx: &mut Cx<'_>,
    unknown: &[UnknownService],
    services: &Services,
    services_entry: Option<(&Key, &Node)>,
    root: &Node,
) {
    let mut first_uses: Vec<&UnknownService> = Vec::new();
    for u in unknown {
        if !first_uses.iter().any(|f| f.name == u.name) {
            first_uses.push(u);
        }
    }
    let defined: Vec<&str> = services.names().collect();
    for u in &first_uses {
        let hint = suggest::did_you_mean(&u.name, defined.iter().copied()).unwrap_or_else(|| {
            if defined.is_empty() {
                "the workflow defines no `services:`".to_string()
            } else {
                format!(
                    "defined services: {}",
                    suggest::list(defined.iter().copied())
                )
            }
        });
        cx.report(
            u.at,
            &u.path,
            format!("unknown service `{}`", u.name),
            Some(hint),
        );
    }
    if first_uses.is_empty() {
        return;
    }
    let names = suggest::list(first_uses.iter().map(|u| u.name.as_str()));
    let message = match first_uses.len() {
        1 => format!("service {names} is used but not defined"),
        n => format!("{n} services are used but not defined: {names}"),
    };
    let at = services_entry
        .map(|(k, _)| k.pos())
        .unwrap_or_else(|| root.pos());
    cx.summary(
        at,
        "services",
        message,
        Some("define each under `services:` with its `type` (grpc or http) and `endpoint`".into()),
    );
}
