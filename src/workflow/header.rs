//! A header's value: `{{ }}` templates rendered per call, between values of
//! `${NAME}` read from the environment when the workflow loaded. The values
//! are kept apart from the templates, so that no message quoting a template
//! can show a credential, and run data can never name a variable.

use std::fmt;

use crate::template::{DataPath, MAX_RENDERED_BYTES, Scope, Template, TemplateError};

#[derive(Clone)]
pub struct HeaderTemplate {
    /// The value as written, `${NAME}` unexpanded: the only form shown.
    source: String,
    pieces: Vec<Piece>,
}

#[derive(Clone)]
pub(crate) enum Piece {
    Template(Template),
    /// The value of a `${NAME}`, taken as it is.
    Env(String),
}

impl HeaderTemplate {
    pub(crate) fn new(source: &str, pieces: Vec<Piece>) -> Self {
        Self {
            source: source.to_string(),
            pieces,
        }
    }

    /// The value as written in the file, environment references unexpanded.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every data path the templates read.
    pub fn references(&self) -> Vec<DataPath> {
        self.pieces
            .iter()
            .flat_map(|p| match p {
                Piece::Template(t) => t.references(),
                Piece::Env(_) => Vec::new(),
            })
            .collect()
    }

    /// The text to send.
    pub fn render_string(&self, scope: &Scope) -> Result<String, TemplateError> {
        if let [Piece::Template(t)] = self.pieces.as_slice() {
            return t.render_string(scope);
        }
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Template(t) => out.push_str(&t.render_string(scope)?),
                Piece::Env(value) => out.push_str(value),
            }
            if out.len() > MAX_RENDERED_BYTES {
                return Err(TemplateError::Eval {
                    template: self.source.clone(),
                    message: format!(
                        "the result is larger than {} MiB, the limit of one rendered value",
                        MAX_RENDERED_BYTES / (1024 * 1024)
                    ),
                });
            }
        }
        Ok(out)
    }
}

/// The source only: the environment's values are never printed.
impl fmt::Debug for HeaderTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HeaderTemplate").field(&self.source).finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_templates_between_environment_values_and_shows_only_the_source() {
        let value = HeaderTemplate::new(
            "Bearer ${TOKEN} for {{ .input.user }}",
            vec![
                Piece::Template(Template::parse("Bearer ").unwrap()),
                Piece::Env("s3cret".into()),
                Piece::Template(Template::parse(" for {{ .input.user }}").unwrap()),
            ],
        );
        let scope = Scope::new(json!({"user": "ada"}));
        assert_eq!(
            value.render_string(&scope).unwrap(),
            "Bearer s3cret for ada"
        );
        assert_eq!(value.references().len(), 1);
        let shown = format!("{value:?}");
        assert!(
            shown.contains("${TOKEN}") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
