//! YAML text to a located tree. serde stops at the first error, but a
//! workflow must report every problem, so the file is read into this untyped
//! tree first and decoded by hand afterwards.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Spanned, UserMessageFormatter};

use super::limits::{
    MAX_DEPTH, MAX_NODES, MAX_REPLAYED_EVENTS, limit_message, nested_too_deep, reset_text,
    spend_text, unknown_anchor,
};

/// A YAML value with the position it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; duplicate keys were already rejected.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position, for "unknown field" messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub line: usize,
    pub column: usize,
    /// What a key that is not a scalar was (`a mapping`). Only [`parse`]
    /// sees these: it turns each into an error, so a returned tree has none.
    structured: Option<&'static str>,
}

/// A YAML syntax error: where, and what, without the position in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Kind {
    /// The word used in "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "nothing",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// What was found, for "expected X, found Y": scalars show their value.
    pub fn found(&self) -> String {
        match &self.kind {
            Kind::Bool(b) => format!("`{b}`"),
            Kind::Number(n) => format!("the number {n}"),
            Kind::Str(s) if s.chars().count() <= 40 => format!("the string `{s}`"),
            other => other.describe().to_string(),
        }
    }

    /// The same data as JSON, for `input` and `output` blocks.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Number(n) => Value::Number(n.clone()),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parse one YAML document. `Ok(None)` for a file with no document at all.
pub fn parse(source: &str) -> Result<Option<Node>, Vec<SyntaxError>> {
    let options = serde_saphyr::options! {
        // `yes`, `on` and friends stay strings: YAML 1.1 booleans surprise.
        strict_booleans: true,
        // `zip: 01234` is a code, not the number 1234.
        leading_zero_numbers_as_strings: true,
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            // Flow collections (`[[[`) are refused by the parser itself,
            // before the depth budget sees them; see `limit_message`.
            flow_nesting_limit: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_documents: 1,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
        },
    };
    reset_text();
    let root =
        serde_saphyr::from_str_with_options::<Option<Node>>(source, options).map_err(|err| {
            let err = err.without_snippet();
            let (line, column) = err
                .location()
                .map(|l| (l.line() as usize, l.column() as usize))
                .unwrap_or((1, 1));
            let message = limit_message(err)
                .or_else(|| unknown_anchor(err, source, line, column))
                .unwrap_or_else(|| {
                    let text = err.render_with_formatter(&UserMessageFormatter);
                    let suffix = format!(" at line {line}, column {column}");
                    let text = text.strip_suffix(&suffix).unwrap_or(&text);
                    if text.starts_with("recursion limit exceeded") {
                        nested_too_deep()
                    } else {
                        text.to_string()
                    }
                });
            vec![SyntaxError {
                line,
                column,
                message,
            }]
        })?;
    let mut problems = Vec::new();
    if let Some(root) = &root {
        structured_keys(root, &mut problems);
    }
    if problems.is_empty() {
        Ok(root)
    } else {
        Err(problems)
    }
}

/// Keys that are mappings or lists. The usual cause is an unquoted
/// template: `data: {{ .input.x }}` is a mapping whose key is a mapping.
fn structured_keys(node: &Node, problems: &mut Vec<SyntaxError>) {
    match &node.kind {
        Kind::Seq(items) => items.iter().for_each(|n| structured_keys(n, problems)),
        Kind::Map(entries) => {
            for (key, value) in entries {
                match key.structured {
                    Some("a mapping") => problems.push(SyntaxError {
                        line: key.line,
                        column: key.column,
                        message: "unquoted `{{ }}`: YAML reads the braces as a mapping".into(),
                    }),
                    Some(what) => problems.push(SyntaxError {
                        line: key.line,
                        column: key.column,
                        message: format!("a mapping key must be a string, not {what}"),
                    }),
                    None => structured_keys(value, problems),
                }
            }
        }
        _ => {}
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(deserializer)?;
        Ok(Node {
            kind: spanned.value,
            line: spanned.referenced.line() as usize,
            column: spanned.referenced.column() as usize,
        })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let node = Node::deserialize(deserializer)?;
        let (name, structured) = match node.kind {
            Kind::Str(s) => (s, None),
            Kind::Number(n) => (n.to_string(), None),
            Kind::Bool(b) => (b.to_string(), None),
            Kind::Null => ("null".to_string(), None),
            other => (String::new(), Some(other.describe())),
        };
        Ok(Key {
            name,
            line: node.line,
            column: node.column,
            structured,
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kind, D::Error> {
        Kind::deserialize(deserializer)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::Number(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Kind, E> {
        i64::try_from(v)
            .map(|v| Kind::Number(v.into()))
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Kind, E> {
        u64::try_from(v)
            .map(|v| Kind::Number(v.into()))
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        serde_json::Number::from_f64(v)
            .map(Kind::Number)
            .ok_or_else(|| E::custom("numbers must be finite"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        spend_text(v.len())?;
        Ok(Kind::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        spend_text(v.len())?;
        Ok(Kind::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Key, Node>()? {
            entries.push((key, value));
        }
        Ok(Kind::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_values() {
        let node = parse("a: 1\nb:\n  - x\n").unwrap().unwrap();
        let Kind::Map(entries) = node.kind else {
            panic!("expected a map")
        };
        assert_eq!((entries[0].0.line, entries[0].0.column), (1, 1));
        assert_eq!((entries[0].1.line, entries[0].1.column), (1, 4));
        let Kind::Seq(items) = &entries[1].1.kind else {
            panic!("expected a list")
        };
        assert_eq!((items[0].line, items[0].column), (3, 5));
    }

    #[test]
    fn yaml_1_1_booleans_and_leading_zeros_stay_strings() {
        let node = parse("a: yes\nb: 0755\nc: true\n").unwrap().unwrap();
        let json = node.to_json();
        assert_eq!(json["a"], "yes");
        assert_eq!(json["b"], "0755");
        assert_eq!(json["c"], true);
    }

    #[test]
    fn syntax_errors_carry_position_without_repeating_it() {
        let err = parse("a: 1\na: 2\n").unwrap_err().remove(0);
        assert_eq!((err.line, err.column), (2, 1));
        assert!(err.message.contains("duplicate"), "{}", err.message);
        assert!(!err.message.contains("line 2"), "{}", err.message);
        let err = parse("a:\n\tb: 1\n").unwrap_err().remove(0);
        assert_eq!(err.line, 2);
    }

    #[test]
    fn unquoted_templates_are_reported_each_at_its_line() {
        let errors = parse("a: {{ .input.x }}\nb:\n  c: {{ .y }}\n").unwrap_err();
        let at: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(at, [(1, 5), (3, 7)]);
        assert!(
            errors[0].message.contains("unquoted `{{ }}`"),
            "{}",
            errors[0].message
        );
        let errors = parse("? [a, b]\n: c\n").unwrap_err();
        assert!(
            errors[0].message.contains("not a list"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn empty_file_is_no_document() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        assert!(parse(&bomb).is_err());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(&deep).is_err());
    }
}
