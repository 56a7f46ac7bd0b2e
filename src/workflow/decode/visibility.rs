//! Whether the data a template reads exists where it is read: outputs of
//! steps listed before it, up its tree of steps, and the element of each
//! foreach whose body holds it; and element names that would hide outputs.

use super::Cx;
use super::dataflow::{Dataflow, Element, INPUT, Producer, RUN, Scope, Use};
use super::place::{Place, Sight};
use crate::template::DataPath;
use crate::workflow::suggest;

/// Where a template reads from, and the step it belongs to.
struct Reader<'u> {
    place: Place,
    /// `None` for the workflow's `output`.
    id: Option<&'u str>,
    compensation: bool,
}

/// Why `u` cannot read what it reads, if it cannot.
pub fn problem(u: &Use, flow: &Dataflow<'_>) -> Option<(String, String)> {
    let shown = u.read.data.to_string();
    let root = &u.read.data.root;
    let reader = match &u.scope {
        Scope::ServiceHeaders => {
            return Some((
                format!("service headers can only read `.input` and `.run`, not `{shown}`"),
                "set this header in the `headers` of the steps that need it".into(),
            ));
        }
        Scope::Step { place, id } => Reader {
            place: place.clone(),
            id: Some(id),
            compensation: false,
        },
        Scope::Compensation { place, id } => Reader {
            place: place.clone(),
            id: Some(id),
            compensation: true,
        },
        Scope::WorkflowOutput => Reader {
            place: Place::end(),
            id: None,
            compensation: false,
        },
    };
    let in_body = |e: &&Element| reader.place.is_inside(&e.place, &e.step);
    if let Some(e) = flow
        .elements
        .iter()
        .filter(in_body)
        .find(|e| names(e, root))
    {
        return index_problem(e, &u.read.data);
    }
    let Some(p) = flow.producers.iter().find(|p| &p.output == root) else {
        return Some(unknown(&shown, root, &reader, flow));
    };
    sight_problem(&shown, root, p, &reader, flow)
}

fn names(e: &Element, root: &str) -> bool {
    e.name == root || e.index == root
}

/// `.item` is any value; `.item_index` a number, with no fields.
fn index_problem(e: &Element, data: &DataPath) -> Option<(String, String)> {
    if data.root != e.index || data.segments.is_empty() {
        return None;
    }
    Some((
        format!("`{data}`: `.{}` is a number", e.index),
        format!(
            "`.{}` is the position of `.{}` in the list, from 0",
            e.index, e.name
        ),
    ))
}

/// A name no step outputs: an element read outside its loop, or a slip.
fn unknown(shown: &str, root: &str, reader: &Reader<'_>, flow: &Dataflow<'_>) -> (String, String) {
    if let Some(e) = flow.elements.iter().find(|e| names(e, root)) {
        return (
            format!(
                "`{shown}` is the element of foreach `{}` (line {}), which only its `steps` can read",
                e.step, e.line
            ),
            "after the loop, read the list the foreach outputs".into(),
        );
    }
    let visible = flow
        .elements
        .iter()
        .filter(|e| reader.place.is_inside(&e.place, &e.step))
        .flat_map(|e| [e.name.as_str(), e.index.as_str()]);
    let outputs = flow.producers.iter().map(|p| p.output.as_str());
    let names = outputs.clone().chain(visible).chain([INPUT, RUN]);
    let hint = suggest::did_you_mean(root, names).unwrap_or_else(|| {
        format!(
            "templates can read `.input`, `.run` and the outputs {}",
            suggest::list(outputs)
        )
    });
    (format!("`{shown}`: no step outputs `{root}`"), hint)
}

/// Why the output of `p` cannot be read from `reader`, if it cannot.
fn sight_problem(
    shown: &str,
    root: &str,
    p: &Producer,
    reader: &Reader<'_>,
    flow: &Dataflow<'_>,
) -> Option<(String, String)> {
    let own = reader.id == Some(p.step.as_str());
    let (step, line) = (&p.step, p.line);
    let sight = p.place.seen_from(&reader.place, step);
    let message = match sight {
        Sight::Before => return None,
        Sight::SameEntry if own && reader.compensation => return None,
        Sight::InBody { depth } => return Some(in_body(shown, root, p, depth, flow)),
        Sight::Enclosing => {
            return Some((
                format!(
                    "`{shown}` is the output of foreach `{step}` (line {line}), which holds this \
                     step: the list exists once every element is done"
                ),
                "a step of a loop reads its element and the outputs of steps before it in the \
                 loop's `steps`"
                    .into(),
            ));
        }
        Sight::SameEntry if own => format!(
            "`{shown}` is the output of this very step, which does not exist before it ends"
        ),
        Sight::SameEntry => format!(
            "`{shown}` comes from step `{step}` (line {line}), which runs in the same parallel group"
        ),
        Sight::Later => {
            format!("`{shown}` comes from step `{step}` (line {line}), which runs later")
        }
    };
    let hint = if reader.compensation {
        "a compensation reads `.input`, its own step's output and the outputs of earlier steps"
    } else if sight == Sight::SameEntry {
        "steps of one parallel group cannot read each other's output; move the reading step after the group"
    } else {
        "a step can only read outputs of steps listed before it"
    };
    Some((message, hint.to_string()))
}

/// An output of a loop's step, read where the loop's elements are not.
fn in_body(
    shown: &str,
    root: &str,
    p: &Producer,
    depth: usize,
    flow: &Dataflow<'_>,
) -> (String, String) {
    let foreach = &p.place.within[depth];
    let message = format!(
        "`{shown}` comes from step `{}` (line {}), inside foreach `{foreach}`: it holds one value \
         per element",
        p.step, p.line
    );
    let list = flow.producers.iter().find(|q| q.step == *foreach);
    let hint = match list {
        Some(q) if depth + 1 == p.place.within.len() => format!(
            "after the loop, read the foreach's output: `.{}[i].{root}` is element i's",
            q.output
        ),
        Some(q) => format!(
            "after the loop, read the foreach's output `.{}`, each element's outputs",
            q.output
        ),
        None => format!(
            "give foreach `{foreach}` an `output`: the list of each element's outputs, read after \
             the loop"
        ),
    };
    (message, hint)
}

/// An element's names may not be those of outputs its body can read or
/// holds, nor those of an enclosing loop's element.
pub fn check_elements(cx: &mut Cx<'_>, elements: &[Element], producers: &[Producer]) {
    for e in elements {
        let body = e.place.child(&e.step, 0);
        let enclosing = elements
            .iter()
            .filter(|o| e.place.is_inside(&o.place, &o.step))
            .find(|o| names(o, &e.name) || names(o, &e.index));
        let hidden = producers.iter().find(|p| {
            names(e, &p.output)
                && (p.place.is_inside(&e.place, &e.step)
                    || p.place.seen_from(&body, &p.step) == Sight::Before)
        });
        let (message, hint) = match (enclosing, hidden) {
            (Some(o), _) => (
                format!(
                    "the element reads as `.{}`, as does the element of the enclosing foreach \
                     `{}` (line {})",
                    e.name, o.step, o.line
                ),
                "give each loop's element its own name with `as:`",
            ),
            (None, Some(p)) => (
                format!(
                    "{} reads as `.{}`, which names the output of step `{}` (line {}) too",
                    if p.output == e.index {
                        "the element's position"
                    } else {
                        "the element"
                    },
                    p.output,
                    p.step,
                    p.line
                ),
                if e.written {
                    "name the element another way, or the output"
                } else {
                    "`item` is the name of an element when `as:` gives none: give it another"
                },
            ),
            (None, None) => continue,
        };
        cx.report(e.at, &e.path, message, Some(hint.into()));
    }
}
