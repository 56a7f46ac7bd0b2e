//! [`Template`] and [`Condition`]: a source string parsed, translated and
//! compiled once, then evaluated against a [`Scope`] as often as needed.

use std::sync::Arc;

use serde_json::Value;

use super::convert::{charge, describe, text_of, too_large};
use super::engine::{Engine, EngineBuilder};
use super::eval::evaluate;
use super::syntax::{self, Expr, PathRef, Piece, Segment, parse_bare, parse_pieces};
use super::{DataPath, MAX_RENDERED_BYTES, Scope, TemplateError};

/// Text around expressions, rendered by tera from the expressions' values.
#[derive(Debug, Clone)]
struct Text {
    engine: Arc<Engine>,
    name: String,
    exprs: Vec<Expr>,
}

#[derive(Debug, Clone)]
enum Kind {
    /// No `{{ }}`: the text is the value.
    Literal,
    /// Exactly one `{{ .path }}`: the value there.
    Path(PathRef),
    /// Text around `{{ .path }}`s only, or text around expressions kept
    /// apart from it ([`Template::parse_separated`]): a string, built piece
    /// by piece.
    Paths(Vec<Part>),
    /// Exactly one `{{ }}`: the expression's typed value.
    Whole(Expr),
    /// Text around expressions: a string.
    Text(Text),
}

/// A piece of a template built without an interpolating engine.
#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Path(PathRef),
    Expr(Expr),
}

/// One piece of a rendered template: text the workflow's author wrote, or
/// the text of a value from the run's data, which a caller escapes for
/// where it lands (a URL path, a query string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment<'a> {
    Literal(&'a str),
    Data(&'a str),
}

/// One string that may hold `{{ }}` templates. A string that is exactly one
/// `{{ expr }}` renders to the expression's JSON value (object, number, ...);
/// text around templates renders to a string.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    kind: Kind,
    references: Vec<DataPath>,
}

/// A template parsed, waiting for the engine that renders its text to be
/// built (several templates of one document share an engine).
pub(crate) struct Pending {
    source: String,
    /// Everything but text around expressions, ready as it is.
    ready: Option<Kind>,
    /// Text around expressions: its name in the engine, and the expressions.
    text: Option<(String, Vec<Expr>)>,
    references: Vec<DataPath>,
}

impl Pending {
    pub(crate) fn prepare(
        source: &str,
        builder: &mut EngineBuilder,
    ) -> Result<Self, TemplateError> {
        let pieces = parse_pieces(source)?;
        let references = references_of(pieces.iter().filter_map(|p| match p {
            Piece::Expr(e) => Some(e),
            Piece::Text(_) => None,
        }));
        let parts: Option<Vec<Part>> = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(text) => Some(Part::Text(text.clone())),
                Piece::Expr(Expr::Path(path)) => Some(Part::Path(path.clone())),
                Piece::Expr(_) => None,
            })
            .collect();
        let (ready, text) = match pieces.as_slice() {
            [] | [Piece::Text(_)] => (Some(Kind::Literal), None),
            [Piece::Expr(Expr::Path(path))] => (Some(Kind::Path(path.clone())), None),
            _ if parts.is_some() => (parts.map(Kind::Paths), None),
            [Piece::Expr(expr)] => (Some(Kind::Whole(expr.clone())), None),
            _ => {
                let name = builder.add_interpolation(&pieces, source);
                let exprs = pieces.into_iter().filter_map(|p| match p {
                    Piece::Expr(e) => Some(e),
                    Piece::Text(_) => None,
                });
                (None, Some((name, exprs.collect())))
            }
        };
        Ok(Pending {
            source: source.to_owned(),
            ready,
            text,
            references,
        })
    }

    pub(crate) fn finish(self, engine: Option<&Arc<Engine>>) -> Template {
        let kind = match (self.ready, self.text, engine) {
            (Some(ready), _, _) => ready,
            (None, Some((name, exprs)), Some(engine)) => Kind::Text(Text {
                engine: Arc::clone(engine),
                name,
                exprs,
            }),
            _ => Kind::Literal,
        };
        Template {
            source: self.source,
            kind,
            references: self.references,
        }
    }
}

impl Template {
    /// Compile once, at load time.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut builder = EngineBuilder::default();
        let pending = Pending::prepare(source, &mut builder)?;
        let engine = match builder.is_empty() {
            true => None,
            false => Some(builder.build()?),
        };
        Ok(pending.finish(engine.as_ref()))
    }

    /// Compile keeping each `{{ }}` apart from the text around it, so that
    /// [`Template::render_fragments`] can tell the author's text from the
    /// run's data. A template that is one `{{ }}` and nothing else is a
    /// fragment of data too.
    pub fn parse_separated(source: &str) -> Result<Self, TemplateError> {
        let pieces = parse_pieces(source)?;
        if !pieces.iter().any(|p| matches!(p, Piece::Expr(_))) {
            return Template::parse(source);
        }
        let references = references_of(pieces.iter().filter_map(|p| match p {
            Piece::Expr(e) => Some(e),
            Piece::Text(_) => None,
        }));
        let parts = pieces
            .into_iter()
            .map(|piece| match piece {
                Piece::Text(text) => Part::Text(text),
                Piece::Expr(Expr::Path(path)) => Part::Path(path),
                Piece::Expr(expr) => Part::Expr(expr),
            })
            .collect();
        Ok(Template {
            source: source.to_owned(),
            kind: Kind::Paths(parts),
            references,
        })
    }

    /// The original text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the text holds no `{{ }}` at all.
    pub fn is_literal(&self) -> bool {
        matches!(self.kind, Kind::Literal)
    }

    /// Every data path the template reads.
    pub fn references(&self) -> Vec<DataPath> {
        self.references.clone()
    }

    pub fn render(&self, scope: &Scope) -> Result<Value, TemplateError> {
        match &self.kind {
            Kind::Literal => Ok(Value::String(self.source.clone())),
            Kind::Path(path) => {
                let value = scope.data().lookup(path)?;
                if !charge(value, &mut { MAX_RENDERED_BYTES }) {
                    return Err(too_large(&self.source));
                }
                Ok(value.clone())
            }
            Kind::Paths(pieces) => self.interpolate(pieces, scope).map(Value::String),
            Kind::Whole(expr) => {
                let value = evaluate(expr, scope.data(), &self.source)?;
                if !charge(&value, &mut { MAX_RENDERED_BYTES }) {
                    return Err(too_large(&self.source));
                }
                Ok(value.into_owned())
            }
            Kind::Text(text) => self.text(text, scope).map(Value::String),
        }
    }

    /// Render as text: a whole-value template of a string gives the string
    /// itself, other values their JSON text (for paths and headers).
    pub fn render_string(&self, scope: &Scope) -> Result<String, TemplateError> {
        match &self.kind {
            Kind::Literal => Ok(self.source.clone()),
            Kind::Path(_) | Kind::Whole(_) => self.render(scope).map(|v| text_of(&v)),
            Kind::Paths(pieces) => self.interpolate(pieces, scope),
            Kind::Text(text) => self.text(text, scope),
        }
    }

    /// Evaluate each expression, then let tera print the text around them.
    fn text(&self, text: &Text, scope: &Scope) -> Result<String, TemplateError> {
        let values = text
            .exprs
            .iter()
            .map(|expr| evaluate(expr, scope.data(), &self.source).map(|v| text_of(&v)))
            .collect::<Result<Vec<_>, _>>()?;
        text.engine.text(&text.name, values, &self.source)
    }

    /// Text and the values of paths, printed as interpolation promises:
    /// strings as they are, anything else as compact JSON.
    fn interpolate(&self, parts: &[Part], scope: &Scope) -> Result<String, TemplateError> {
        let mut out = String::new();
        self.each_fragment(parts, scope, &mut |fragment| {
            match fragment {
                Fragment::Literal(text) | Fragment::Data(text) => out.push_str(text),
            }
            if out.len() > MAX_RENDERED_BYTES {
                return Err(too_large(&self.source));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Render piece by piece: `write` hears each literal text and each
    /// value's text (as [`Template::render_string`] would print it) in
    /// order, and may refuse one. A template compiled whole by an engine is
    /// one fragment of data.
    pub fn render_fragments(
        &self,
        scope: &Scope,
        write: &mut dyn FnMut(Fragment<'_>) -> Result<(), TemplateError>,
    ) -> Result<(), TemplateError> {
        match &self.kind {
            Kind::Literal => write(Fragment::Literal(&self.source)),
            Kind::Paths(parts) => self.each_fragment(parts, scope, write),
            Kind::Path(_) | Kind::Whole(_) | Kind::Text(_) => {
                write(Fragment::Data(&self.render_string(scope)?))
            }
        }
    }

    fn each_fragment(
        &self,
        parts: &[Part],
        scope: &Scope,
        write: &mut dyn FnMut(Fragment<'_>) -> Result<(), TemplateError>,
    ) -> Result<(), TemplateError> {
        for part in parts {
            match part {
                Part::Text(text) => write(Fragment::Literal(text))?,
                Part::Path(path) => match scope.data().lookup(path)? {
                    Value::String(s) => write(Fragment::Data(s))?,
                    other => write(Fragment::Data(&other.to_string()))?,
                },
                Part::Expr(expr) => {
                    let value = evaluate(expr, scope.data(), &self.source)?;
                    write(Fragment::Data(&text_of(&value)))?;
                }
            }
        }
        Ok(())
    }
}

/// A `when` condition: one template that must evaluate to a boolean.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    expr: Expr,
    references: Vec<DataPath>,
}

impl Condition {
    /// Either one `{{ expr }}` (spaces around it allowed) or a bare
    /// expression.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let expr = if source.contains("{{") {
            let pieces = parse_pieces(source)?;
            let mut exprs = pieces.into_iter().filter_map(|p| match p {
                Piece::Expr(e) => Some(Ok(e)),
                Piece::Text(t) if t.trim().is_empty() => None,
                Piece::Text(t) => Some(Err(t)),
            });
            match (exprs.next(), exprs.next()) {
                (Some(Ok(expr)), None) => expr,
                (Some(Err(text)), _) | (_, Some(Err(text))) => {
                    return Err(syntax::syntax(
                        source,
                        format!(
                            "a condition is one `{{{{ }}}}` expression with nothing around it, but `{}` is outside",
                            text.trim()
                        ),
                    ));
                }
                _ => {
                    return Err(syntax::syntax(
                        source,
                        "a condition is one `{{ }}` expression; combine several with `&&` or `||` inside one".to_owned(),
                    ));
                }
            }
        } else {
            parse_bare(source)?
        };
        Ok(Condition {
            source: source.to_owned(),
            references: references_of(std::iter::once(&expr)),
            expr,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn references(&self) -> Vec<DataPath> {
        self.references.clone()
    }

    pub fn evaluate(&self, scope: &Scope) -> Result<bool, TemplateError> {
        match evaluate(&self.expr, scope.data(), &self.source)?.as_ref() {
            Value::Bool(b) => Ok(*b),
            other => Err(TemplateError::NotBoolean {
                template: self.source.clone(),
                got: describe(other),
            }),
        }
    }
}

/// The distinct paths read by `exprs`, in the order they appear.
fn references_of<'e>(exprs: impl Iterator<Item = &'e Expr>) -> Vec<DataPath> {
    fn walk(expr: &Expr, out: &mut Vec<DataPath>) {
        match expr {
            Expr::Path(path) => {
                let data = data_path(path);
                if !out.contains(&data) {
                    out.push(data);
                }
            }
            Expr::Lit(_) => {}
            Expr::Not(e) => walk(e, out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Coalesce(a, b) | Expr::Cmp(_, a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Expr::Ternary(c, a, b) => {
                walk(c, out);
                walk(a, out);
                walk(b, out);
            }
        }
    }
    let mut out = Vec::new();
    for expr in exprs {
        walk(expr, &mut out);
    }
    out
}

fn data_path(path: &PathRef) -> DataPath {
    DataPath {
        root: path.root.clone(),
        segments: path
            .segments
            .iter()
            .map(|s| match s {
                Segment::Field(name) => name.clone(),
                Segment::Index(i) => i.to_string(),
            })
            .collect(),
    }
}
