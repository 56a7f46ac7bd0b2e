//! Templates in the seeds' syntax (`{{ .input.payload }}`, `&&`, `? :`):
//! parsed once when a workflow loads, then evaluated per run against the
//! run's data, with typed results and errors that name the data path
//! involved.
//!
//! Layout: `lexer` and `syntax` parse; `eval` evaluates an expression to its
//! typed value over [`Scope`], the run's data; text around expressions is
//! written as tera source by `translate` and rendered by tera in `engine`.

mod compiled;
mod convert;
mod engine;
mod eval;
mod lexer;
mod scope;
mod syntax;
mod translate;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;

pub use compiled::{Condition, Fragment, Template};
pub use convert::type_name;
pub use scope::Scope;
pub use value::ValueTemplate;

/// Largest value one render may produce: a template's text, or a whole
/// `input` or `output` document, as JSON. Each `{{ .x }}` copies `.x`, so a
/// file of a few kilobytes could otherwise ask for gigabytes.
pub const MAX_RENDERED_BYTES: usize = 16 * 1024 * 1024;

/// A reference to run data found in a template: `.analysis.confidence` is
/// root `analysis` with segments `["confidence"]`; `.items[0].id` has
/// segments `["items", "0", "id"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataPath {
    pub root: String,
    pub segments: Vec<String>,
}

impl fmt::Display for DataPath {
    /// `.items[0].id`; a segment of digits is shown as an index.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ".{}", self.root)?;
        for segment in &self.segments {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                write!(f, "[{segment}]")?;
            } else {
                write!(f, ".{segment}")?;
            }
        }
        Ok(())
    }
}

/// Why a template could not be compiled or evaluated. Messages name the
/// template text or the data path involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("template `{}` does not parse: {message}", excerpt(template))]
    Syntax { template: String, message: String },
    #[error("`.{path}` is not in the run's data{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Missing { path: String, hint: Option<String> },
    #[error("`when` must be true or false, but `{}` gave {got}", excerpt(template))]
    NotBoolean { template: String, got: String },
    #[error("template `{}` failed: {message}", excerpt(template))]
    Eval { template: String, message: String },
}

/// Longest template text quoted in a message, in characters.
const QUOTED_CHARS: usize = 200;

/// The template as quoted in messages: a megabyte-long one would bury the
/// message itself, so only its start is shown.
fn excerpt(template: &str) -> String {
    match template.char_indices().nth(QUOTED_CHARS) {
        None => template.to_owned(),
        Some((cut, _)) => format!("{}...", &template[..cut]),
    }
}
