//! A templated HTTP path made safe to send: the author's text is kept as
//! written, and every value from the run's data is percent-encoded as one
//! path segment (or one query component after a `?`), so no value can add a
//! segment, climb with `..`, start a query or cut the URL with `#`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::template::{Fragment, Scope, Template, TemplateError};

/// RFC 3986's unreserved characters stay; everything else is encoded. The
/// same set serves a path segment and a query component: `/ ? # & = + %`
/// and `\` (which URL parsers read as `/`) are all encoded.
const DATA: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest path a render may produce.
pub const MAX_PATH_BYTES: usize = 64 * 1024;

/// Where in the URL the next piece lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Path,
    Query,
    Fragment,
}

/// Builds the path as pieces arrive, checking each segment that holds data.
struct PathBuilder {
    out: String,
    part: Part,
    /// Where the segment being built starts in `out`.
    segment_start: usize,
    /// Whether data went into the segment being built.
    segment_has_data: bool,
}

/// Why a rendered value cannot go into the path.
fn refused(template: &Template, message: String) -> TemplateError {
    TemplateError::Eval {
        template: template.source().to_owned(),
        message,
    }
}

impl PathBuilder {
    fn literal(&mut self, text: &str) -> Result<(), String> {
        for c in text.chars() {
            match (self.part, c) {
                (Part::Path, '/') => {
                    self.end_segment()?;
                    self.out.push(c);
                    self.segment_start = self.out.len();
                }
                (Part::Path, '?') => {
                    self.end_segment()?;
                    self.part = Part::Query;
                    self.out.push(c);
                }
                (Part::Path | Part::Query, '#') => {
                    self.end_segment()?;
                    self.part = Part::Fragment;
                    self.out.push(c);
                }
                _ => self.out.push(c),
            }
        }
        Ok(())
    }

    fn data(&mut self, text: &str) {
        self.out.extend(utf8_percent_encode(text, DATA));
        if self.part == Part::Path {
            self.segment_has_data = true;
        }
    }

    /// A segment that data made empty, `.` or `..` would route the request
    /// elsewhere (`/users/{{ .id }}` with an empty id is `/users/`).
    fn end_segment(&mut self) -> Result<(), String> {
        if self.part != Part::Path || !std::mem::take(&mut self.segment_has_data) {
            return Ok(());
        }
        let segment = self.out[self.segment_start..].to_ascii_lowercase();
        let dots = segment.replace("%2e", ".");
        if segment.is_empty() || dots == "." || dots == ".." {
            return Err(format!(
                "the run's data makes the path segment `{}`, which would change the path",
                &self.out[self.segment_start..]
            ));
        }
        Ok(())
    }
}

/// Render `template` as the path (and query) of a request: literal text as
/// written, each value from the run's data encoded for where it lands.
pub fn render_path(template: &Template, scope: &Scope) -> Result<String, TemplateError> {
    let mut builder = PathBuilder {
        out: String::new(),
        part: Part::Path,
        segment_start: 0,
        segment_has_data: false,
    };
    template.render_fragments(scope, &mut |fragment| {
        match fragment {
            Fragment::Literal(text) => builder.literal(text).map_err(|m| refused(template, m))?,
            Fragment::Data(text) => builder.data(text),
        }
        if builder.out.len() > MAX_PATH_BYTES {
            return Err(refused(
                template,
                format!("the path is longer than {MAX_PATH_BYTES} bytes"),
            ));
        }
        Ok(())
    })?;
    builder.end_segment().map_err(|m| refused(template, m))?;
    Ok(builder.out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn render(template: &str, input: Value) -> Result<String, TemplateError> {
        let template = Template::parse_separated(template).unwrap();
        render_path(&template, &Scope::new(input))
    }

    #[test]
    fn a_value_cannot_leave_its_segment() {
        let hostile = "../../internal/delete-all?confirm=yes#";
        assert_eq!(
            render("/orders/{{ .input.id }}/items", json!({"id": hostile})).unwrap(),
            "/orders/..%2F..%2Finternal%2Fdelete-all%3Fconfirm%3Dyes%23/items"
        );
        assert_eq!(
            render("/files/{{ .input.f }}", json!({"f": "a\\b%2e%2e"})).unwrap(),
            "/files/a%5Cb%252e%252e"
        );
    }

    #[test]
    fn dot_and_empty_segments_from_data_are_refused() {
        for id in ["..", ".", ""] {
            let err = render("/users/{{ .input.id }}/x", json!({ "id": id })).unwrap_err();
            assert!(err.to_string().contains("would change the path"), "{err}");
        }
        // Two values that make `..` together.
        let err = render("/a/{{ .input.x }}{{ .input.x }}", json!({"x": "."})).unwrap_err();
        assert!(err.to_string().contains("`..`"), "{err}");
        // The author's own `%2e` beside a data dot.
        assert!(render("/a/%2e{{ .input.x }}", json!({"x": "."})).is_err());
        // Dots among other characters are only a name.
        assert_eq!(
            render("/v{{ .input.x }}", json!({"x": ".."})).unwrap(),
            "/v.."
        );
        assert_eq!(
            render("/f/{{ .input.x }}", json!({"x": "a.b"})).unwrap(),
            "/f/a.b"
        );
    }

    #[test]
    fn query_values_are_encoded_as_components() {
        assert_eq!(
            render(
                "/search?q={{ .input.q }}&n={{ .input.n }}",
                json!({"q": "a b&admin=1#x", "n": 5})
            )
            .unwrap(),
            "/search?q=a%20b%26admin%3D1%23x&n=5"
        );
        // An empty query value is only an empty parameter.
        assert_eq!(
            render("/s?q={{ .input.q }}", json!({"q": ""})).unwrap(),
            "/s?q="
        );
    }

    #[test]
    fn the_authors_text_is_kept_and_expressions_are_encoded_too() {
        assert_eq!(
            render("/a/../b?x=1", json!({})).unwrap(),
            "/a/../b?x=1",
            "literal text is the author's own"
        );
        assert_eq!(
            render(
                "/o/{{ .input.ok ? .input.a : 'x/y' }}",
                json!({"ok": false, "a": 1})
            )
            .unwrap(),
            "/o/x%2Fy"
        );
        assert_eq!(
            render(
                "/o/{{ .input.n }}/{{ .input.u }}",
                json!({"n": 9007199254740993u64, "u": "é"})
            )
            .unwrap(),
            "/o/9007199254740993/%C3%A9"
        );
    }

    #[test]
    fn a_whole_template_path_is_one_value() {
        // `{{ .input.p }}` alone is data: it cannot be a path of its own.
        let template = Template::parse_separated("{{ .input.p }}").unwrap();
        let scope = Scope::new(json!({"p": "/admin"}));
        assert_eq!(render_path(&template, &scope).unwrap(), "%2Fadmin");
    }
}
