//! Typed `{{ }}` expressions evaluated straight over the run's JSON data: a
//! path reads its value in place, and only what an operator makes is new.
//! The rules are the language's (docs/workflow.md, "Templates"): `&&`, `||`
//! and `!` give booleans by truthiness and short-circuit; numbers compare by
//! value whatever their JSON form; values of different types are never
//! equal and cannot be ordered.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::TemplateError;
use super::scope::Data;
use super::syntax::{CmpOp, Expr, Lit};

/// The value of `expr` over `data`; `source` names the template in errors.
pub(crate) fn evaluate<'d>(
    expr: &Expr,
    data: &'d Data,
    source: &str,
) -> Result<Cow<'d, Value>, TemplateError> {
    let boolean = |b: bool| Ok(Cow::Owned(Value::Bool(b)));
    match expr {
        Expr::Path(path) => Ok(Cow::Borrowed(data.lookup(path)?)),
        Expr::Lit(lit) => Ok(Cow::Owned(literal(lit))),
        Expr::Not(inner) => boolean(!truthy(evaluate(inner, data, source)?.as_ref())),
        Expr::And(a, b) => boolean(
            truthy(evaluate(a, data, source)?.as_ref())
                && truthy(evaluate(b, data, source)?.as_ref()),
        ),
        Expr::Or(a, b) => boolean(
            truthy(evaluate(a, data, source)?.as_ref())
                || truthy(evaluate(b, data, source)?.as_ref()),
        ),
        Expr::Coalesce(a, b) => match evaluate(a, data, source) {
            Ok(value) if !value.is_null() => Ok(value),
            Ok(_) | Err(TemplateError::Missing { .. }) => evaluate(b, data, source),
            Err(e) => Err(e),
        },
        Expr::Cmp(op, a, b) => {
            let (a, b) = (evaluate(a, data, source)?, evaluate(b, data, source)?);
            compare(*op, &a, &b)
                .map(|b| Cow::Owned(Value::Bool(b)))
                .map_err(|message| TemplateError::Eval {
                    template: source.to_owned(),
                    message,
                })
        }
        Expr::Ternary(condition, then, otherwise) => {
            if truthy(evaluate(condition, data, source)?.as_ref()) {
                evaluate(then, data, source)
            } else {
                evaluate(otherwise, data, source)
            }
        }
    }
}

fn literal(lit: &Lit) -> Value {
    match lit {
        Lit::Null => Value::Null,
        Lit::Bool(b) => Value::Bool(*b),
        Lit::Int(i) => Value::from(*i),
        Lit::UInt(u) => Value::from(*u),
        // The lexer reads finite floats only; NaN has no JSON form anyway.
        Lit::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Lit::Str(s) => Value::String(s.clone()),
    }
}

/// False for null, false, zero, and empty strings, arrays and objects.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => match number(n) {
            Num::Int(i) => i != 0,
            Num::Float(f) => f != 0.0,
        },
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
    }
}

fn compare(op: CmpOp, a: &Value, b: &Value) -> Result<bool, String> {
    match op {
        CmpOp::Eq => return Ok(equal(a, b)),
        CmpOp::Ne => return Ok(!equal(a, b)),
        _ => {}
    }
    let order = order(a, b)
        .ok_or_else(|| format!("Cannot compare `{}` with `{}`", type_word(a), type_word(b)))?;
    Ok(match op {
        CmpOp::Lt => order == Ordering::Less,
        CmpOp::Le => order != Ordering::Greater,
        CmpOp::Gt => order == Ordering::Greater,
        CmpOp::Ge => order != Ordering::Less,
        CmpOp::Eq | CmpOp::Ne => unreachable!("answered above"),
    })
}

/// Structural equality, with numbers equal by value (`1 == 1.0`).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// The order of two values of one kind; arrays element by element. `None`
/// for values that have no order between them (objects, mixed types).
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Number(x), Value::Number(y)) => Some(numbers(x, y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Array(x), Value::Array(y)) => {
            for (x, y) in x.iter().zip(y) {
                match order(x, y)? {
                    Ordering::Equal => {}
                    unequal => return Some(unequal),
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => None,
    }
}

/// A JSON number as integers and floats compare: integers exactly, a float
/// against an integer without rounding the integer.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn number(n: &Number) -> Num {
    if let Some(u) = n.as_u64() {
        Num::Int(i128::from(u))
    } else if let Some(i) = n.as_i64() {
        Num::Int(i128::from(i))
    } else {
        Num::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

fn numbers(a: &Number, b: &Number) -> Ordering {
    match (number(a), number(b)) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        // JSON has no NaN: floats always have an order.
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Num::Float(x), Num::Int(y)) => float_to_int(x, y),
        (Num::Int(x), Num::Float(y)) => float_to_int(y, x).reverse(),
    }
}

/// `x` against `n` exactly: the float's integer part first, then whether it
/// has a fraction.
fn float_to_int(x: f64, n: i128) -> Ordering {
    // Bounds of i128 are far beyond any JSON integer Maestro holds (64 bits).
    #[allow(clippy::cast_precision_loss)]
    let (min, max) = (i128::MIN as f64, i128::MAX as f64);
    if x.is_nan() || x >= max {
        return Ordering::Greater;
    }
    if x < min {
        return Ordering::Less;
    }
    let floor = x.floor();
    #[allow(clippy::cast_possible_truncation)]
    match (floor as i128).cmp(&n) {
        Ordering::Equal if x > floor => Ordering::Greater,
        order => order,
    }
}

/// A value's type in one word, as error messages name it.
fn type_word(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
