//! `parallel` groups in `steps:`: their branches, and the mistakes that
//! read as something else (a `when` on the group, a compensation indented as
//! a step of its own).

use super::step::{State, step};
use super::{Cx, Fields, index};
use crate::workflow::model::ParallelGroup;
use crate::workflow::yaml::{Kind, Node};

/// What a parallel group may hold.
pub(crate) const GROUP_FIELDS: &[&str] = &["parallel"];

/// A list item holding `compensate` and none of a step's own fields: a
/// compensation indented one level too little.
pub(super) fn is_stray_compensation(node: &Node) -> bool {
    let Kind::Map(entries) = &node.kind else {
        return false;
    };
    let has = |name: &str| entries.iter().any(|(k, _)| k.name == name);
    has("compensate") && !["id", "service", "method"].iter().any(|f| has(f))
}

pub(super) fn is_group(node: &Node) -> bool {
    matches!(&node.kind, Kind::Map(entries) if entries.iter().any(|(k, _)| k.name == "parallel"))
}

pub(super) fn group(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    node: &Node,
    path: &str,
    at: usize,
) -> Option<ParallelGroup> {
    let without_when = stray_when(cx, node, path);
    let node = without_when.as_ref().unwrap_or(node);
    let f = Fields::open(cx, node, path, "a parallel group", GROUP_FIELDS)?;
    let list = f.get("parallel")?;
    let list_path = f.path("parallel");
    let Kind::Seq(items) = &list.kind else {
        cx.error(
            list.pos(),
            &list_path,
            format!("expected a list of steps, found {}", list.kind.describe()),
        );
        return None;
    };
    if items.is_empty() {
        cx.report(
            list.pos(),
            &list_path,
            "`parallel` lists no steps",
            Some("list the steps to run at once, or remove the group".into()),
        );
        return None;
    }
    let mut branches = Vec::new();
    for (j, item) in items.iter().enumerate() {
        let path = index(&list_path, j);
        if is_group(item) {
            cx.report(
                item.pos(),
                &path,
                "parallel groups cannot be nested",
                Some("list all the steps that run at once in one group".into()),
            );
            continue;
        }
        branches.extend(step(cx, st, item, &path, at).map(std::sync::Arc::new));
    }
    (branches.len() == items.len()).then_some(ParallelGroup { branches })
}

/// A `when` on a group, said to belong on its steps; the group without it,
/// so that it is not reported a second time as an unknown field.
fn stray_when(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Node> {
    let Kind::Map(entries) = &node.kind else {
        return None;
    };
    let (key, _) = entries.iter().find(|(k, _)| k.name == "when")?;
    cx.report(
        key.pos(),
        &super::join(path, "when"),
        "a parallel group has no `when`",
        Some("put the condition on each step of the group that needs it".into()),
    );
    let rest = entries.iter().filter(|(k, _)| k.name != "when").cloned();
    Some(Node {
        kind: Kind::Map(rest.collect()),
        line: node.line,
        column: node.column,
    })
}
