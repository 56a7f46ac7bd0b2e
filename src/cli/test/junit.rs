//! JUnit XML of a `maestro test` run, for CI: one test suite per file.

use std::fmt::Write as _;
use std::time::Duration;

/// One test's result.
pub struct Outcome {
    pub file: String,
    pub name: String,
    pub took: Duration,
    /// Empty when it passed.
    pub failures: Vec<String>,
}

/// The XML document of `outcomes`, grouped by file in their order.
pub fn render(outcomes: &[Outcome]) -> String {
    let mut files: Vec<&str> = Vec::new();
    for o in outcomes {
        if !files.contains(&o.file.as_str()) {
            files.push(&o.file);
        }
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for file in files {
        let cases: Vec<&Outcome> = outcomes.iter().filter(|o| o.file == file).collect();
        let failed = cases.iter().filter(|o| !o.failures.is_empty()).count();
        let time: f64 = cases.iter().map(|o| o.took.as_secs_f64()).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" time=\"{time:.3}\">",
            escape(file),
            cases.len()
        );
        for case in cases {
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(file),
                escape(&case.name),
                case.took.as_secs_f64()
            );
            if case.failures.is_empty() {
                xml.push_str("/>\n");
                continue;
            }
            let text = escape(&case.failures.join("\n"));
            let first = escape(&case.failures[0]);
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{first}\">{text}</failure>\n    </testcase>"
            );
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Text as XML content or attribute value; characters XML 1.0 cannot hold
/// are replaced.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_escaped_and_counted_per_file() {
        let outcomes = [
            Outcome {
                file: "a.test.yaml".into(),
                name: "ok <1>".into(),
                took: Duration::from_millis(3),
                failures: vec![],
            },
            Outcome {
                file: "a.test.yaml".into(),
                name: "bad".into(),
                took: Duration::from_millis(2),
                failures: vec!["status: expected \"a\" & \u{1b}".into()],
            },
        ];
        let xml = render(&outcomes);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("name=\"ok &lt;1&gt;\" time=\"0.003\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("message=\"status: expected &quot;a&quot; &amp; \u{FFFD}\""),
            "{xml}"
        );
    }
}
