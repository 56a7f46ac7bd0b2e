//! A step's `method`, read according to its service's protocol: `VERB /path`
//! for HTTP, `Method` or `package.Service/Method` for gRPC, the latter
//! checked against the service's `.proto` files when it has some.

use super::dataflow::Read;
use super::service::{Declared, Protocol};
use super::{Cx, scalar};
use crate::proto;
use crate::workflow::model::Call;
use crate::workflow::suggest;
use crate::workflow::yaml::Node;

/// The verbs a step may use; others (CONNECT, TRACE) make no sense in a
/// workflow.
pub const HTTP_VERBS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Decode `method` for `service`; nothing is checked when the service is
/// unknown or its type is wrong, since that is reported already.
pub fn call(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    service: Option<&Declared>,
) -> Option<(Call, Vec<Read>)> {
    let text = scalar::nonempty_string(cx, node, path)?;
    let service = service?;
    match service.protocol? {
        Protocol::Http => http(cx, node, path, text.trim(), &service.name),
        Protocol::Grpc => grpc(cx, node, path, text.trim(), service).map(|c| (c, Vec::new())),
    }
}

fn http(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    text: &str,
    service: &str,
) -> Option<(Call, Vec<Read>)> {
    let Some((verb, target)) = text.split_once(char::is_whitespace) else {
        let hint = if is_grpc_name(text) {
            format!("`{service}` is an HTTP service: write `VERB /path`, e.g. `POST /orders`")
        } else {
            "write `VERB /path`, e.g. `POST /orders`".into()
        };
        cx.report(
            node.pos(),
            path,
            format!("`{text}` is not `VERB /path`"),
            Some(hint),
        );
        return None;
    };
    let target = target.trim();
    if !HTTP_VERBS.contains(&verb) {
        let upper = verb.to_ascii_uppercase();
        let hint = if HTTP_VERBS.contains(&upper.as_str()) {
            format!("verbs are upper case: `{upper} {target}`")
        } else {
            suggest::did_you_mean(&upper, HTTP_VERBS.iter().copied())
                .unwrap_or_else(|| format!("one of {}", suggest::list(HTTP_VERBS.iter().copied())))
        };
        cx.report(
            node.pos(),
            path,
            format!("unknown HTTP verb `{verb}`"),
            Some(hint),
        );
        return None;
    }
    if !target.starts_with('/') {
        cx.report(
            node.pos(),
            path,
            format!("the path `{target}` does not start with `/`"),
            Some(format!("write `{verb} /{target}`")),
        );
        return None;
    }
    let verb = http::Method::from_bytes(verb.as_bytes()).ok()?;
    let (template, reads) = scalar::path_template(cx, target, node.pos(), path)?;
    Some((
        Call::Http {
            verb,
            path: template,
        },
        reads,
    ))
}

fn grpc(cx: &mut Cx<'_>, node: &Node, path: &str, text: &str, service: &Declared) -> Option<Call> {
    if !is_grpc_name(text) {
        let looks_http = text
            .split_once(' ')
            .is_some_and(|(verb, _)| HTTP_VERBS.contains(&verb.to_ascii_uppercase().as_str()));
        let hint = if looks_http {
            format!(
                "`{}` is a gRPC service: name the method, e.g. `Process`",
                service.name
            )
        } else {
            "write `Method` or `package.Service/Method`".into()
        };
        cx.report(
            node.pos(),
            path,
            format!("`{text}` is not a gRPC method name"),
            Some(hint),
        );
        return None;
    }
    if let Some(pool) = &service.pool
        && let Err(message) = proto::resolve_method(pool, text)
    {
        cx.report(
            node.pos(),
            path,
            message,
            Some(format!(
                "checked against the `proto` files of `{}`",
                service.name
            )),
        );
        return None;
    }
    Some(Call::Grpc {
        method: text.to_string(),
    })
}

/// `Method` or `package.Service/Method`.
pub fn is_grpc_name(text: &str) -> bool {
    match text.split_once('/') {
        Some((service, method)) => service.split('.').all(is_identifier) && is_identifier(method),
        None => is_identifier(text),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_names() {
        assert!(is_grpc_name("Process"));
        assert!(is_grpc_name("maestro.v1.Orders/Create"));
        assert!(!is_grpc_name("POST /x"));
        assert!(!is_grpc_name("pkg.Svc/"));
        assert!(!is_grpc_name("/Method"));
        assert!(!is_grpc_name("a..b/C"));
        assert!(!is_grpc_name("Svc/A/B"));
    }
}
