//! Our expression tree written out as tera source. Every data path becomes a
//! call to a function registered for that path, so that skipped steps read as
//! null and missing data fails with the full path, which tera's own lookups
//! cannot express; operators map onto tera's, fully parenthesized.

use std::collections::HashMap;
use std::fmt::Write;

use super::syntax::{Expr, Lit, PathRef, Piece};

/// Filter that hands the evaluated value of a whole-value template back to
/// Rust instead of printing it.
pub(crate) const CAPTURE_FILTER: &str = "__capture";
/// Filter that prints a value the way interpolation promises: strings as
/// they are, everything else as compact JSON.
pub(crate) const TEXT_FILTER: &str = "__text";

/// The distinct paths of everything compiled into one tera instance; path
/// number `i` is read by the function [`path_function`]`(i)`.
#[derive(Debug, Default)]
pub(crate) struct PathTable {
    paths: Vec<PathRef>,
    index: HashMap<PathRef, usize>,
}

impl PathTable {
    fn intern(&mut self, path: &PathRef) -> usize {
        if let Some(&i) = self.index.get(path) {
            return i;
        }
        let i = self.paths.len();
        self.paths.push(path.clone());
        self.index.insert(path.clone(), i);
        i
    }

    pub(crate) fn into_paths(self) -> Vec<PathRef> {
        self.paths
    }
}

pub(crate) fn path_function(i: usize) -> String {
    format!("__path{i}")
}

/// A template that is exactly one expression: its value is captured typed.
pub(crate) fn whole_value(expr: &Expr, paths: &mut PathTable) -> String {
    let mut out = String::from("{{ (");
    emit(expr, paths, &mut out);
    let _ = write!(out, ") | {CAPTURE_FILTER} }}}}");
    out
}

/// Text with expressions in it: a tera template printing the whole string.
pub(crate) fn interpolation(pieces: &[Piece], paths: &mut PathTable) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            // Text holding `{` could open a tera tag, or merge with the
            // `{{` that follows it, so it goes in as a string constant.
            Piece::Text(text) if text.contains('{') => {
                out.push_str("{{ ");
                emit_string(text, &mut out);
                out.push_str(" }}");
            }
            Piece::Text(text) => out.push_str(text),
            Piece::Expr(expr) => {
                out.push_str("{{ (");
                emit(expr, paths, &mut out);
                let _ = write!(out, ") | {TEXT_FILTER} }}}}");
            }
        }
    }
    out
}

/// Whether tera's result for `expr` is already a boolean. tera's `and` and
/// `or` return one of their operands, so only these need no coercion.
fn is_boolean(expr: &Expr) -> bool {
    match expr {
        Expr::Cmp(..) | Expr::Not(_) | Expr::And(..) | Expr::Or(..) => true,
        Expr::Lit(Lit::Bool(_)) => true,
        Expr::Ternary(_, a, b) => is_boolean(a) && is_boolean(b),
        Expr::Path(_) | Expr::Lit(_) => false,
    }
}

fn emit(expr: &Expr, paths: &mut PathTable, out: &mut String) {
    match expr {
        Expr::Path(path) => {
            let i = paths.intern(path);
            let _ = write!(out, "{}()", path_function(i));
        }
        Expr::Lit(lit) => emit_lit(lit, out),
        Expr::Not(inner) => {
            out.push_str("(not (");
            emit(inner, paths, out);
            out.push_str("))");
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            let op = if matches!(expr, Expr::And(..)) {
                "and"
            } else {
                "or"
            };
            let coerce = !(is_boolean(a) && is_boolean(b));
            out.push_str(if coerce { "(true if ((" } else { "((" });
            emit(a, paths, out);
            let _ = write!(out, ") {op} (");
            emit(b, paths, out);
            out.push_str(if coerce { ")) else false)" } else { "))" });
        }
        Expr::Cmp(op, a, b) => {
            out.push_str("((");
            emit(a, paths, out);
            let _ = write!(out, ") {} (", op.as_str());
            emit(b, paths, out);
            out.push_str("))");
        }
        Expr::Ternary(cond, then, otherwise) => {
            out.push_str("((");
            emit(then, paths, out);
            out.push_str(") if (");
            emit(cond, paths, out);
            out.push_str(") else (");
            emit(otherwise, paths, out);
            out.push_str("))");
        }
    }
}

fn emit_lit(lit: &Lit, out: &mut String) {
    match lit {
        Lit::Null => out.push_str("none"),
        Lit::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // tera lexes `-` and the digits apart, and the digits as an i64.
        Lit::Int(i64::MIN) => out.push_str("(-9223372036854775807 - 1)"),
        Lit::Int(i) => {
            let _ = write!(out, "({i})");
        }
        // Above i64::MAX tera has no literal; its integer addition is exact.
        Lit::UInt(u) => {
            let half = u / 2;
            let _ = write!(out, "({half} + {half} + {})", u % 2);
        }
        Lit::Float(f) => {
            // `Display` never uses an exponent, which tera could not lex.
            let mut text = f.abs().to_string();
            if !text.contains('.') {
                text.push_str(".0");
            }
            let sign = if f.is_sign_negative() { "-" } else { "" };
            let _ = write!(out, "({sign}{text})");
        }
        Lit::Str(s) => emit_string(s, out),
    }
}

/// A tera string constant; tera understands these escapes in any quoting.
fn emit_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}
