//! Service endpoints: `${NAME}` expanded from the environment, then checked
//! for the service's protocol (`host:port` or a URL for gRPC, a URL for HTTP).

use super::{Cx, scalar};
use crate::workflow::env::{self, EnvProblem};
use crate::workflow::model::redact_userinfo;
use crate::workflow::yaml::Node;

/// The gRPC endpoint at `node`, reported there if it is not usable.
pub fn grpc(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<http::Uri> {
    let text = expanded(cx, node, path)?;
    grpc_endpoint(&text)
        .map_err(|(message, hint)| cx.report(node.pos(), path, message, Some(hint)))
        .ok()
}

/// The HTTP base URL at `node`, reported there if it is not usable.
pub fn http(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<reqwest::Url> {
    let text = expanded(cx, node, path)?;
    http_endpoint(&text)
        .map_err(|(message, hint)| cx.report(node.pos(), path, message, Some(hint)))
        .ok()
}

/// The endpoint text with `${NAME}` resolved.
fn expanded(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    let text = scalar::nonempty_string(cx, node, path)?;
    match env::expand(&text, cx.env) {
        Ok(text) => Some(text),
        Err(EnvProblem::Unset(name)) => {
            cx.report(
                node.pos(),
                path,
                format!("environment variable `{name}` is not set"),
                Some(format!(
                    "set it, or give a default: `${{{name}:-localhost:50051}}`"
                )),
            );
            None
        }
        Err(EnvProblem::Malformed(message)) => {
            cx.report(
                node.pos(),
                path,
                message,
                Some("write `${NAME}` or `${NAME:-default}`".into()),
            );
            None
        }
    }
}

/// A message and a hint; the endpoint is quoted without its user name and
/// password, which may come from the environment.
type Problem = (String, String);

/// `host:port`, or `http(s)://host[:port]`; a bare address gets `http://`.
pub fn grpc_endpoint(text: &str) -> Result<http::Uri, Problem> {
    let shown = redact_userinfo(text);
    let hint = || "write `host:port` or `http://host:port`, e.g. `localhost:50051`".to_string();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let uri: http::Uri = with_scheme
        .parse()
        .map_err(|e| (format!("`{shown}` is not a valid address: {e}"), hint()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        other => {
            let scheme = other.unwrap_or_default();
            return Err((
                format!("`{shown}`: scheme `{scheme}` is not http or https"),
                hint(),
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err((format!("`{shown}` has no host"), hint()));
    }
    if !text.contains("://") && uri.port().is_none() {
        return Err((format!("`{shown}` has no port"), hint()));
    }
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err((format!("`{shown}`: a gRPC endpoint has no path"), hint()));
    }
    Ok(uri)
}

/// `http(s)://host[:port][/base/path]`.
pub fn http_endpoint(text: &str) -> Result<reqwest::Url, Problem> {
    let shown = redact_userinfo(text);
    let hint = || "write `http://host:port`, e.g. `http://localhost:8080`".to_string();
    if !text.contains("://") {
        return Err((
            format!("`{shown}` has no scheme"),
            format!("write `http://{shown}`"),
        ));
    }
    let url = reqwest::Url::parse(text)
        .map_err(|e| (format!("`{shown}` is not a valid URL: {e}"), hint()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err((
            format!("`{shown}`: scheme `{}` is not http or https", url.scheme()),
            hint(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err((format!("`{shown}` has no host"), hint()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err((
            format!("`{shown}`: an endpoint has no query or fragment"),
            "put query parameters in the step's `method` path".into(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_endpoints() {
        assert_eq!(
            grpc_endpoint("localhost:50051").unwrap().to_string(),
            "http://localhost:50051/"
        );
        assert!(grpc_endpoint("https://svc.example").is_ok());
        assert!(grpc_endpoint("http://127.0.0.1:7001").is_ok());
        assert!(
            grpc_endpoint("localhost")
                .unwrap_err()
                .0
                .contains("no port")
        );
        assert!(
            grpc_endpoint("ftp://host:1")
                .unwrap_err()
                .0
                .contains("scheme `ftp`")
        );
        assert!(
            grpc_endpoint("host:1/path")
                .unwrap_err()
                .0
                .contains("no path")
        );
    }

    #[test]
    fn http_endpoints() {
        assert!(http_endpoint("http://api:3000").is_ok());
        assert!(http_endpoint("https://api.example/v1").is_ok());
        assert!(
            http_endpoint("api:3000")
                .unwrap_err()
                .0
                .contains("no scheme")
        );
        assert!(
            http_endpoint("grpc://api:3000")
                .unwrap_err()
                .0
                .contains("scheme `grpc`")
        );
        assert!(
            http_endpoint("http://api:3000/?a=1")
                .unwrap_err()
                .0
                .contains("query")
        );
        assert!(http_endpoint("http://:80").is_err());
        let (message, _) = http_endpoint("http://u:s3cret@h:99999").unwrap_err();
        assert!(!message.contains("s3cret"), "{message}");
    }
}
