//! `headers:` blocks of services, steps and compensations: header names to
//! values that may hold `{{ }}` templates and `${NAME}` from the environment.

use super::dataflow::Read;
use super::{Cx, Pos, join, scalar};
use crate::workflow::env::{self, EnvProblem, Piece as EnvPiece};
use crate::workflow::header::{HeaderTemplate, Piece};
use crate::workflow::model::Header;
use crate::workflow::yaml::{Kind, Node};

/// A `headers:` block: header names to values.
pub fn decode(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<(Vec<Header>, Vec<Read>)> {
    let Kind::Map(entries) = &node.kind else {
        cx.error(
            node.pos(),
            path,
            format!(
                "expected a mapping of header names to values, found {}",
                node.kind.describe()
            ),
        );
        return None;
    };
    let before = cx.count();
    let mut headers = Vec::new();
    let mut reads = Vec::new();
    for (key, value) in entries {
        let at = join(path, &key.name);
        let name = match http::HeaderName::from_bytes(key.name.as_bytes()) {
            Ok(name) => Some(name),
            Err(_) => {
                cx.error(
                    key.pos(),
                    &at,
                    format!("`{}` is not a valid header name", key.name),
                );
                None
            }
        };
        if let Some((value, found)) = header_value(cx, value, &at) {
            reads.extend(found);
            if let Some(name) = name {
                headers.push(Header { name, value });
            }
        }
    }
    (cx.count() == before).then_some((headers, reads))
}

/// One value: the text between `${NAME}`s compiled as templates, each
/// `${NAME}` read from the environment now.
fn header_value(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<(HeaderTemplate, Vec<Read>)> {
    let text = scalar::string(cx, node, path)?;
    let at = node.pos();
    let split = match env::split(text) {
        Ok(split) => split,
        Err(EnvProblem::Malformed(message) | EnvProblem::Unset(message)) => {
            cx.report(at, path, message, Some(ENV_HINT.into()));
            return None;
        }
    };
    for piece in &split {
        if let EnvPiece::Var {
            name, at: offset, ..
        } = piece
            && inside_braces(&text[..*offset])
        {
            cx.report(
                at,
                path,
                format!("`${{{name}}}` is inside `{{{{ }}}}`, where it is not expanded"),
                Some("put it outside the braces: `Bearer ${TOKEN}`".into()),
            );
            return None;
        }
    }
    let before = cx.count();
    let mut pieces = Vec::new();
    let mut reads = Vec::new();
    for piece in split {
        match piece {
            EnvPiece::Text(chunk) => {
                if let Some((template, found)) = scalar::template_text(cx, chunk, at, path) {
                    reads.extend(found);
                    pieces.push(Piece::Template(template));
                }
            }
            EnvPiece::Var { name, default, .. } => {
                if let Some(value) = variable(cx, at, path, name, default) {
                    pieces.push(Piece::Env(value));
                }
            }
        }
    }
    (cx.count() == before).then(|| (HeaderTemplate::new(text, pieces), reads))
}

const ENV_HINT: &str = "write `${NAME}` or `${NAME:-default}`";

/// The value of `${name}`, which must be set (or have a default) and be
/// sendable in a header. Messages name the variable, never its value.
fn variable(
    cx: &mut Cx<'_>,
    at: Pos,
    path: &str,
    name: &str,
    default: Option<&str>,
) -> Option<String> {
    let value = match env::resolve(name, default, cx.env) {
        Ok(value) => value,
        Err(_) => {
            cx.report(
                at,
                path,
                format!("environment variable `{name}` is not set"),
                Some(format!("set it, or give a default: `${{{name}:-value}}`")),
            );
            return None;
        }
    };
    if http::HeaderValue::from_str(&value).is_err() {
        cx.report(
            at,
            path,
            format!("environment variable `{name}` holds characters a header cannot carry"),
            Some("a header value is visible ASCII, spaces and tabs".into()),
        );
        return None;
    }
    Some(value)
}

/// Whether the text ends inside an open `{{`.
fn inside_braces(before: &str) -> bool {
    match (before.rfind("{{"), before.rfind("}}")) {
        (Some(open), Some(close)) => open > close,
        (Some(_), None) => true,
        _ => false,
    }
}
