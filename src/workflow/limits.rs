//! The loader's resource limits: the values handed to the YAML parser, the
//! count of text the tree takes once aliases are expanded, and the parser's
//! reports of a limit reached, told in the user's terms.

use std::cell::Cell;

use serde::de;
use serde_saphyr::budget::BudgetBreach;

/// Deepest nesting of mappings and sequences accepted: real workflows stay
/// under ten, and the decoder recurses once per level.
pub(crate) const MAX_DEPTH: usize = 48;
/// Nodes in one file; a large workflow has a few thousand.
pub(crate) const MAX_NODES: usize = 200_000;
/// Events replayed through aliases, against "billion laughs" files.
pub(crate) const MAX_REPLAYED_EVENTS: usize = 100_000;
/// Bytes of keys and strings in the tree once aliases are expanded. The
/// replay limit counts events, not their size: a few aliases of a list of
/// long strings would otherwise copy gigabytes out of a small file.
pub(crate) const MAX_TEXT_BYTES: usize = 16 * 1024 * 1024;

thread_local! {
    /// Text bytes the tree being built may still take; parsing is
    /// synchronous, so one counter per thread serves one parse at a time.
    static TEXT_LEFT: Cell<usize> = const { Cell::new(MAX_TEXT_BYTES) };
}

/// Charge `len` bytes of text to the current parse.
pub(crate) fn spend_text<E: de::Error>(len: usize) -> Result<(), E> {
    TEXT_LEFT.with(|left| match left.get().checked_sub(len) {
        Some(rest) => {
            left.set(rest);
            Ok(())
        }
        None => Err(E::custom(format!(
            "the text of the file, aliases expanded, exceeds {} MiB",
            MAX_TEXT_BYTES / (1024 * 1024)
        ))),
    })
}

/// Start counting text afresh, for a new parse on this thread.
pub(crate) fn reset_text() {
    TEXT_LEFT.with(|left| left.set(MAX_TEXT_BYTES));
}

/// The parser's resource limits in the user's terms; its own messages for
/// them are debug dumps (`limits breached: Depth { depth: 49 }`).
pub(crate) fn limit_message(err: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::Error;
    let breach = match err {
        Error::AliasError { error, .. } => return limit_message(error),
        Error::AliasReplayLimitExceeded { .. } => {
            return Some(format!(
                "aliases expand to more than {MAX_REPLAYED_EVENTS} values"
            ));
        }
        Error::Budget { breach, .. } => breach,
        _ => return None,
    };
    Some(match breach {
        BudgetBreach::Depth { .. } => nested_too_deep(),
        BudgetBreach::Nodes { .. } => format!("the file holds more than {MAX_NODES} values"),
        BudgetBreach::Documents { .. } => {
            "the file holds several YAML documents; a workflow is one".to_string()
        }
        BudgetBreach::Aliases { .. } | BudgetBreach::AliasAnchorRatio { .. } => {
            "the file uses too many aliases (`*name`) for a workflow".to_string()
        }
        other => format!("the file is too large or complex for a workflow ({other:?})"),
    })
}

/// The parser says "reference to unknown value" without the name; the
/// name is at the reported position.
pub(crate) fn unknown_anchor(
    err: &serde_saphyr::Error,
    source: &str,
    line: usize,
    column: usize,
) -> Option<String> {
    if !matches!(err, serde_saphyr::Error::UnknownAnchor { .. }) {
        return None;
    }
    let at = source.lines().nth(line.checked_sub(1)?)?;
    let alias: String = at
        .chars()
        .skip(column.saturating_sub(1))
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .collect();
    let name = alias.strip_prefix('*').filter(|name| !name.is_empty())?;
    Some(format!(
        "alias `*{name}` refers to no anchor `&{name}` defined before it"
    ))
}

pub(crate) fn nested_too_deep() -> String {
    format!("mappings and lists are nested more than {MAX_DEPTH} levels deep")
}
