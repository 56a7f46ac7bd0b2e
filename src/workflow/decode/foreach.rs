//! `foreach` steps: a `{{ }}` template giving a list, the name its element
//! reads under, how many elements run at once, and the body, decoded by the
//! same code as the top-level `steps`.

use std::num::NonZeroU32;

use super::dataflow::{Element, Read};
use super::names::{is_identifier, reserved};
use super::place::Place;
use super::step::{State, block};
use super::{Cx, Fields, scalar};
use crate::template::Template;
use crate::workflow::model::{self, DEFAULT_FOREACH_AS, Foreach, MAX_FOREACH_CONCURRENCY};
use crate::workflow::yaml::Kind;

/// A `foreach` step's own fields; `id` names it, `place` is where it is.
pub(super) fn foreach(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    f: &Fields<'_>,
    place: &Place,
    id: &str,
    reads: &mut Vec<Read>,
) -> Option<Foreach> {
    let items = items(cx, f, reads);
    let alias = alias(cx, st, f, place, id);
    let concurrency = concurrency(cx, f);
    let body = body(cx, st, f, place, id);
    Some(Foreach {
        items: items?,
        alias: alias?,
        concurrency: concurrency?,
        body: body?,
    })
}

/// `foreach: "{{ .input.items }}"`: one template and nothing around it,
/// since text around it would make a string, never a list.
fn items(cx: &mut Cx<'_>, f: &Fields<'_>, reads: &mut Vec<Read>) -> Option<Template> {
    let node = f.get("foreach")?;
    let path = f.path("foreach");
    let hint = || Some("write one template giving a list: `\"{{ .input.items }}\"`".to_string());
    let Kind::Str(text) = &node.kind else {
        let found = node.found();
        let message = format!("expected a `{{{{ }}}}` template giving a list, found {found}");
        cx.report(node.pos(), &path, message, hint());
        return None;
    };
    let (template, found) = scalar::template_text(cx, text, node.pos(), &path)?;
    let whole = text.starts_with("{{") && text.ends_with("}}") && text.matches("{{").count() == 1;
    if !whole {
        let message = format!(
            "`{}` is not one `{{{{ }}}}` template: the list comes from the run's data",
            text.escape_debug()
        );
        cx.report(node.pos(), &path, message, hint());
        return None;
    }
    reads.extend(found);
    Some(template)
}

/// `as`: the name the element reads under in the body, `item` by default.
fn alias(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    f: &Fields<'_>,
    place: &Place,
    id: &str,
) -> Option<String> {
    let (name, at, path, written) = match f.get("as") {
        Some(node) => {
            let path = f.path("as");
            let name = scalar::nonempty_string(cx, node, &path)?;
            if let Some(problem) = alias_problem(&name) {
                let hint = "templates read the element as `.name`: use letters, digits and `_`";
                cx.report(node.pos(), &path, problem, Some(hint.into()));
                return None;
            }
            (name, node.pos(), path, true)
        }
        None => {
            let node = f.get("foreach")?;
            (
                DEFAULT_FOREACH_AS.to_owned(),
                node.pos(),
                f.path("foreach"),
                false,
            )
        }
    };
    st.out.elements.push(Element {
        index: format!("{name}_index"),
        name: name.clone(),
        step: id.to_owned(),
        place: place.clone(),
        line: f.pos().line,
        at,
        path,
        written,
    });
    Some(name)
}

fn alias_problem(name: &str) -> Option<String> {
    if !is_identifier(name) {
        return Some(format!("`{}` is not an identifier", name.escape_debug()));
    }
    reserved(name).map(|what| format!("`{name}` is {what} and cannot name a loop's element"))
}

/// `concurrency`: elements in flight at once, 1 (one after the other) by
/// default.
fn concurrency(cx: &mut Cx<'_>, f: &Fields<'_>) -> Option<NonZeroU32> {
    let Some(node) = f.get("concurrency") else {
        return Some(NonZeroU32::MIN);
    };
    let path = f.path("concurrency");
    let why = "`concurrency: 1` runs the elements one after the other";
    let n = scalar::count(cx, node, &path, 1, why)?;
    if n > MAX_FOREACH_CONCURRENCY {
        cx.report(
            node.pos(),
            &path,
            format!("must be at most {MAX_FOREACH_CONCURRENCY}, got {n}"),
            Some(format!(
                "a loop runs at most {MAX_FOREACH_CONCURRENCY} elements at once; a service's own \
                 `concurrency` bounds its calls across runs"
            )),
        );
        return None;
    }
    NonZeroU32::new(n)
}

/// `steps`: the body, steps and parallel groups as at the top.
fn body(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    f: &Fields<'_>,
    place: &Place,
    id: &str,
) -> Option<Vec<model::Node>> {
    let hint = "list the steps to run for each element under `steps:`";
    let node = f.required(cx, "steps", Some(hint.into()))?;
    let path = f.path("steps");
    let Kind::Seq(items) = &node.kind else {
        let found = node.kind.describe();
        cx.report(
            node.pos(),
            &path,
            format!("expected a list of steps, found {found}"),
            Some("start each step with `- id: ...`".into()),
        );
        return None;
    };
    if items.is_empty() {
        cx.report(
            node.pos(),
            &path,
            "a `foreach` needs at least one step",
            Some(hint.into()),
        );
        return None;
    }
    let outer = std::mem::replace(&mut st.list, place.child(id, 0));
    let nodes = block(cx, st, items, &path);
    st.list = outer;
    Some(nodes)
}
