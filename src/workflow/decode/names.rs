//! What steps name: their `id`, unique across the file (bodies included)
//! and free of the characters reports use to name a body's steps, and the
//! `output` name later templates read their result by.

use super::dataflow::{INPUT, Producer, RUN};
use super::step::State;
use super::{Cx, Fields, scalar};
use crate::workflow::yaml::Node;

/// Characters an id may not hold: reports name a body step `loop[2]/step`.
const ID_RESERVED: &[char] = &['[', ']', '/'];

/// The step's `id`, unique in the workflow.
pub(super) fn step_id(cx: &mut Cx<'_>, st: &mut State<'_>, f: &Fields<'_>) -> Option<String> {
    let id_node = f.required(cx, "id", Some("give each step a unique `id`".into()));
    let id = id_node.and_then(|n| scalar::nonempty_string(cx, n, &f.path("id")))?;
    let n = id_node.expect("an id was read from it");
    if let Some(c) = id.chars().find(|c| ID_RESERVED.contains(c)) {
        cx.report(
            n.pos(),
            &f.path("id"),
            format!("step id `{}` holds `{c}`", id.escape_debug()),
            Some(
                "reports name a loop's steps `loop[2]/step`: use letters, digits, `_`, `-` and `.`"
                    .into(),
            ),
        );
        return None;
    }
    match st.ids.iter().find(|(seen, _)| *seen == id) {
        Some((_, line)) => cx.report(
            n.pos(),
            &f.path("id"),
            format!("duplicate step id `{id}`"),
            Some(format!("the first step with this id is on line {line}")),
        ),
        None => st.ids.push((id.clone(), n.line)),
    }
    Some(id)
}

/// Whether `name` can be read in a template as `.name`.
pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A name the run's data cannot hold for a step: `input` and `run` are
/// there already. The reason, if `name` is one of them.
pub(super) fn reserved(name: &str) -> Option<&'static str> {
    match name {
        INPUT => Some("the run's input"),
        RUN => Some("about the run itself"),
        _ => None,
    }
}

/// A step's `output`: templates read it as `.name`, so it must be an
/// identifier, and one name stores one step's result.
pub(super) fn output_name(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    node: &Node,
    path: &str,
    producer: Producer,
) -> Option<String> {
    let name = scalar::nonempty_string(cx, node, path)?;
    if !is_identifier(&name) {
        cx.report(
            node.pos(),
            path,
            format!("output name `{name}` is not an identifier"),
            Some("templates read it as `.name`: use letters, digits and `_`".into()),
        );
        return None;
    }
    if let Some(what) = reserved(&name) {
        cx.report(
            node.pos(),
            path,
            format!("`{name}` is {what} and cannot be a step's output"),
            Some("choose another name".into()),
        );
        return None;
    }
    if let Some(p) = st.out.producers.iter().find(|p| p.output == name) {
        cx.report(
            node.pos(),
            path,
            format!("output `{name}` is already produced by step `{}`", p.step),
            Some(format!(
                "step `{}` is on line {}; give each output its own name",
                p.step, p.line
            )),
        );
        return None;
    }
    st.out.producers.push(Producer {
        output: name.clone(),
        ..producer
    });
    Some(name)
}
