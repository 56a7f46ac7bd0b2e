//! `${NAME}` and `${NAME:-default}` in endpoints and header values, resolved
//! when the workflow loads, so one file runs against services on other hosts
//! and ports, and credentials stay out of the file.

/// Why an endpoint's environment references could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvProblem {
    /// `${NAME}` with `NAME` unset and no default.
    Unset(String),
    /// `${` without its `}`, or a name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    Malformed(String),
}

/// A piece of a text that may hold `${...}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'t> {
    /// Text as written.
    Text(&'t str),
    /// `${name}` or `${name:-default}`, starting at byte `at` of the text.
    Var {
        name: &'t str,
        default: Option<&'t str>,
        at: usize,
    },
}

/// Split `text` into literal text and references, in order.
pub fn split(text: &str) -> Result<Vec<Piece<'_>>, EnvProblem> {
    let mut pieces = Vec::new();
    let mut offset = 0;
    while let Some(found) = text[offset..].find("${") {
        let start = offset + found;
        if start > offset {
            pieces.push(Piece::Text(&text[offset..start]));
        }
        let after = &text[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| EnvProblem::Malformed(format!("`${{` without `}}` in `{text}`")))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if !is_name(name) {
            return Err(EnvProblem::Malformed(format!(
                "`${{{inner}}}` does not name an environment variable"
            )));
        }
        pieces.push(Piece::Var {
            name,
            default,
            at: start,
        });
        offset = start + 2 + end + 1;
    }
    if offset < text.len() {
        pieces.push(Piece::Text(&text[offset..]));
    }
    Ok(pieces)
}

/// The value of one reference: the variable, else its default. An empty
/// variable counts as set.
pub fn resolve(
    name: &str,
    default: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EnvProblem> {
    match (env(name), default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_string()),
        (None, None) => Err(EnvProblem::Unset(name.to_string())),
    }
}

/// Expand every `${...}` in `text`.
pub fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvProblem> {
    let mut out = String::with_capacity(text.len());
    for piece in split(text)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var { name, default, .. } => out.push_str(&resolve(name, default, env)?),
        }
    }
    Ok(out)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("7001".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        assert_eq!(expand("localhost:${PORT}", &env).unwrap(), "localhost:7001");
        assert_eq!(
            expand("http://${HOST:-127.0.0.1}:${PORT:-80}", &env).unwrap(),
            "http://127.0.0.1:7001"
        );
        assert_eq!(expand("a${EMPTY:-x}b", &env).unwrap(), "ab");
        assert_eq!(expand("no variables", &env).unwrap(), "no variables");
    }

    #[test]
    fn splits_text_and_references_in_order() {
        assert_eq!(
            split("Bearer ${TOKEN}, ${A:-x}!").unwrap(),
            [
                Piece::Text("Bearer "),
                Piece::Var {
                    name: "TOKEN",
                    default: None,
                    at: 7
                },
                Piece::Text(", "),
                Piece::Var {
                    name: "A",
                    default: Some("x"),
                    at: 17
                },
                Piece::Text("!"),
            ]
        );
        assert_eq!(split("").unwrap(), []);
    }

    #[test]
    fn reports_unset_and_malformed_references() {
        assert_eq!(
            expand("h:${NOPE}", &env),
            Err(EnvProblem::Unset("NOPE".into()))
        );
        assert!(matches!(
            expand("h:${PORT", &env),
            Err(EnvProblem::Malformed(_))
        ));
        assert!(matches!(
            expand("h:${1X}", &env),
            Err(EnvProblem::Malformed(_))
        ));
    }
}
