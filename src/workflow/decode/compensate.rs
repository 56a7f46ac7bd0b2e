//! A step's `compensate` block: the call that undoes the step when a later
//! one fails, on the step's service unless it names another.

use super::call::call;
use super::dataflow::Scope;
use super::request::{headers, input, method_hint, service_ref};
use super::step::State;
use super::{Cx, Fields};
use crate::workflow::model::Compensation;
use crate::workflow::yaml::Node;

pub(crate) const COMPENSATE_FIELDS: &[&str] = &["service", "method", "input", "headers"];

pub(super) fn compensation(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    node: &Node,
    path: &str,
    step_service: Option<&str>,
    scope: Scope,
) -> Option<Compensation> {
    let f = Fields::open(cx, node, path, "a compensation", COMPENSATE_FIELDS)?;
    let mut reads = Vec::new();
    let service_name = match f.get("service") {
        Some(n) => service_ref(cx, st, n, &f.path("service")).map(|(name, _)| name),
        None => step_service.map(str::to_string),
    };
    let declared = service_name
        .as_deref()
        .and_then(|name| st.services.get(name));
    let hint = format!("the call that undoes the step; {}", method_hint(declared));
    let method = f
        .required(cx, "method", Some(hint))
        .and_then(|n| call(cx, n, &f.path("method"), declared))
        .map(|(c, r)| {
            reads.extend(r);
            c
        });
    let input = input(cx, &f, method.as_ref(), declared, &mut reads);
    let headers = f
        .get("headers")
        .and_then(|n| headers(cx, declared, n, &f.path("headers"), &mut reads));
    st.out
        .uses
        .extend(reads.into_iter().map(|r| r.at_scope(scope.clone())));
    Some(Compensation {
        service: service_name?,
        call: method?,
        input: input?,
        headers: headers.unwrap_or_default(),
    })
}
