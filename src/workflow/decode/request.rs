//! The parts of a call that steps and compensations share: the service it
//! names, its `input` and its `headers`.

use serde_json::json;

use super::dataflow::{Read, UnknownService};
use super::service::{Declared, Protocol};
use super::step::State;
use super::{Cx, Fields, Pos, message, scalar};
use crate::proto;
use crate::template::ValueTemplate;
use crate::workflow::model::{Call, Header};
use crate::workflow::yaml::{Kind, Node};

pub(super) fn service_ref(
    cx: &mut Cx<'_>,
    st: &mut State<'_>,
    node: &Node,
    path: &str,
) -> Option<(String, Pos)> {
    let name = scalar::nonempty_string(cx, node, path)?;
    if st.services.get(&name).is_none() {
        st.out.unknown_services.push(UnknownService {
            name: name.clone(),
            at: node.pos(),
            path: path.to_string(),
        });
    }
    Some((name, node.pos()))
}

pub(super) fn method_hint(declared: Option<&Declared>) -> String {
    match declared.and_then(|d| d.protocol) {
        Some(Protocol::Http) => "an HTTP call is `VERB /path`, e.g. `POST /orders`".into(),
        Some(Protocol::Grpc) => "a gRPC call is `Method` or `package.Service/Method`".into(),
        None => "the call to make, e.g. `Process` (gRPC) or `POST /orders` (HTTP)".into(),
    }
}

/// `input` (or a compensation's): absent means an empty object. A request
/// without a body sends its input as query parameters, one per field, so
/// there it must be a mapping (or a template that gives one).
pub(super) fn input(
    cx: &mut Cx<'_>,
    f: &Fields<'_>,
    call: Option<&Call>,
    declared: Option<&Declared>,
    reads: &mut Vec<Read>,
) -> Option<ValueTemplate> {
    let Some(node) = f.get("input") else {
        return match ValueTemplate::parse(&json!({})) {
            Ok(t) => Some(t),
            Err(errors) => {
                for (leaf, err) in errors {
                    cx.error(f.pos(), &f.path("input"), format!("{leaf}: {err}"));
                }
                None
            }
        };
    };
    if let Some(Call::Http { verb, .. }) = call
        && !matches!(
            *verb,
            http::Method::POST | http::Method::PUT | http::Method::PATCH
        )
        && !matches!(&node.kind, Kind::Map(_) | Kind::Null)
        && !matches!(&node.kind, Kind::Str(s) if s.contains("{{"))
    {
        cx.report(
            node.pos(),
            &f.path("input"),
            format!(
                "a {verb} request has no body, so `input` must be a mapping, not {}",
                node.found()
            ),
            Some("each field of `input` becomes one query parameter".into()),
        );
        return None;
    }
    let (template, found) = scalar::value_template(cx, node, &f.path("input"))?;
    reads.extend(found);
    if let (Some(Call::Grpc { method }), Some(pool)) =
        (call, declared.and_then(|d| d.pool.as_ref()))
        && let Ok(method) = proto::resolve_method(pool, method)
    {
        let before = cx.count();
        message::check(cx, node, &f.path("input"), &method.input());
        if cx.count() != before {
            return None;
        }
    }
    Some(template)
}

/// Step or compensation headers, which only HTTP sends.
pub(super) fn headers(
    cx: &mut Cx<'_>,
    declared: Option<&Declared>,
    node: &Node,
    path: &str,
    reads: &mut Vec<Read>,
) -> Option<Vec<Header>> {
    if declared.and_then(|d| d.protocol) == Some(Protocol::Grpc) {
        cx.report(
            node.pos(),
            path,
            "`headers` apply to http services only",
            Some(format!(
                "`{}` is a gRPC service",
                declared.map(|d| d.name.as_str()).unwrap_or_default()
            )),
        );
        return None;
    }
    let (headers, found) = super::headers::decode(cx, node, path)?;
    reads.extend(found);
    Some(headers)
}
