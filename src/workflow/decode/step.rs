//! The `steps:` list: steps, `parallel` groups, compensations, and what each
//! step's `method` means on its service's protocol.

use std::sync::Arc;

use super::call::call;
use super::child::{self, ChildUse};
use super::compensate;
use super::dataflow::{Element, Producer, Read, Scope, UnknownService, Use};
use super::group::{group, is_group, is_stray_compensation};
use super::names::{output_name, step_id};
use super::place::Place;
use super::policy::retry;
use super::request::{headers, input, method_hint, service_ref};
use super::service::{Declared, Services};
use super::{Cx, Fields, Pos, foreach, index, pause, scalar};
use crate::resilience::RetryPolicy;
use crate::template::Condition;
use crate::workflow::model::{self, Action, CallStep, Compensation, OnFailure, Step};
use crate::workflow::suggest;
use crate::workflow::yaml::{Kind, Node};

pub(crate) const STEP_FIELDS: &[&str] = &[
    "id",
    "service",
    "method",
    "input",
    "output",
    "when",
    "headers",
    "timeout",
    "retry",
    "compensate",
    "on_failure",
    "sleep",
    "sleep_until",
    "wait",
    "foreach",
    "as",
    "concurrency",
    "steps",
    "workflow",
];

/// The steps, and what the whole-file checks need to know about them.
#[derive(Default)]
pub struct Decoded {
    /// Complete only when no problem was reported.
    pub nodes: Vec<model::Node>,
    pub producers: Vec<Producer>,
    /// Every foreach's element, for the names its body reads.
    pub elements: Vec<Element>,
    pub uses: Vec<Use>,
    pub unknown_services: Vec<UnknownService>,
    /// Every child workflow step, for the services they bring.
    pub children: Vec<ChildUse>,
}

pub(super) struct State<'s> {
    pub services: &'s Services,
    /// Step ids seen so far, with their line.
    pub ids: Vec<(String, usize)>,
    /// The place of the list of steps being decoded; its last index is
    /// each entry's in turn.
    pub list: Place,
    pub out: Decoded,
}

pub fn decode_all(cx: &mut Cx<'_>, node: &Node, services: &Services) -> Option<Decoded> {
    let Kind::Seq(items) = &node.kind else {
        cx.report(
            node.pos(),
            "steps",
            format!("expected a list of steps, found {}", node.kind.describe()),
            Some("start each step with `- id: ...`".into()),
        );
        return None;
    };
    if items.is_empty() {
        cx.error(node.pos(), "steps", "a workflow needs at least one step");
    }
    let mut st = State {
        services,
        ids: Vec::new(),
        list: Place {
            at: vec![0],
            within: Vec::new(),
        },
        out: Decoded::default(),
    };
    st.out.nodes = block(cx, &mut st, items, "steps");
    Some(st.out)
}

/// A list of steps and parallel groups, at the top or a loop's body, in
/// the place `st.list` says.
pub(super) fn block(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    items: &[Node],
    list_path: &str,
) -> Vec<model::Node> {
    let mut nodes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = index(list_path, i);
        let decoded = if is_group(item) {
            group(cx, st, item, &path, i).map(model::Node::Parallel)
        } else if is_stray_compensation(item) {
            cx.report(
                item.pos(),
                &path,
                "`compensate` is read as a step of its own",
                Some(
                    "indent `compensate:` under the step it undoes, level with that \
                     step's `method:`"
                        .into(),
                ),
            );
            None
        } else {
            step(cx, st, item, &path, i).map(|s| model::Node::Step(Arc::new(s)))
        };
        nodes.extend(decoded);
    }
    nodes
}

pub(super) fn step(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    node: &Node,
    path: &str,
    at: usize,
) -> Option<Step> {
    let f = Fields::open(cx, node, path, "a step", STEP_FIELDS)?;
    let id = step_id(cx, st, &f);
    // Scopes need a name even for a step whose id is missing.
    let scope_id = id.clone().unwrap_or_else(|| path.to_string());
    let place = st.list.sibling(at);
    let mut reads: Vec<Read> = Vec::new();
    let output = step_output(cx, st, &f, &place, &scope_id);
    let when = step_when(cx, &f, &mut reads);
    let action = match pause::kind(cx, &f)? {
        pause::Kind::Call => call_step(cx, st, &f, &place, &scope_id, &mut reads).map(Action::Call),
        pause::Kind::Sleep => pause::sleep(cx, &f, &mut reads).map(Action::Sleep),
        pause::Kind::Wait => pause::wait(cx, &f).map(Action::Wait),
        pause::Kind::Foreach => {
            foreach::foreach(cx, st, &f, &place, &scope_id, &mut reads).map(Action::Foreach)
        }
        pause::Kind::Workflow => child::child(cx, st, &f, &mut reads).map(Action::Workflow),
    };
    let step_scope = Scope::Step {
        place,
        id: scope_id,
    };
    st.out
        .uses
        .extend(reads.into_iter().map(|r| r.at_scope(step_scope.clone())));
    let on_failure = on_failure(cx, &f);
    Some(Step {
        id: id?,
        output,
        when,
        on_failure: on_failure?,
        action: action?,
    })
}

/// A step that calls a service: its call, request and compensation.
fn call_step(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    f: &Fields<'_>,
    place: &Place,
    scope_id: &str,
    reads: &mut Vec<Read>,
) -> Option<CallStep> {
    let service_name = step_service(cx, st, f);
    let declared = service_name
        .as_ref()
        .and_then(|(name, _)| st.services.get(name));
    let method = f
        .required(cx, "method", Some(method_hint(declared)))
        .and_then(|n| call(cx, n, &f.path("method"), declared))
        .map(|(c, r)| {
            reads.extend(r);
            c
        });
    let input = input(cx, f, method.as_ref(), declared, reads);
    let headers = f
        .get("headers")
        .and_then(|n| headers(cx, declared, n, &f.path("headers"), reads));
    let timeout = f
        .get("timeout")
        .and_then(|n| scalar::positive_duration(cx, n, &f.path("timeout")));
    let retry_policy = step_retry(cx, f, declared);
    let default_service = service_name.as_ref().map(|(name, _)| name.as_str());
    let compensate = step_compensation(cx, st, f, place, scope_id.to_owned(), default_service);
    Some(CallStep {
        service: service_name?.0,
        call: method?,
        input: input?,
        headers: headers.unwrap_or_default(),
        timeout,
        retry: retry_policy?,
        compensate: compensate?,
    })
}

/// The step's `service`: a name, checked against `services` at the end.
fn step_service(cx: &mut Cx<'_>, st: &mut State<'_>, f: &Fields<'_>) -> Option<(String, Pos)> {
    let hint = Some("name one of the workflow's `services`".into());
    let node = f.required(cx, "service", hint)?;
    service_ref(cx, st, node, &f.path("service"))
}

/// The step's `when`, and the data it reads.
fn step_when(cx: &mut Cx<'_>, f: &Fields<'_>, reads: &mut Vec<Read>) -> Option<Condition> {
    let (condition, found) = scalar::condition(cx, f.get("when")?, &f.path("when"))?;
    reads.extend(found);
    Some(condition)
}

/// The step's `output`, a name now taken.
fn step_output(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    f: &Fields<'_>,
    place: &Place,
    scope_id: &str,
) -> Option<String> {
    let producer = Producer {
        output: String::new(),
        step: scope_id.to_owned(),
        place: place.clone(),
        line: f.pos().line,
    };
    let node = f.get("output")?;
    output_name(cx, st, node, &f.path("output"), producer)
}

/// The step's `retry`, merged over its service's policy.
fn step_retry(cx: &mut Cx<'_>, f: &Fields<'_>, declared: Option<&Declared>) -> Option<RetryPolicy> {
    let base = declared.map(|d| d.retry.clone()).unwrap_or_default();
    match f.get("retry") {
        Some(n) => retry(cx, n, &f.path("retry"), &base),
        None => Some(base),
    }
}

/// `on_failure`: `compensate` (the default) or `continue`, which a step
/// with a `compensate` cannot take.
fn on_failure(cx: &mut Cx<'_>, f: &Fields<'_>) -> Option<OnFailure> {
    let Some(node) = f.get("on_failure") else {
        return Some(OnFailure::Compensate);
    };
    let path = f.path("on_failure");
    match scalar::string(cx, node, &path)? {
        "compensate" => Some(OnFailure::Compensate),
        "continue" if f.get("compensate").is_some() => {
            cx.report(
                node.pos(),
                &path,
                "a step with a `compensate` cannot go on after failing",
                Some(
                    "a failure that is let through may still have taken effect, and \
                     nothing would undo it later: drop `compensate` or `on_failure`"
                        .into(),
                ),
            );
            None
        }
        "continue" => Some(OnFailure::Continue),
        other => {
            let hint = suggest::did_you_mean(other, ["compensate", "continue"])
                .unwrap_or_else(|| "`compensate` (the default) or `continue`".into());
            cx.report(
                node.pos(),
                &path,
                format!("unknown `on_failure` `{other}`"),
                Some(hint),
            );
            None
        }
    }
}

/// The step's `compensate`: `Some(None)` without one, `None` when invalid.
fn step_compensation(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    f: &Fields<'_>,
    place: &Place,
    id: String,
    default_service: Option<&str>,
) -> Option<Option<Compensation>> {
    let Some(n) = f.get("compensate") else {
        return Some(None);
    };
    let scope = Scope::Compensation {
        place: place.clone(),
        id,
    };
    compensate::compensation(cx, st, n, &f.path("compensate"), default_service, scope).map(Some)
}
