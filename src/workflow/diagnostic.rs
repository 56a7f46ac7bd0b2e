//! Located problems in a workflow file, and the error that carries every one
//! of them: loading never stops at the first problem.

use std::fmt;
use std::path::PathBuf;

use crate::escape;

/// One problem, at the line and column where the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file (it cannot be read).
    pub line: usize,
    /// 1-based; 0 together with `line`.
    pub column: usize,
    /// Where in the workflow, as `steps[2].compensate.method`; empty for
    /// problems of the YAML text itself.
    pub path: String,
    pub message: String,
    /// What to do about it, when there is something specific to say.
    pub hint: Option<String>,
}

/// Printed for a terminal: what the file holds is quoted in messages, and
/// its control characters are shown escaped, never obeyed.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display().to_string();
        f.write_str(&escape::line(&file))?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", escape::line(&self.path))?;
        }
        f.write_str(&escape::lines(&self.message))?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", escape::lines(hint))?;
        }
        Ok(())
    }
}

/// Every problem found in one workflow file, in the order they appear in it.
/// Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// `None` when there is nothing to report, so that an empty error cannot
    /// exist.
    pub fn new(list: Vec<Diagnostic>) -> Option<Self> {
        (!list.is_empty()).then_some(Self(list))
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false; present because clippy pairs it with `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }

    fn render(&self) -> String {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        lines.join("\n")
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
