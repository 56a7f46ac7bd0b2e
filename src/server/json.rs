//! Strict JSON for what callers send as a run's input, over the API and on
//! the command line: a key given twice (at any depth) and an integer beyond
//! 64 bits are refused with where they are, never silently resolved.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::template::type_name;

/// Why a document was refused. `at` names the place from the document's
/// root, e.g. `input.order.items[2]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("not valid JSON: {message}")]
    Syntax { message: String },
    #[error("the key `{key}` is given twice at {at} (line {line}, column {column})")]
    DuplicateKey {
        key: String,
        at: String,
        line: usize,
        column: usize,
    },
    #[error(
        "{at}: the integer {digits} does not fit in 64 bits, and would lose digits; \
         send it as a string"
    )]
    BigInteger { at: String, digits: String },
    #[error("{at} must be a JSON object, not {found}")]
    NotObject { at: String, found: &'static str },
}

/// Parse `text` as one JSON document, strictly. `root` names the document
/// in error messages (`input`, or empty for a request body).
pub fn parse(text: &[u8], root: &str) -> Result<Value, JsonError> {
    let walk = Walk {
        root,
        stack: RefCell::new(Vec::new()),
        problem: RefCell::new(None),
        numbers: RefCell::new(0),
        floats: RefCell::new(Vec::new()),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let parsed = Strict(&walk)
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    let value = match parsed {
        Ok(value) => value,
        Err(e) => {
            return Err(match walk.problem.into_inner() {
                Some((key, at)) => JsonError::DuplicateKey {
                    key,
                    at,
                    line: e.line(),
                    column: e.column(),
                },
                None => JsonError::Syntax {
                    message: e.to_string(),
                },
            });
        }
    };
    let floats = walk.floats.into_inner();
    if !floats.is_empty() {
        check_integers(text, &floats)?;
    }
    Ok(value)
}

/// A run's input must be an object; `at` names it.
pub fn require_object(value: Value, at: &str) -> Result<Map<String, Value>, JsonError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(JsonError::NotObject {
            at: at.to_string(),
            found: type_name(&other),
        }),
    }
}

/// One step down from the root.
enum Segment {
    Key(String),
    Index(usize),
}

/// The state of one parse: where it is, and what it saw.
struct Walk<'r> {
    root: &'r str,
    stack: RefCell<Vec<Segment>>,
    /// A duplicate key and where, found mid-parse.
    problem: RefCell<Option<(String, String)>>,
    /// Numbers seen so far, in document order.
    numbers: RefCell<usize>,
    /// The position among numbers and the place of each read as a float:
    /// serde_json reads an integer too large for 64 bits as a float.
    floats: RefCell<Vec<(usize, String)>>,
}

impl Walk<'_> {
    fn place(&self) -> String {
        let mut out = self.root.to_string();
        for segment in self.stack.borrow().iter() {
            match segment {
                Segment::Key(key) if is_identifier(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Key(key) => out.push_str(&format!("[{key:?}]")),
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() {
            "the top level".into()
        } else {
            out
        }
    }

    fn number(&self, float: bool) {
        let mut count = self.numbers.borrow_mut();
        if float {
            self.floats.borrow_mut().push((*count, self.place()));
        }
        *count += 1;
    }
}

fn is_identifier(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Each number read as a float whose text is an integer did not fit in 64
/// bits (a float's text has a `.` or an exponent).
fn check_integers(text: &[u8], floats: &[(usize, String)]) -> Result<(), JsonError> {
    let mut floats = floats.iter().peekable();
    for (n, token) in number_tokens(text).enumerate() {
        let Some((index, at)) = floats.peek() else {
            break;
        };
        if *index != n {
            continue;
        }
        floats.next();
        let integer = !token.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
        let text = String::from_utf8_lossy(token);
        if integer && text.parse::<i64>().is_err() && text.parse::<u64>().is_err() {
            return Err(JsonError::BigInteger {
                at: at.clone(),
                digits: shortened(&text),
            });
        }
    }
    Ok(())
}

/// A number of a thousand digits is named by its first ones.
fn shortened(digits: &str) -> String {
    const SHOWN: usize = 40;
    if digits.len() <= SHOWN {
        return digits.to_string();
    }
    format!("{}... ({} digits)", &digits[..SHOWN], digits.len())
}

/// The number tokens of a valid JSON text, in order: outside strings, a
/// number is the only token that starts with `-` or a digit.
fn number_tokens(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < text.len() {
            match text[i] {
                b'"' => {
                    i += 1;
                    while i < text.len() && text[i] != b'"' {
                        i += if text[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < text.len()
                        && matches!(text[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    {
                        i += 1;
                    }
                    return Some(&text[start..i]);
                }
                _ => i += 1,
            }
        }
        None
    })
}

/// Builds a `Value` as serde_json would, refusing a key seen twice.
struct Strict<'w, 'r>(&'w Walk<'r>);

impl<'de> DeserializeSeed<'de> for Strict<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        self.0.number(false);
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        self.0.number(false);
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        self.0.number(true);
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            self.0.stack.borrow_mut().push(Segment::Index(items.len()));
            let item = seq.next_element_seed(Strict(self.0));
            self.0.stack.borrow_mut().pop();
            match item? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                let at = self.0.place();
                let message = format!("the key `{key}` is given twice");
                *self.0.problem.borrow_mut() = Some((key, at));
                return Err(de::Error::custom(message));
            }
            self.0.stack.borrow_mut().push(Segment::Key(key));
            let value = map.next_value_seed(Strict(self.0));
            let Some(Segment::Key(key)) = self.0.stack.borrow_mut().pop() else {
                unreachable!("the key pushed above");
            };
            fields.insert(key, value?);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests;
