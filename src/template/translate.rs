//! Text with expressions written out as tera source: the text as it is, and
//! each expression as a variable holding its already evaluated text (see
//! [`value_name`]), so that tera prints text and never reads run data.

use std::borrow::Cow;
use std::fmt::Write;

use super::syntax::Piece;

/// The tera variable that holds the text of a template's `i`-th expression.
/// Fixed names for the common case, so a render allocates none.
pub(crate) fn value_name(i: usize) -> Cow<'static, str> {
    const NAMES: [&str; 8] = ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"];
    match NAMES.get(i) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("v{i}")),
    }
}

/// Text with expressions in it: a tera template printing the whole string.
pub(crate) fn interpolation(pieces: &[Piece]) -> String {
    let mut out = String::new();
    let mut values = 0;
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
            Piece::Expr(_) => {
                let _ = write!(out, "{{{{ {} }}}}", value_name(values));
                values += 1;
            }
        }
    }
    out
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
