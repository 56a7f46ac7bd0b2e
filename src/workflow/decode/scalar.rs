//! Leaf values: strings, counts, numbers, durations and templates, each
//! reported at its own position when it has the wrong type or shape.

use std::time::Duration;

use serde_json::Value;

use super::dataflow::Read;
use super::{Cx, Pos, index, join};
use crate::template::{Condition, Template, ValueTemplate};
use crate::workflow::model::ByteSize;
use crate::workflow::yaml::{Kind, Node};

fn wrong_type(cx: &mut Cx<'_>, node: &Node, path: &str, expected: &str, hint: Option<String>) {
    let found = node.found();
    // An unquoted `{{ .x }}` is a YAML flow mapping, not a string.
    let hint = hint.or_else(|| {
        matches!(node.kind, Kind::Map(_)).then(|| {
            "a template must be quoted: `\"{{ .step.field }}\"`; unquoted braces are a YAML mapping"
                .to_string()
        })
    });
    cx.report(
        node.pos(),
        path,
        format!("expected {expected}, found {found}"),
        hint,
    );
}

pub fn string<'n>(cx: &mut Cx<'_>, node: &'n Node, path: &str) -> Option<&'n str> {
    match &node.kind {
        Kind::Str(s) => Some(s),
        _ => {
            wrong_type(cx, node, path, "a string", None);
            None
        }
    }
}

pub fn nonempty_string(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    let s = string(cx, node, path)?;
    if s.trim().is_empty() {
        cx.error(node.pos(), path, "must not be empty");
        return None;
    }
    Some(s.to_string())
}

/// `version: "1.0"`. A bare `1.10` would be read as the number 1.1, so
/// numbers are refused with the quoted form to write instead.
pub fn version(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    if let Kind::Number(_) = &node.kind {
        let hint =
            "quote it, as in `version: \"1.10\"`: unquoted, YAML reads a number, and 1.10 is 1.1"
                .to_string();
        wrong_type(cx, node, path, "a string", Some(hint));
        return None;
    }
    nonempty_string(cx, node, path)
}

/// A humantime duration: `500ms`, `30s`, `1m 30s`.
pub fn duration(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Duration> {
    let text = match &node.kind {
        Kind::Str(s) => s,
        Kind::Number(n) => {
            let hint = format!("add a unit: `{n}s` or `{n}ms`");
            wrong_type(cx, node, path, "a duration such as `30s`", Some(hint));
            return None;
        }
        _ => {
            wrong_type(cx, node, path, "a duration such as `30s`", None);
            return None;
        }
    };
    if let Some(magnitude) = text.trim().strip_prefix('-') {
        cx.report(
            node.pos(),
            path,
            format!("`{text}` is negative: a duration counts time forward"),
            Some(format!("drop the `-`: `{}`", magnitude.trim())),
        );
        return None;
    }
    match humantime::parse_duration(text.trim()) {
        Ok(d) => Some(d),
        Err(err) => {
            cx.report(
                node.pos(),
                path,
                format!("`{text}` is not a duration: {err}"),
                Some("write a number and a unit: `500ms`, `30s`, `2m`, `1h`".into()),
            );
            None
        }
    }
}

/// A duration that must be more than zero: a zero timeout fails every call.
pub fn positive_duration(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Duration> {
    let d = duration(cx, node, path)?;
    if d.is_zero() {
        cx.error(node.pos(), path, "must be longer than zero");
        return None;
    }
    Some(d)
}

/// A whole number of at least `min`; `why` says what the lower bound
/// protects against, for the message.
pub fn count(cx: &mut Cx<'_>, node: &Node, path: &str, min: u64, why: &str) -> Option<u32> {
    let n = match &node.kind {
        Kind::Number(n) if n.is_u64() => n.as_u64(),
        Kind::Number(n) if n.is_i64() => {
            cx.report(
                node.pos(),
                path,
                format!("must be at least {min}, got {n}"),
                Some(why.into()),
            );
            return None;
        }
        _ => {
            wrong_type(cx, node, path, "a whole number", None);
            return None;
        }
    }?;
    if n < min {
        cx.report(
            node.pos(),
            path,
            format!("must be at least {min}, got {n}"),
            Some(why.into()),
        );
        return None;
    }
    match u32::try_from(n) {
        Ok(n) => Some(n),
        Err(_) => {
            cx.error(node.pos(), path, format!("{n} is too large"));
            None
        }
    }
}

/// A size: a whole number of bytes, or a number and a binary unit
/// (`B`, `KiB`, `MiB`, `GiB`: `512KiB`, `8 MiB`), from 1 byte to `max`.
pub fn byte_size(cx: &mut Cx<'_>, node: &Node, path: &str, max: ByteSize) -> Option<ByteSize> {
    let hint = || {
        Some(format!(
            "write bytes or a size with a unit: `8MiB`, `512KiB`; at most {max}"
        ))
    };
    let parsed = match &node.kind {
        Kind::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("`{n}` is not a whole number of bytes")),
        Kind::Str(text) => parse_byte_size(text),
        _ => {
            wrong_type(cx, node, path, "a size such as `8MiB`", hint());
            return None;
        }
    };
    match parsed {
        Ok(0) => cx.report(node.pos(), path, "must be at least 1 byte", hint()),
        Ok(n) if n > max.bytes() => cx.report(
            node.pos(),
            path,
            format!("{} is more than {max}", ByteSize(n)),
            hint(),
        ),
        Ok(n) => return Some(ByteSize(n)),
        Err(message) => cx.report(node.pos(), path, message, hint()),
    }
    None
}

/// `4096`, `512KiB`, `8 MiB`, `1GiB`. Decimal units (`MB`) are refused
/// rather than guessed at: `8MB` is read as 8,000,000 by some and 8 MiB by
/// others.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = (&text[..digits], text[digits..].trim_start());
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" | "MB" | "GB" => {
            let binary = format!("{}iB", unit[..1].to_ascii_uppercase());
            return Err(format!(
                "`{text}`: write `{number}{binary}`; sizes use binary units"
            ));
        }
        _ => return Err(format!("`{text}` is not a size")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("`{text}` is not a size"))
}

pub fn number(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<f64> {
    match &node.kind {
        Kind::Number(n) => n.as_f64(),
        _ => {
            wrong_type(cx, node, path, "a number", None);
            None
        }
    }
}

/// One string or a list of them (`proto: a.proto` or `proto: [a.proto]`),
/// each with its position.
pub fn string_list<'n>(cx: &mut Cx<'_>, node: &'n Node, path: &str) -> Option<Vec<(&'n str, Pos)>> {
    match &node.kind {
        Kind::Str(s) => Some(vec![(s.as_str(), node.pos())]),
        Kind::Seq(items) => {
            let before = cx.count();
            let list: Vec<_> = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| string(cx, item, &index(path, i)).map(|s| (s, item.pos())))
                .collect();
            (cx.count() == before).then_some(list)
        }
        _ => {
            wrong_type(cx, node, path, "a list of strings", None);
            None
        }
    }
}

/// Compile an HTTP path, which is not a whole YAML string: each `{{ }}`
/// kept apart from the text, so its value can be encoded where it lands.
pub fn path_template(
    cx: &mut Cx<'_>,
    text: &str,
    at: Pos,
    path: &str,
) -> Option<(Template, Vec<Read>)> {
    compile_with(cx, text, at, path, Template::parse_separated)
}

/// Compile text that is not a whole YAML string and whose values land as
/// text (a part of a header value).
pub fn template_text(
    cx: &mut Cx<'_>,
    text: &str,
    at: Pos,
    path: &str,
) -> Option<(Template, Vec<Read>)> {
    compile(cx, text, at, path)
}

fn compile(cx: &mut Cx<'_>, text: &str, at: Pos, path: &str) -> Option<(Template, Vec<Read>)> {
    compile_with(cx, text, at, path, Template::parse)
}

fn compile_with(
    cx: &mut Cx<'_>,
    text: &str,
    at: Pos,
    path: &str,
    parse: fn(&str) -> Result<Template, crate::template::TemplateError>,
) -> Option<(Template, Vec<Read>)> {
    match parse(text) {
        Ok(t) => {
            let reads = t
                .references()
                .into_iter()
                .map(|data| Read::new(data, at, path))
                .collect();
            Some((t, reads))
        }
        Err(err) => {
            cx.error(at, path, err.to_string());
            None
        }
    }
}

/// A `when`: exactly one `{{ }}` and nothing around it, since its result
/// must be a boolean, not text. The condition parser checks what is around
/// the braces; a text without any is refused here, so that a condition
/// reads like every other template of the file.
pub fn condition(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<(Condition, Vec<Read>)> {
    let hint = || Some("write one template: `when: \"{{ .score.value > 700 }}\"`".to_string());
    let text = match &node.kind {
        Kind::Str(s) => s,
        _ => {
            wrong_type(cx, node, path, "a `{{ }}` template string", hint());
            return None;
        }
    };
    if !text.contains("{{") {
        cx.report(
            node.pos(),
            path,
            format!("`{text}` is not a `{{{{ }}}}` template"),
            hint(),
        );
        return None;
    }
    match Condition::parse(text) {
        Ok(c) => {
            let reads = c
                .references()
                .into_iter()
                .map(|data| Read::new(data, node.pos(), path))
                .collect();
            Some((c, reads))
        }
        Err(err) => {
            cx.report(node.pos(), path, err.to_string(), hint());
            None
        }
    }
}

/// An `input` or `output` block: any YAML value whose strings may be
/// templates. Each string is compiled on its own first, so that a problem
/// is reported at the line of the string that has it.
pub fn value_template(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
) -> Option<(ValueTemplate, Vec<Read>)> {
    let before = cx.count();
    let mut reads = Vec::new();
    walk_leaves(cx, node, path, &mut reads);
    if cx.count() != before {
        return None;
    }
    let json: Value = node.to_json();
    match ValueTemplate::parse(&json) {
        Ok(t) => Some((t, reads)),
        Err(errors) => {
            for (leaf, err) in errors {
                cx.error(node.pos(), &join(path, &leaf), err.to_string());
            }
            None
        }
    }
}

fn walk_leaves(cx: &mut Cx<'_>, node: &Node, path: &str, reads: &mut Vec<Read>) {
    match &node.kind {
        Kind::Str(s) => {
            if let Some((_, found)) = compile(cx, s, node.pos(), path) {
                reads.extend(found);
            }
        }
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_leaves(cx, item, &index(path, i), reads);
            }
        }
        Kind::Map(entries) => {
            for (key, value) in entries {
                walk_leaves(cx, value, &join(path, &key.name), reads);
            }
        }
        Kind::Null | Kind::Bool(_) | Kind::Number(_) => {}
    }
}
