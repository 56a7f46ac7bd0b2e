//! A service's `concurrency` and `rate`: read when present, refused at
//! their line and column when they cannot work.

use crate::workflow::{Diagnostic, load_str};

fn short(d: &Diagnostic) -> String {
    let hint = d.hint.as_deref().unwrap_or("");
    format!(
        "{}:{}: {}: {} ({hint})",
        d.line, d.column, d.path, d.message
    )
}

fn workflow(service_extra: &str) -> String {
    format!(
        "name: t\nservices:\n  api:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\n{service_extra}steps:\n  - id: a\n    service: api\n    method: \"POST /a\"\n"
    )
}

fn problems(field: &str, written: &str) -> Vec<String> {
    let yaml = workflow(&format!("    {field}: {written}\n"));
    let diagnostics = load_str(&yaml, "w.yaml", &|_| None).expect_err("expected problems");
    diagnostics.iter().map(short).collect()
}

#[test]
fn limits_are_absent_unless_declared_and_read_when_they_are() {
    let plain = load_str(&workflow(""), "w.yaml", &|_| None).unwrap();
    assert_eq!(plain.services[0].concurrency, None);
    assert_eq!(plain.services[0].rate, None);
    let yaml = workflow("    concurrency: 5\n    rate: 100/s\n");
    let limited = load_str(&yaml, "w.yaml", &|_| None).unwrap_or_else(|d| panic!("{d}"));
    let service = &limited.services[0];
    assert_eq!(service.concurrency.map(|n| n.get()), Some(5));
    assert_eq!(
        service.rate.map(|r| r.to_string()).as_deref(),
        Some("100/s")
    );
    for (written, shown) in [("\"600/m\"", "600/m"), ("1000/h", "1000/h")] {
        let yaml = workflow(&format!("    rate: {written}\n"));
        let w = load_str(&yaml, "w.yaml", &|_| None).unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(
            w.services[0].rate.map(|r| r.to_string()).as_deref(),
            Some(shown)
        );
    }
}

#[test]
fn a_rate_that_cannot_work_is_refused_where_written() {
    let example = "calls per period: `100/s`, `600/m` or `1000/h`";
    let cases = [
        ("fast", format!("`fast` is not a rate ({example})")),
        (
            "0/s",
            "`0/s` lets no call through (leave `rate` out for no limit)".into(),
        ),
        ("2.5/s", format!("`2.5/s` is not a rate ({example})")),
        (
            "5/d",
            "`5/d` has an unknown period `d` (the period is `s`, `m` or `h`)".into(),
        ),
        (
            "2000000/s",
            format!("`2000000/s` allows more than 1000000 calls per period ({example})"),
        ),
        (
            "100",
            "expected a rate such as `100/s`, found the number 100 \
             (add a period: `100/s`, `100/m` or `100/h`)"
                .into(),
        ),
        (
            "[1]",
            format!("expected a rate such as `100/s`, found a list ({example})"),
        ),
    ];
    for (written, message) in cases {
        assert_eq!(
            problems("rate", written),
            [format!("6:11: services.api.rate: {message}")],
            "{written}"
        );
    }
}

#[test]
fn a_concurrency_that_cannot_work_is_refused_where_written() {
    let no_limit = "leave `concurrency` out for no limit";
    let cases = [
        (
            "0",
            format!("must be at least 1, got 0 (calls in flight at once; {no_limit})"),
        ),
        (
            "200000",
            format!("must be at most 100000, got 200000 ({no_limit})"),
        ),
        (
            "many",
            "expected a whole number, found the string `many` ()".into(),
        ),
    ];
    for (written, message) in cases {
        assert_eq!(
            problems("concurrency", written),
            [format!("6:18: services.api.concurrency: {message}")],
            "{written}"
        );
    }
}
