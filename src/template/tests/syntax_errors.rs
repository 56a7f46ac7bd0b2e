//! Templates that do not parse, and what the user is told.

use super::syntax_message;
use crate::template::{Condition, Template, TemplateError};

fn says(source: &str, expected: &str) {
    let message = syntax_message(source);
    assert!(
        message.contains(expected),
        "{source}: `{message}` does not say `{expected}`"
    );
}

#[test]
fn unterminated_and_empty() {
    says("a {{ .input.x", "at column 3 is never closed");
    says("{{ .input.x }", "write `}}`");
    says("{{ 'abc }}", "never closed");
    says("{{ }}", "is empty");
    says("x {{}} y", "is empty");
}

#[test]
fn unknown_operators() {
    says("{{ .a = 1 }}", "use `==`");
    says("{{ .a & .b }}", "use `&&`");
    says("{{ .a | upper }}", "use `||`");
    says("{{ .a + 1 }}", "arithmetic is not supported");
    says("{{ .a and .b }}", "use `&&` instead of `and`");
    says("{{ .a or .b }}", "use `||`");
    says("{{ not .a }}", "use `!`");
    says("{{ .a # }}", "unexpected character `#`");
}

#[test]
fn paths_need_their_dot() {
    says("{{ input.x }}", "write `.input.x`");
    says(
        "{{ .credit.value > 1 && fraud.level }}",
        "write `.fraud.level`",
    );
    says("{{ . }}", "must be followed by a name");
    says(
        "{{ len .items }}",
        "`len` is not a value: data paths start with a dot (`.len`)",
    );
    says("{{ high }}", "strings are quoted (`'high'`)");
    says("{{ .a. }}", "must be followed by a field name");
    says("{{ .a[x] }}", "as a number or a quoted key");
    says("{{ .a[0 }}", "not closed with `]`");
}

#[test]
fn malformed_expressions() {
    says(
        "{{ .a && }}",
        "expected a value, found the end of the expression",
    );
    says(
        "{{ .a .b }}",
        "expected an operator or the end of the expression, found `.b`",
    );
    says("{{ 1 < 2 < 3 }}", "cannot be chained");
    says("{{ (.a }}", "expected `)`");
    says("{{ .a) }}", "found `)`");
    says("{{ .a ? 1 }}", "expected `:`");
    says("{{ - .a }}", "`-` can only come before a number");
    says("{{ 1. }}", "followed by digits");
    says("{{ 12ab }}", "run into letters");
    says("{{ 99999999999999999999 }}", "too large");
    says(r"{{ 'a\q' }}", "unknown escape");
}

#[test]
fn errors_quote_the_template() {
    let err = syntax_message("{{ .a == }}");
    assert!(err.starts_with("at column 10:"), "{err}");
    let shown = crate::template::Template::parse("{{ .a == }}")
        .unwrap_err()
        .to_string();
    assert!(
        shown.starts_with("template `{{ .a == }}` does not parse: "),
        "{shown}"
    );
}

#[test]
fn a_condition_is_one_expression() {
    for source in ["x {{ true }}", "{{ true }} {{ false }}", "{{ true }}!"] {
        match Condition::parse(source) {
            Err(TemplateError::Syntax { message, .. }) => {
                assert!(message.contains("one `{{ }}` expression"), "{message}")
            }
            other => panic!("{source}: {other:?}"),
        }
    }
    assert!(matches!(
        Condition::parse(""),
        Err(TemplateError::Syntax { .. })
    ));
}

/// Regression: ten thousand `(` or `!`, or a long `||` chain, overflowed the
/// stack in the parser, the translation or dropping the tree.
#[test]
fn deep_and_long_expressions_are_refused_not_overflowed() {
    let deep = format!("{{{{ {}.a{} }}}}", "(".repeat(17), ")".repeat(17));
    says(&deep, "at most 16 levels deep");
    says(
        &format!("{{{{ {}.a }}}}", "!".repeat(17)),
        "at most 16 levels deep",
    );
    says(
        &format!("{{{{ {}.a }}}}", ".a ? ".repeat(17)),
        "at most 16 levels deep",
    );
    let wide = format!("{{{{ {}.a{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    says(
        &wide,
        "the expression has 20001 values and operators; at most 256",
    );
    says(
        &format!("{{{{ .a{} }}}}", " || .a".repeat(100_000)),
        "at most 256",
    );
    let shown = Template::parse(&wide).expect_err("too long").to_string();
    assert!(shown.len() < 500, "the message quotes all of it: {shown}");
    let sixteen = format!("{{{{ {}.a{} }}}}", "(".repeat(16), ")".repeat(16));
    assert!(Template::parse(&sixteen).is_ok());
}
