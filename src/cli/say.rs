//! What the command line tells a person on stderr besides its tracing logs:
//! plain lines, or, with `--log-format json`, one JSON object per line in the
//! shape of the JSON logs, so a collector can read stderr whole.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use serde_json::{Map, Value, json};

/// Set once from `--log-format`, before anything is said.
static JSON: AtomicBool = AtomicBool::new(false);

pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Whether stderr carries JSON objects only.
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// How a plain warning or error starts, so a person can grep for it.
    fn prefix(self) -> &'static str {
        match self {
            Level::Info => "",
            Level::Warn => "warning: ",
            Level::Error => "error: ",
        }
    }
}

/// Say `message` (already escaped for a terminal) as it is; it may span
/// lines, like validation diagnostics.
pub fn say(level: Level, message: &str) {
    say_with(level, "maestro::cli", message, Map::new());
}

pub fn info(message: &str) {
    say(Level::Info, message);
}

/// `warning: message` in plain text.
pub fn warn(message: &str) {
    say(Level::Warn, &prefixed(Level::Warn, message));
}

/// `error: message` in plain text.
pub fn error(message: &str) {
    say(Level::Error, &prefixed(Level::Error, message));
}

/// `error: message`, with `fields` that only the JSON form carries.
pub fn error_with(message: &str, fields: Map<String, Value>) {
    let text = prefixed(Level::Error, message);
    say_with(Level::Error, "maestro::cli", &text, fields);
}

/// The plain form starts with the level; the JSON form says it in `level`.
fn prefixed(level: Level, message: &str) -> String {
    if is_json() {
        message.to_owned()
    } else {
        format!("{}{message}", level.prefix())
    }
}

/// Say `message` with `fields` that only the JSON form carries.
pub fn say_with(level: Level, target: &str, message: &str, fields: Map<String, Value>) {
    let mut stderr = std::io::stderr().lock();
    // Nothing useful is left to do when stderr itself is gone.
    let _ = stderr.write_all(render(level, target, message, fields, is_json()).as_bytes());
}

/// The line (or lines, in the plain form) written for one message,
/// newline included.
pub fn render(
    level: Level,
    target: &str,
    message: &str,
    fields: Map<String, Value>,
    as_json: bool,
) -> String {
    if !as_json {
        return format!("{message}\n");
    }
    let mut all = Map::new();
    all.insert("message".into(), Value::String(message.to_owned()));
    all.extend(fields);
    let object = json!({
        "timestamp": humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
        "level": level.name(),
        "fields": all,
        "target": target,
    });
    format!("{object}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_one_line_per_message_even_when_it_spans_lines() {
        let mut fields = Map::new();
        fields.insert("step".into(), json!("charge"));
        let line = render(Level::Warn, "maestro::cli", "a\nb\u{1b}[2J", fields, true);
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "WARN");
        assert_eq!(value["fields"]["message"], "a\nb\u{1b}[2J");
        assert_eq!(value["fields"]["step"], "charge");
    }

    #[test]
    fn plain_lines_are_the_message_as_it_is() {
        let line = render(Level::Error, "maestro::cli", "a:1:2: no", Map::new(), false);
        assert_eq!(line, "a:1:2: no\n");
    }
}
