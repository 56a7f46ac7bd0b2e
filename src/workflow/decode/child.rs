//! `workflow` steps: another workflow file, loaded and validated with this
//! one (each file once, cycles refused, every file inside the first one's
//! folder), whose services join this workflow's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::dataflow::Read;
use super::proto::normalize;
use super::step::State;
use super::{Cx, Fields, Pos, scalar};
use crate::template::ValueTemplate;
use crate::workflow::model::{Service, ServiceKind, SubWorkflow, Workflow};

/// The files of one tree of workflows: the first file loaded and the child
/// workflows it uses, at any depth.
pub(crate) struct Tree {
    /// The first file's folder, as written and with links followed: every
    /// child workflow is a file inside it.
    root: (PathBuf, PathBuf),
    /// The files being loaded, the first one first: each real path, and
    /// the path messages show.
    stack: Vec<(PathBuf, PathBuf)>,
    /// Child workflows loaded so far by real path (`None`: invalid), so
    /// that a file used twice is read and reported once.
    loaded: HashMap<PathBuf, Option<Arc<Workflow>>>,
}

impl Tree {
    /// A tree whose first file is `top` (which need not exist).
    pub(crate) fn new(top: &Path) -> Self {
        let folder = match top.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        Tree {
            root: resolved(folder),
            stack: vec![(resolved(top).1, top.to_path_buf())],
            loaded: HashMap::new(),
        }
    }
}

/// A path as written (absolute, `..` taken out) and with links followed
/// (the same when it does not exist).
fn resolved(path: &Path) -> (PathBuf, PathBuf) {
    let lexical = normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    let real = path.canonicalize().unwrap_or_else(|_| lexical.clone());
    (lexical, real)
}

/// A `workflow` step of this file, for the services its child brings.
pub struct ChildUse {
    pub workflow: Arc<Workflow>,
    pub at: Pos,
    pub path: String,
}

/// A `workflow` step's own fields.
pub(super) fn child(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    f: &Fields<'_>,
    reads: &mut Vec<Read>,
) -> Option<SubWorkflow> {
    let node = f.get("workflow")?;
    let path = f.path("workflow");
    let given = scalar::nonempty_string(cx, node, &path)?;
    let input = match f.get("input") {
        Some(n) => scalar::value_template(cx, n, &f.path("input")).map(|(t, found)| {
            reads.extend(found);
            t
        }),
        None => ValueTemplate::parse(&json!({})).ok(),
    };
    let workflow = load(cx, &given, node.pos(), &path)?;
    st.out.children.push(ChildUse {
        workflow: Arc::clone(&workflow),
        at: node.pos(),
        path,
    });
    Some(SubWorkflow {
        path: given,
        workflow,
        input: input?,
    })
}

/// The child workflow file `given`, relative to this file's folder.
fn load(cx: &mut Cx<'_>, given: &str, at: Pos, path: &str) -> Option<Arc<Workflow>> {
    let shown = if cx.base == Path::new(".") {
        PathBuf::from(given)
    } else {
        cx.base.join(given)
    };
    let real = locate(cx, given, &shown, at, path)?;
    if let Some(first) = cx.tree.stack.iter().position(|(r, _)| *r == real) {
        let chain: Vec<String> = cx.tree.stack[first..]
            .iter()
            .map(|(_, s)| s.display().to_string())
            .chain([shown.display().to_string()])
            .collect();
        cx.report(
            at,
            path,
            format!("workflow `{given}` uses itself: {}", chain.join(" → ")),
            Some("a workflow cannot run itself, directly or through another".into()),
        );
        return None;
    }
    if let Some(done) = cx.tree.loaded.get(&real).cloned() {
        if done.is_none() {
            let message = format!("workflow `{given}` is invalid (its problems are listed once)");
            cx.error(at, path, message);
        }
        return done;
    }
    let loaded = read_and_decode(cx, &shown, &real);
    cx.tree.loaded.insert(real, loaded.as_ref().ok().cloned());
    match loaded {
        Ok(workflow) => Some(workflow),
        Err(problems) => {
            let message = match problems.as_slice() {
                [one] if one.line == 0 => format!("workflow `{given}`: {}", one.message),
                [_] => format!("workflow `{given}` is invalid: 1 problem"),
                _ => format!("workflow `{given}` is invalid: {} problems", problems.len()),
            };
            let hint = format!(
                "the problems follow, each at its line in `{}`",
                shown.display()
            );
            cx.report(at, path, message, Some(hint));
            if problems.iter().any(|p| p.line > 0) {
                cx.nested.extend(problems);
            }
            None
        }
    }
}

/// The child's file, checked to be a file inside the tree's folder; its
/// real path.
fn locate(cx: &mut Cx<'_>, given: &str, shown: &Path, at: Pos, path: &str) -> Option<PathBuf> {
    let hint = || {
        Some(
            "a child workflow's path is relative to the file that uses it, and stays in the \
             folder of the first workflow loaded"
                .to_string(),
        )
    };
    let full = cx.base.join(given);
    let (lexical, _) = resolved(&full);
    let (root_lexical, root_real) = &cx.tree.root;
    if !lexical.starts_with(root_lexical) {
        let message = format!("`{given}` is outside the workflow's folder");
        cx.report(at, path, message, hint());
        return None;
    }
    let Ok(real) = full.canonicalize() else {
        let message = format!(
            "`{given}` does not exist (looked for `{}`)",
            shown.display()
        );
        cx.report(at, path, message, hint());
        return None;
    };
    if !real.starts_with(root_real) {
        let message =
            format!("`{given}` leads, through a symbolic link, outside the workflow's folder");
        cx.report(at, path, message, hint());
        return None;
    }
    if !real.is_file() {
        cx.error(at, path, format!("`{given}` is not a file"));
        return None;
    }
    Some(real)
}

/// Read and validate a child file as a workflow of its own; its schedules
/// are the file's when it runs by itself, not the parent's.
fn read_and_decode(
    cx: &mut Cx<'_>,
    shown: &Path,
    real: &Path,
) -> Result<Arc<Workflow>, Vec<super::Diagnostic>> {
    let source = crate::workflow::read(shown)
        .map_err(|message| crate::workflow::whole_file(shown, message).into_vec())?;
    cx.tree
        .stack
        .push((real.to_path_buf(), shown.to_path_buf()));
    let loaded = crate::workflow::load_in(&source, shown, cx.proto_root, cx.env, cx.tree);
    cx.tree.stack.pop();
    let mut workflow = loaded?;
    workflow.schedules.clear();
    Ok(Arc::new(workflow))
}

/// This workflow's services, and those its child workflows bring that it
/// does not declare; a name declared in two files must name the same
/// service in both (same kind and endpoint), since a run has one per name.
pub(super) fn merge_services(
    cx: &mut Cx<'_>,
    own: Vec<Arc<Service>>,
    children: &[ChildUse],
) -> Option<Vec<Arc<Service>>> {
    let mut all: Vec<(Arc<Service>, PathBuf)> = own
        .into_iter()
        .map(|s| (s, cx.file.to_path_buf()))
        .collect();
    let mut clean = true;
    for child in children {
        let file = &child.workflow.source;
        for service in &child.workflow.services {
            let Some((first, origin)) = all.iter().find(|(s, _)| s.name == service.name) else {
                all.push((Arc::clone(service), file.clone()));
                continue;
            };
            if same_service(first, service) {
                continue;
            }
            let message = format!(
                "service `{}` of `{}` ({}) is not the one `{}` declares ({})",
                service.name,
                file.display(),
                describe(service),
                origin.display(),
                describe(first)
            );
            let hint = "a run calls one service per name: give them the same `type` and \
                        `endpoint`, or different names";
            cx.report(child.at, &child.path, message, Some(hint.into()));
            clean = false;
        }
    }
    clean.then(|| all.into_iter().map(|(s, _)| s).collect())
}

fn same_service(a: &Service, b: &Service) -> bool {
    match (&a.kind, &b.kind) {
        (ServiceKind::Grpc(x), ServiceKind::Grpc(y)) => x.endpoint == y.endpoint,
        (ServiceKind::Http(x), ServiceKind::Http(y)) => x.endpoint == y.endpoint,
        _ => false,
    }
}

/// `http at http://host/`, its user information hidden.
fn describe(service: &Service) -> String {
    let kind = match service.kind {
        ServiceKind::Grpc(_) => "grpc",
        ServiceKind::Http(_) => "http",
    };
    format!("{kind} at {}", service.endpoint_for_display())
}
