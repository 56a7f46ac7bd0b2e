//! The compiled side: one tera instance per loaded template set, with the
//! functions that read data paths and the filters that hand typed values back
//! to Rust. tera renders to text only, so a whole-value template ends in a
//! filter that stores its argument in a thread-local slot, read right after
//! the (synchronous) render returns. The path functions read the run's JSON
//! data, lent to them in a thread-local for the render, and convert only
//! the value they read: tera's own context stays empty.

use std::cell::RefCell;
use std::io;
use std::sync::{Arc, LazyLock};

use tera::value::ValueKind;
use tera::{ErrorKind, Kwargs, State, Tera, Value};

use super::convert::{to_json, to_tera, too_large};
use super::scope::Data;
use super::syntax::{Expr, PathRef, Piece, syntax};
use super::translate::{self, CAPTURE_FILTER, PathTable, TEXT_FILTER};
use super::{MAX_RENDERED_BYTES, Scope, TemplateError};

/// What a render left behind besides its text.
struct Slot {
    captured: Option<Value>,
    /// The structured reason a path function failed; tera itself only
    /// carries the message.
    failure: Option<TemplateError>,
}

thread_local! {
    static SLOT: RefCell<Slot> = const {
        RefCell::new(Slot { captured: None, failure: None })
    };
    /// The data of the render in progress on this thread.
    static DATA: RefCell<Option<Arc<Data>>> = const { RefCell::new(None) };
}

/// Every render's tera context: data comes through the path functions.
static EMPTY: LazyLock<tera::Context> = LazyLock::new(tera::Context::new);

/// Lends a scope's data to the path functions for one render; taken back
/// when dropped, so the scope's next insert does not have to copy it.
struct Lent;

impl Lent {
    fn new(scope: &Scope) -> Self {
        DATA.with(|data| *data.borrow_mut() = Some(Arc::clone(scope.data())));
        Lent
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        DATA.with(|data| data.borrow_mut().take());
    }
}

fn take_slot() -> (Option<Value>, Option<TemplateError>) {
    SLOT.with(|slot| {
        let mut slot = slot.borrow_mut();
        (slot.captured.take(), slot.failure.take())
    })
}

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
    paths: PathTable,
    /// (tera name, tera source, original source)
    templates: Vec<(String, String, String)>,
}

impl EngineBuilder {
    pub(crate) fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    pub(crate) fn add_whole(&mut self, expr: &Expr, source: &str) -> String {
        let tera_source = translate::whole_value(expr, &mut self.paths);
        self.push(tera_source, source)
    }

    pub(crate) fn add_interpolation(&mut self, pieces: &[Piece], source: &str) -> String {
        let tera_source = translate::interpolation(pieces, &mut self.paths);
        self.push(tera_source, source)
    }

    fn push(&mut self, tera_source: String, source: &str) -> String {
        let name = format!("t{}", self.templates.len());
        self.templates
            .push((name.clone(), tera_source, source.to_owned()));
        name
    }

    /// Compile everything added. A failure here means the translation
    /// produced something tera rejects; it names the original template.
    pub(crate) fn build(self) -> Result<Arc<Engine>, TemplateError> {
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&'static str>::new());
        tera.register_filter(CAPTURE_FILTER, |value: &Value, _: Kwargs, _: &State| {
            SLOT.with(|slot| slot.borrow_mut().captured = Some(value.clone()));
            Value::from("")
        });
        tera.register_filter(TEXT_FILTER, |value: &Value, _: Kwargs, _: &State| {
            if value.kind() == ValueKind::String {
                value.clone()
            } else {
                Value::from(to_json(value).to_string())
            }
        });
        for (i, path) in self.paths.into_paths().into_iter().enumerate() {
            tera.register_function(translate::path_function(i), move |_: Kwargs, _: &State| {
                read_path(&path)
            });
        }
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
    /// Evaluate a whole-value template to its typed value.
    pub(crate) fn value(
        &self,
        name: &str,
        scope: &Scope,
        source: &str,
    ) -> Result<Value, TemplateError> {
        take_slot();
        let lent = Lent::new(scope);
        let rendered = self.tera.render_to(name, &EMPTY, io::sink());
        drop(lent);
        let (captured, failure) = take_slot();
        match rendered {
            Ok(()) => captured.ok_or_else(|| TemplateError::Eval {
                template: source.to_owned(),
                message: "the expression produced no value".to_owned(),
            }),
            Err(err) => Err(failure.unwrap_or_else(|| eval_error(source, &err))),
        }
    }

    /// Evaluate a template with text around its expressions.
    pub(crate) fn text(
        &self,
        name: &str,
        scope: &Scope,
        source: &str,
    ) -> Result<String, TemplateError> {
        take_slot();
        let mut out = Capped::default();
        let lent = Lent::new(scope);
        let rendered = self.tera.render_to(name, &EMPTY, &mut out);
        drop(lent);
        let (_, failure) = take_slot();
        if out.overflowed {
            return Err(too_large(source));
        }
        rendered.map_err(|err| failure.unwrap_or_else(|| eval_error(source, &err)))?;
        // tera writes whole strings, and the template and data are UTF-8.
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

fn eval_error(source: &str, err: &tera::Error) -> TemplateError {
    TemplateError::Eval {
        template: source.to_owned(),
        message: tera_message(err),
    }
}

/// tera's message without its source excerpt, in JSON's type names.
fn tera_message(err: &tera::Error) -> String {
    let message = match err.kind() {
        ErrorKind::SyntaxError(report) | ErrorKind::RenderingError(report) => {
            report.message().to_owned()
        }
        _ => err.to_string(),
    };
    [
        ("`none`", "`null`"),
        ("`u64`", "`number`"),
        ("`i64`", "`number`"),
        ("`f64`", "`number`"),
        ("`u128`", "`number`"),
        ("`i128`", "`number`"),
        ("`map/struct`", "`object`"),
    ]
    .iter()
    .fold(message, |m, (from, to)| m.replace(from, to))
}

/// Record why a path could not be read and fail the render.
fn fail(error: TemplateError) -> tera::TeraResult<Value> {
    let message = error.to_string();
    SLOT.with(|slot| slot.borrow_mut().failure = Some(error));
    Err(tera::Error::message(message))
}

/// Read `path` from the data lent for this render (see [`Data::lookup`]).
fn read_path(path: &PathRef) -> tera::TeraResult<Value> {
    let found = DATA.with(|data| match &*data.borrow() {
        Some(data) => data.lookup(path).map(to_tera),
        None => Err(TemplateError::Eval {
            template: path.display(),
            message: "no run data to read".to_owned(),
        }),
    });
    match found {
        Ok(value) => Ok(value),
        Err(error) => fail(error),
    }
}
