//! The language inside `{{ }}`: a string is split into literal text and
//! expressions, and each expression is tokenized and parsed into a small tree
//! that `eval` evaluates and static validation walks for paths.

use super::TemplateError;
pub(crate) use super::lexer::syntax;
use super::lexer::{Lexer, Tok, Tokens, column};

/// One part of a template string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Path(PathRef),
    Lit(Lit),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `a ?? b`: `b` when `a` is missing or null.
    Coalesce(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// condition, then, else
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    /// Integers above `i64::MAX` keep their exact value.
    UInt(u64),
    Float(f64),
    Str(String),
}

/// `.items[0].id`: root `items`, then an index, then a field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PathRef {
    pub root: String,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Segment {
    Field(String),
    Index(usize),
}

impl PathRef {
    /// The path as users write it, without the leading dot.
    pub(crate) fn display(&self) -> String {
        display_prefix(&self.root, &self.segments)
    }
}

/// `root` followed by `segments` in the user's notation (`items[0].id`).
pub(crate) fn display_prefix(root: &str, segments: &[Segment]) -> String {
    let mut out = root.to_owned();
    for seg in segments {
        match seg {
            Segment::Field(name) if is_ident(name) => {
                out.push('.');
                out.push_str(name);
            }
            Segment::Field(name) => {
                out.push_str("[\"");
                out.push_str(&name.replace('\\', "\\\\").replace('"', "\\\""));
                out.push_str("\"]");
            }
            Segment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Split `source` into text and parsed `{{ }}` expressions.
pub(crate) fn parse_pieces(source: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest_start = 0;
    while let Some(found) = source[rest_start..].find("{{") {
        let open = rest_start + found;
        if open > rest_start {
            pieces.push(Piece::Text(source[rest_start..open].to_owned()));
        }
        let (expr, end) = parse_expression_at(source, open + 2, open)?;
        pieces.push(Piece::Expr(expr));
        rest_start = end;
    }
    if rest_start < source.len() {
        pieces.push(Piece::Text(source[rest_start..].to_owned()));
    }
    Ok(pieces)
}

/// Parse a bare expression (a `when` written without braces).
pub(crate) fn parse_bare(source: &str) -> Result<Expr, TemplateError> {
    let tokens = Lexer::new(source, 0, None).run()?.0;
    Parser::new(source, tokens, source.len()).parse_all()
}

/// Parse the expression starting at byte `start`, just after the `{{` found
/// at byte `open`; returns it and the byte just after its `}}`.
fn parse_expression_at(
    source: &str,
    start: usize,
    open: usize,
) -> Result<(Expr, usize), TemplateError> {
    let (tokens, close) = Lexer::new(source, start, Some(open)).run()?;
    if tokens.is_empty() {
        return Err(syntax(
            source,
            format!(
                "the `{{{{ }}}}` at column {} is empty; put an expression in it, such as `{{{{ .input.id }}}}`",
                column(source, open)
            ),
        ));
    }
    let expr = Parser::new(source, tokens, close).parse_all()?;
    Ok((expr, close + 2))
}

/// Deepest nesting of parentheses, `!` and `? :` in one expression. The
/// parser and the evaluator both recurse once per level, so without a
/// bound a long enough `((((` overflows the stack.
pub(crate) const MAX_NESTING: usize = 16;
/// Values and operators in one expression. `a || b || c ...` nests without
/// parentheses; the bound keeps one evaluation short.
pub(crate) const MAX_TOKENS: usize = 256;

struct Parser<'a> {
    src: &'a str,
    tokens: Tokens,
    pos: usize,
    /// Byte offset of the end of the expression, for "expected ... at end".
    end: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, tokens: Tokens, end: usize) -> Self {
        Parser {
            src,
            tokens,
            pos: 0,
            end,
            depth: 0,
        }
    }

    /// Run `parse` one nesting level deeper, refusing to go past the limit.
    fn nested(
        &mut self,
        parse: fn(&mut Self) -> Result<Expr, TemplateError>,
    ) -> Result<Expr, TemplateError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err_here(format!(
                "expressions nest at most {MAX_NESTING} levels deep (parentheses, `!` and `? :`)"
            )));
        }
        self.depth += 1;
        let expr = parse(self);
        self.depth -= 1;
        expr
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn err_here(&self, message: impl std::fmt::Display) -> TemplateError {
        let (at, found) = match self.tokens.get(self.pos) {
            Some((tok, at)) => (*at, tok.describe()),
            None => (self.end, "the end of the expression".to_owned()),
        };
        syntax(
            self.src,
            format!(
                "at column {}: {message}, found {found}",
                column(self.src, at)
            ),
        )
    }

    fn parse_all(mut self) -> Result<Expr, TemplateError> {
        if self.tokens.is_empty() {
            return Err(syntax(self.src, "the expression is empty".to_owned()));
        }
        if self.tokens.len() > MAX_TOKENS {
            return Err(syntax(
                self.src,
                format!(
                    "the expression has {} values and operators; at most {MAX_TOKENS} are allowed",
                    self.tokens.len()
                ),
            ));
        }
        let expr = self.ternary()?;
        if self.pos < self.tokens.len() {
            return Err(self.err_here("expected an operator or the end of the expression"));
        }
        Ok(expr)
    }

    fn ternary(&mut self) -> Result<Expr, TemplateError> {
        let cond = self.coalesce()?;
        if self.peek() != Some(&Tok::Question) {
            return Ok(cond);
        }
        self.pos += 1;
        let then = self.nested(Self::ternary)?;
        if self.peek() != Some(&Tok::Colon) {
            return Err(self.err_here("expected `:` to give the ternary's other value"));
        }
        self.pos += 1;
        let otherwise = self.nested(Self::ternary)?;
        Ok(Expr::Ternary(
            Box::new(cond),
            Box::new(then),
            Box::new(otherwise),
        ))
    }

    fn coalesce(&mut self) -> Result<Expr, TemplateError> {
        let mut lhs = self.or()?;
        while self.peek() == Some(&Tok::Coalesce) {
            self.pos += 1;
            let rhs = self.or()?;
            lhs = Expr::Coalesce(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn or(&mut self) -> Result<Expr, TemplateError> {
        let mut lhs = self.and()?;
        while self.peek() == Some(&Tok::OrOr) {
            self.pos += 1;
            let rhs = self.and()?;
            lhs = Expr::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, TemplateError> {
        let mut lhs = self.comparison()?;
        while self.peek() == Some(&Tok::AndAnd) {
            self.pos += 1;
            let rhs = self.comparison()?;
            lhs = Expr::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn comparison(&mut self) -> Result<Expr, TemplateError> {
        let lhs = self.unary()?;
        let Some(Tok::Cmp(op)) = self.peek().cloned() else {
            return Ok(lhs);
        };
        self.pos += 1;
        let rhs = self.unary()?;
        if matches!(self.peek(), Some(Tok::Cmp(_))) {
            return Err(self.err_here("comparisons cannot be chained; join them with `&&`"));
        }
        Ok(Expr::Cmp(op, Box::new(lhs), Box::new(rhs)))
    }

    fn unary(&mut self) -> Result<Expr, TemplateError> {
        if self.peek() == Some(&Tok::Bang) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.nested(Self::unary)?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, TemplateError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.err_here("expected a value"));
        };
        match tok {
            Tok::Path(p) => {
                self.pos += 1;
                Ok(Expr::Path(p))
            }
            Tok::Lit(l) => {
                self.pos += 1;
                Ok(Expr::Lit(l))
            }
            Tok::LParen => {
                self.pos += 1;
                let inner = self.nested(Self::ternary)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.err_here("expected `)`"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::Minus => {
                self.pos += 1;
                let lit = match self.peek() {
                    Some(Tok::Lit(Lit::Int(i))) => Lit::Int(-*i),
                    Some(Tok::Lit(Lit::Float(f))) => Lit::Float(-*f),
                    Some(Tok::Lit(Lit::UInt(u))) if *u == i64::MIN.unsigned_abs() => {
                        Lit::Int(i64::MIN)
                    }
                    Some(Tok::Lit(Lit::UInt(_))) => {
                        return Err(
                            self.err_here(format!("negative integers go down to {}", i64::MIN))
                        );
                    }
                    _ => return Err(self.err_here("`-` can only come before a number")),
                };
                self.pos += 1;
                Ok(Expr::Lit(lit))
            }
            _ => Err(self.err_here("expected a value")),
        }
    }
}
