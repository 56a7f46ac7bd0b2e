//! `${NAME}` and `${NAME:-default}` in endpoints, resolved when the workflow
//! loads, so one file runs against services on other hosts and ports.

/// Why an endpoint's environment references could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvProblem {
    /// `${NAME}` with `NAME` unset and no default.
    Unset(String),
    /// `${` without its `}`, or a name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    Malformed(String),
}

/// Expand every `${...}` in `text`; an empty variable counts as set.
pub fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvProblem> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
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
        match (env(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(EnvProblem::Unset(name.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
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
