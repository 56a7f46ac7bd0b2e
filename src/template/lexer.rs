//! Tokens of the expression language. A tokenizer (not pattern matching)
//! so that `?`, `&&` or `}}` inside a quoted string never count as syntax.

use super::TemplateError;
use super::syntax::{CmpOp, Lit, PathRef, Segment};

pub(crate) fn syntax(source: &str, message: String) -> TemplateError {
    TemplateError::Syntax {
        template: source.to_owned(),
        message,
    }
}

/// 1-based column of a byte offset, in characters.
pub(crate) fn column(source: &str, byte: usize) -> usize {
    source[..byte.min(source.len())].chars().count() + 1
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Path(PathRef),
    Lit(Lit),
    Cmp(CmpOp),
    AndAnd,
    OrOr,
    /// `??`: the right side when the left is missing or null.
    Coalesce,
    Bang,
    Question,
    Colon,
    LParen,
    RParen,
    Minus,
}

impl Tok {
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Path(p) => format!("`.{}`", p.display()),
            Tok::Lit(Lit::Str(s)) => format!("the string {s:?}"),
            Tok::Lit(Lit::Null) => "`null`".into(),
            Tok::Lit(Lit::Bool(b)) => format!("`{b}`"),
            Tok::Lit(Lit::Int(i)) => format!("`{i}`"),
            Tok::Lit(Lit::UInt(i)) => format!("`{i}`"),
            Tok::Lit(Lit::Float(f)) => format!("`{f}`"),
            Tok::Cmp(op) => format!("`{}`", op.as_str()),
            Tok::AndAnd => "`&&`".into(),
            Tok::OrOr => "`||`".into(),
            Tok::Coalesce => "`??`".into(),
            Tok::Bang => "`!`".into(),
            Tok::Question => "`?`".into(),
            Tok::Colon => "`:`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Minus => "`-`".into(),
        }
    }
}

/// Tokens with the byte offset where each starts.
pub(crate) type Tokens = Vec<(Tok, usize)>;

pub(crate) struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Where the `{{` is, when lexing inside braces (then `}}` ends input).
    open: Option<usize>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str, pos: usize, open: Option<usize>) -> Self {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos,
            open,
        }
    }

    fn err(&self, at: usize, message: impl std::fmt::Display) -> TemplateError {
        syntax(
            self.src,
            format!("at column {}: {message}", column(self.src, at)),
        )
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    /// Tokens up to the closing `}}` (or the end for a bare expression), and
    /// the byte offset of that `}}`.
    pub(crate) fn run(mut self) -> Result<(Tokens, usize), TemplateError> {
        let mut tokens = Vec::new();
        loop {
            while self.peek_at(0).is_some_and(|c| c.is_ascii_whitespace()) {
                self.pos += 1;
            }
            let start = self.pos;
            let Some(c) = self.peek_at(0) else {
                return self.at_end(tokens, start);
            };
            let next = self.peek_at(1);
            if self.open.is_some() && c == b'}' && next == Some(b'}') {
                return Ok((tokens, start));
            }
            let tok = match operator(c, next) {
                Some((tok, len)) => {
                    self.pos += len;
                    tok
                }
                None => self.scan(c, start)?,
            };
            tokens.push((tok, start));
        }
    }

    /// The text ended: fine for a bare expression, not inside `{{`.
    fn at_end(&self, tokens: Tokens, end: usize) -> Result<(Tokens, usize), TemplateError> {
        match self.open {
            Some(open) => Err(syntax(
                self.src,
                format!(
                    "the `{{{{` at column {} is never closed with `}}}}`",
                    column(self.src, open)
                ),
            )),
            None => Ok((tokens, end)),
        }
    }

    /// A path, a literal or a word, or why `c` cannot start a token.
    fn scan(&mut self, c: u8, start: usize) -> Result<Tok, TemplateError> {
        match c {
            b'.' => Ok(Tok::Path(self.path()?)),
            b'\'' | b'"' => Ok(Tok::Lit(Lit::Str(self.string()?))),
            b'0'..=b'9' => Ok(Tok::Lit(self.number(false)?)),
            c if c.is_ascii_alphabetic() || c == b'_' => self.word(),
            _ => Err(self.err(start, refusal(c, &self.src[start..]))),
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        match self.peek_at(0) {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
            _ => return None,
        }
        while self
            .peek_at(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.pos += 1;
        }
        Some(&self.src[start..self.pos])
    }

    /// `.name(.name | [index] | ["key"])*`, with no spaces inside.
    fn path(&mut self) -> Result<PathRef, TemplateError> {
        let start = self.pos;
        self.pos += 1;
        let Some(root) = self.ident() else {
            return Err(self.err(
                start,
                "a `.` must be followed by a name, as in `.input.id` or `.step_output.field`",
            ));
        };
        let mut path = PathRef {
            root: root.to_owned(),
            segments: Vec::new(),
        };
        loop {
            match self.peek_at(0) {
                Some(b'.') => {
                    let dot = self.pos;
                    self.pos += 1;
                    match self.ident() {
                        Some(name) => path.segments.push(Segment::Field(name.to_owned())),
                        None => {
                            return Err(self.err(
                                dot,
                                format!("`.{}.` must be followed by a field name", path.display()),
                            ));
                        }
                    }
                }
                Some(b'[') => {
                    let bracket = self.pos;
                    self.pos += 1;
                    let segment = match self.peek_at(0) {
                        Some(b'0'..=b'9') => {
                            let index = match self.number(true)? {
                                Lit::Int(i) => usize::try_from(i).ok(),
                                _ => None,
                            };
                            match index {
                                Some(i) => Segment::Index(i),
                                None => return Err(self.err(bracket, "this index is too large")),
                            }
                        }
                        Some(b'\'' | b'"') => Segment::Field(self.string()?),
                        _ => {
                            return Err(self.err(
                                bracket,
                                "write an index as a number or a quoted key, as in `.items[0]` or `.headers[\"content-type\"]`",
                            ));
                        }
                    };
                    if self.peek_at(0) != Some(b']') {
                        return Err(self.err(bracket, "this `[` is not closed with `]`"));
                    }
                    self.pos += 1;
                    path.segments.push(segment);
                }
                _ => return Ok(path),
            }
        }
    }

    /// A quoted string; `\\`, `\'`, `\"`, `\n`, `\t` and `\r` are escapes.
    fn string(&mut self) -> Result<String, TemplateError> {
        let start = self.pos;
        let quote = self.bytes[start];
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c as u32 == quote as u32 => {
                    self.pos = start + 1 + i + 1;
                    return Ok(out);
                }
                '\\' => {
                    match chars.next() {
                        Some((_, e @ ('\\' | '\'' | '"'))) => out.push(e),
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, 't')) => out.push('\t'),
                        Some((_, 'r')) => out.push('\r'),
                        Some((j, e)) => {
                            return Err(self.err(
                            start + 1 + j - 1,
                            format!("unknown escape `\\{e}` in a string; write `\\\\` for a backslash"),
                        ));
                        }
                        None => break,
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err(
            start,
            format!("the string opened with {} is never closed", quote as char),
        ))
    }

    /// Digits with an optional fraction. Inside an index only integers are
    /// meaningful, and the caller says so.
    fn number(&mut self, index: bool) -> Result<Lit, TemplateError> {
        let start = self.pos;
        while self.peek_at(0).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let mut float = false;
        if !index && self.peek_at(0) == Some(b'.') {
            if !self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.err(start, "a number's `.` must be followed by digits"));
            }
            float = true;
            self.pos += 1;
            while self.peek_at(0).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if self
            .peek_at(0)
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        {
            return Err(self.err(start, "a number must not run into letters"));
        }
        let text = &self.src[start..self.pos];
        if float {
            return text
                .parse::<f64>()
                .map(Lit::Float)
                .map_err(|_| self.err(start, format!("`{text}` is not a number")));
        }
        match text.parse::<u64>() {
            Ok(v) => Ok(i64::try_from(v).map_or(Lit::UInt(v), Lit::Int)),
            Err(_) => Err(self.err(
                start,
                format!("`{text}` is too large; integers go up to {}", u64::MAX),
            )),
        }
    }

    fn word(&mut self) -> Result<Tok, TemplateError> {
        let start = self.pos;
        let word = self.ident().unwrap_or_default();
        Ok(match word {
            "true" => Tok::Lit(Lit::Bool(true)),
            "false" => Tok::Lit(Lit::Bool(false)),
            "null" | "nil" => Tok::Lit(Lit::Null),
            "and" => return Err(self.err(start, "use `&&` instead of `and`")),
            "or" => return Err(self.err(start, "use `||` instead of `or`")),
            "not" => return Err(self.err(start, "use `!` instead of `not`")),
            _ if matches!(self.peek_at(0), Some(b'.' | b'[')) => {
                // Show the whole dotted word the user wrote in the hint.
                let mut end = self.pos;
                while self.bytes.get(end).is_some_and(|&c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'[' | b']')
                }) {
                    end += 1;
                }
                let written = &self.src[start..end];
                return Err(self.err(
                    start,
                    format!("`{written}` is not a value; data paths start with a dot: write `.{written}`"),
                ));
            }
            _ => {
                return Err(self.err(
                    start,
                    format!(
                        "`{word}` is not a value: data paths start with a dot (`.{word}`), \
                         strings are quoted (`'{word}'`), and there are no functions"
                    ),
                ));
            }
        })
    }
}

/// The operators of one or two characters, and their length.
fn operator(c: u8, next: Option<u8>) -> Option<(Tok, usize)> {
    Some(match (c, next) {
        (b'=', Some(b'=')) => (Tok::Cmp(CmpOp::Eq), 2),
        (b'!', Some(b'=')) => (Tok::Cmp(CmpOp::Ne), 2),
        (b'<', Some(b'=')) => (Tok::Cmp(CmpOp::Le), 2),
        (b'>', Some(b'=')) => (Tok::Cmp(CmpOp::Ge), 2),
        (b'&', Some(b'&')) => (Tok::AndAnd, 2),
        (b'|', Some(b'|')) => (Tok::OrOr, 2),
        (b'<', _) => (Tok::Cmp(CmpOp::Lt), 1),
        (b'>', _) => (Tok::Cmp(CmpOp::Gt), 1),
        (b'!', _) => (Tok::Bang, 1),
        (b'?', Some(b'?')) => (Tok::Coalesce, 2),
        (b'?', _) => (Tok::Question, 1),
        (b':', _) => (Tok::Colon, 1),
        (b'(', _) => (Tok::LParen, 1),
        (b')', _) => (Tok::RParen, 1),
        (b'-', _) => (Tok::Minus, 1),
        _ => return None,
    })
}

/// Why the character `c` (the start of `rest`) cannot start a token.
fn refusal(c: u8, rest: &str) -> String {
    match c {
        b'}' => "a single `}` does not close a template; write `}}`".into(),
        b'=' => "unknown operator `=`; use `==` to compare".into(),
        b'&' => "unknown operator `&`; use `&&`".into(),
        b'|' => "unknown operator `|`; use `||` (filters are not supported)".into(),
        b'+' | b'*' | b'/' | b'%' | b'~' => {
            format!(
                "unknown operator `{}`; arithmetic is not supported",
                c as char
            )
        }
        _ => format!(
            "unexpected character `{}`",
            rest.chars().next().unwrap_or('?')
        ),
    }
}
