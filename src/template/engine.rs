//! The compiled side: one tera instance per loaded template set, with the
//! functions that read data paths and the filters that hand typed values back
//! to Rust. tera renders to text only, so a whole-value template ends in a
//! filter that stores its argument in a thread-local slot, read right after
//! the (synchronous) render returns.

use std::cell::RefCell;
use std::io;
use std::sync::Arc;

use tera::value::{Key, ValueKind};
use tera::{ErrorKind, Kwargs, State, Tera, Value};

use super::convert::{to_json, too_large, type_name};
use super::scope::SKIPPED_KEY;
use super::syntax::{Expr, PathRef, Piece, Segment, display_prefix, syntax};
use super::translate::{self, CAPTURE_FILTER, PathTable, TEXT_FILTER};
use super::{MAX_RENDERED_BYTES, TemplateError};

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
            tera.register_function(
                translate::path_function(i),
                move |_: Kwargs, state: &State| read_path(&path, state),
            );
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
        context: &tera::Context,
        source: &str,
    ) -> Result<Value, TemplateError> {
        take_slot();
        let rendered = self.tera.render_to(name, context, io::sink());
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
        context: &tera::Context,
        source: &str,
    ) -> Result<String, TemplateError> {
        take_slot();
        let mut out = Capped::default();
        let rendered = self.tera.render_to(name, context, &mut out);
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

fn missing(path: &PathRef, hint: String) -> tera::TeraResult<Value> {
    fail(TemplateError::Missing {
        path: path.display(),
        hint: Some(hint),
    })
}

/// Read `path` from the run's data: a skipped root reads as null at any
/// depth; anything else that is not there is an error naming the path.
fn read_path(path: &PathRef, state: &State) -> tera::TeraResult<Value> {
    let Some(root) = state.get::<Value>(&path.root)? else {
        return missing(
            path,
            format!(
                "nothing named `{}` has been produced at this point",
                path.root
            ),
        );
    };
    if path.segments.is_empty() {
        return Ok(root);
    }
    if root.is_none() && is_skipped(state, &path.root)? {
        return Ok(Value::none());
    }
    let mut current = &root;
    for (depth, segment) in path.segments.iter().enumerate() {
        let next = match segment {
            Segment::Field(name) => field(current, name),
            Segment::Index(i) => match current.kind() {
                ValueKind::Array => current.as_array().and_then(|items| items.get(*i)),
                _ => field(current, &i.to_string()),
            },
        };
        match next {
            Some(value) => current = value,
            None => {
                let parent = display_prefix(&path.root, &path.segments[..depth]);
                return missing(path, why_absent(current, &parent, segment));
            }
        }
    }
    Ok(current.clone())
}

fn field<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    let map = value.as_map()?;
    // Scanning beats hashing for the small objects services return.
    if map.len() <= 12 {
        map.iter()
            .find_map(|(k, v)| (k.as_str() == Some(name)).then_some(v))
    } else {
        let i = map.get_index_of(&Key::Str(name))?;
        map.get_index(i).map(|(_, v)| v)
    }
}

fn is_skipped(state: &State, root: &str) -> tera::TeraResult<bool> {
    Ok(state
        .get::<Value>(SKIPPED_KEY)?
        .is_some_and(|skipped| field(&skipped, root).is_some()))
}

fn why_absent(parent_value: &Value, parent: &str, segment: &Segment) -> String {
    match (segment, parent_value.kind()) {
        (Segment::Index(i), ValueKind::Array) => {
            let len = parent_value.as_array().map_or(0, <[Value]>::len);
            format!("`{parent}` has {len} element(s), so there is no index {i}")
        }
        (_, ValueKind::Map) => {
            let name = match segment {
                Segment::Field(name) => name.clone(),
                Segment::Index(i) => i.to_string(),
            };
            let keys: Vec<String> = parent_value
                .as_map()
                .map(|m| m.keys().take(10).map(|k| format!("`{k}`")).collect())
                .unwrap_or_default();
            if keys.is_empty() {
                format!("`{parent}` is an empty object, with no field `{name}`")
            } else {
                format!(
                    "`{parent}` has no field `{name}`; it has {}",
                    keys.join(", ")
                )
            }
        }
        (_, _) => format!(
            "`{parent}` is {}, which has no fields or elements",
            type_name(parent_value)
        ),
    }
}
