//! Text from a run's data, a service's answer or a file, made safe to print
//! on a terminal (control characters and bidirectional overrides shown, not
//! obeyed) or to write into HTML and SVG (markup shown, not parsed).

use std::borrow::Cow;
use std::fmt::Write;

/// Characters that reorder what a terminal shows (Trojan Source).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| !keep(c) && (c.is_control() || is_bidi_control(c));
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if !keep(c) => out.push_str("\\n"),
            '\r' if !keep(c) => out.push_str("\\r"),
            '\t' if !keep(c) => out.push_str("\\t"),
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One line's worth: every control character escaped, newlines included,
/// so a value cannot start a line that looks like Maestro's own.
pub fn line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// Several lines: newlines and tabs kept, every other control escaped.
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// Text for HTML or SVG, in an element or a quoted attribute: the five
/// characters that could end either, or start markup, become references.
pub fn html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_as_is() {
        assert!(matches!(line("ok: é 日本 \u{1f600}"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_and_overrides_are_shown_not_obeyed() {
        assert_eq!(
            line("\u{1b}[2J\u{1b}]0;pwned\u{7}x"),
            "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}x"
        );
        assert_eq!(line("a\rb\u{8}c\u{7f}\u{9b}"), "a\\rb\\u{8}c\\u{7f}\\u{9b}");
        assert_eq!(line("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(line("one\ntwo\tthree"), "one\\ntwo\\tthree");
        assert_eq!(lines("one\ntwo\t\u{1b}"), "one\ntwo\t\\u{1b}");
    }

    #[test]
    fn markup_and_quotes_are_shown_not_parsed() {
        assert_eq!(
            html("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
        assert_eq!(
            html("\" onload=\"x\" a='b' &amp;"),
            "&quot; onload=&quot;x&quot; a=&#39;b&#39; &amp;amp;"
        );
        assert!(matches!(html("plain é"), Cow::Borrowed(_)));
    }
}
