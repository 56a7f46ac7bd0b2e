//! tera renders the text of templates that mix text with expressions: each
//! `{{ }}` is evaluated first (see `eval`) and its text handed to tera in the
//! render's own context, so a render shares nothing with another one.

use std::io;
use std::sync::Arc;

use tera::{Context, ErrorKind, Tera, Value};

use super::convert::too_large;
use super::syntax::{Piece, syntax};
use super::translate;
use super::{MAX_RENDERED_BYTES, TemplateError};

/// Templates compiled together, sharing one tera instance.
pub(crate) struct Engine {
    tera: Tera,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// Collects translated templates, then compiles them in one go.
#[derive(Default)]
pub(crate) struct EngineBuilder {
    /// (tera name, tera source, original source)
    templates: Vec<(String, String, String)>,
}

impl EngineBuilder {
    pub(crate) fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// Add text with expressions in it; returns its name in the engine.
    pub(crate) fn add_interpolation(&mut self, pieces: &[Piece], source: &str) -> String {
        let name = format!("t{}", self.templates.len());
        let tera_source = translate::interpolation(pieces);
        self.templates
            .push((name.clone(), tera_source, source.to_owned()));
        name
    }

    /// Compile everything added. A failure here means the translation
    /// produced something tera rejects; it names the original template.
    pub(crate) fn build(self) -> Result<Arc<Engine>, TemplateError> {
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&'static str>::new());
        let sources = self.templates.iter().map(|(name, src, _)| (name, src));
        if let Err(err) = tera.add_raw_templates(sources) {
            let failed = match err.kind() {
                ErrorKind::SyntaxError(report) | ErrorKind::RenderingError(report) => {
                    Some(report.filename().to_owned())
                }
                _ => None,
            };
            let source = self
                .templates
                .iter()
                .find(|(name, _, _)| Some(name) == failed.as_ref())
                .or(self.templates.first())
                .map(|(_, _, original)| original.as_str())
                .unwrap_or_default();
            return Err(syntax(source, tera_message(&err)));
        }
        Ok(Arc::new(Engine { tera }))
    }
}

impl Engine {
    /// Render template `name` with the text of each of its expressions, in
    /// order.
    pub(crate) fn text(
        &self,
        name: &str,
        values: Vec<String>,
        source: &str,
    ) -> Result<String, TemplateError> {
        let mut context = Context::new();
        for (i, text) in values.into_iter().enumerate() {
            context.insert_value(translate::value_name(i), Value::from(text));
        }
        let mut out = Capped::default();
        let rendered = self.tera.render_to(name, &context, &mut out);
        if out.overflowed {
            return Err(too_large(source));
        }
        rendered.map_err(|err| TemplateError::Eval {
            template: source.to_owned(),
            message: tera_message(&err),
        })?;
        // tera writes whole strings, and the template and values are UTF-8.
        String::from_utf8(out.bytes).map_err(|_| TemplateError::Eval {
            template: source.to_owned(),
            message: "the result is not UTF-8".to_owned(),
        })
    }
}

/// Render output that refuses to grow past [`MAX_RENDERED_BYTES`]: the
/// write fails, which stops tera's render mid-way.
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDERED_BYTES {
            self.overflowed = true;
            return Err(io::Error::other("rendered text too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tera's message without its source excerpt.
fn tera_message(err: &tera::Error) -> String {
    match err.kind() {
        ErrorKind::SyntaxError(report) | ErrorKind::RenderingError(report) => {
            report.message().to_owned()
        }
        _ => err.to_string(),
    }
}
