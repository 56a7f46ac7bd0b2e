//! Steps that call no service: `sleep` / `sleep_until` and `wait`; and the
//! kind of every step (these, a call, a `foreach` or a child `workflow`),
//! each taking only the fields of its kind.

use super::dataflow::Read;
use super::{Cx, Fields, scalar};
use crate::workflow::model::{MAX_SIGNAL_NAME, Sleep, Wait, is_signal_name};
use crate::workflow::timestamp::parse_rfc3339;

/// What a step does, from the fields it holds.
pub(super) enum Kind {
    Call,
    Sleep,
    Wait,
    Foreach,
    Workflow,
}

/// The fields that make a step one kind or another.
const KINDS: &[&str] = &["sleep", "sleep_until", "wait", "foreach", "workflow"];

/// Fields that only a step calling a service takes.
const CALL_ONLY: &[&str] = &[
    "service",
    "method",
    "input",
    "headers",
    "retry",
    "compensate",
];

/// Fields that only a `foreach` step takes.
const FOREACH_ONLY: &[&str] = &["as", "concurrency", "steps"];

/// The step's kind; `None` when it names two, or holds a field of another.
pub(super) fn kind(cx: &mut Cx<'_>, f: &Fields<'_>) -> Option<Kind> {
    let named: Vec<&str> = KINDS
        .iter()
        .copied()
        .filter(|k| f.get(k).is_some())
        .collect();
    let (kind, field) = match named.as_slice() {
        [] => (Kind::Call, "service"),
        ["wait"] => (Kind::Wait, "wait"),
        ["foreach"] => (Kind::Foreach, "foreach"),
        ["workflow"] => (Kind::Workflow, "workflow"),
        [sleep] => (Kind::Sleep, *sleep),
        [first, second, ..] => {
            let (key, _) = f.entry(second).expect("present");
            cx.report(
                key.pos(),
                &f.path(second),
                format!("a step cannot hold both `{first}` and `{second}`"),
                Some("make them two steps, one after the other".into()),
            );
            return None;
        }
    };
    let mut clean = true;
    let mut refuse = |name: &str, why: String, hint: Option<&str>| {
        if let Some((key, _)) = f.entry(name) {
            cx.report(key.pos(), &f.path(name), why, hint.map(str::to_string));
            clean = false;
        }
    };
    if !matches!(kind, Kind::Call) {
        let hint = matches!(kind, Kind::Foreach).then_some("put the call in the loop's `steps`");
        // A child workflow's `input` is the child's `.input`.
        let own_input = matches!(kind, Kind::Workflow).then_some("input");
        for name in CALL_ONLY.iter().filter(|name| Some(**name) != own_input) {
            let why = format!("a `{field}` step calls no service: `{name}` has no place here");
            refuse(name, why, hint);
        }
    }
    match kind {
        Kind::Sleep => {
            let why = format!("a `{field}` step ends when it is time: it takes no `timeout`");
            refuse("timeout", why, None);
            refuse("output", format!("a `{field}` step has no output"), None);
        }
        Kind::Foreach => refuse(
            "timeout",
            "a `foreach` step takes no `timeout`".into(),
            Some("set it on the loop's steps; the run's `timeout` bounds the whole loop"),
        ),
        Kind::Workflow => refuse(
            "timeout",
            "a `workflow` step takes no `timeout`".into(),
            Some("the child workflow runs under what remains of this run's `timeout`"),
        ),
        Kind::Call | Kind::Wait => {}
    }
    if !matches!(kind, Kind::Foreach) {
        for name in FOREACH_ONLY {
            let hint = (*name == "steps").then_some(
                "to run steps once per element of a list, add `foreach: \"{{ .input.items }}\"`",
            );
            refuse(name, format!("`{name}` belongs to a `foreach` step"), hint);
        }
    }
    clean.then_some(kind)
}

/// `sleep: 10m` or `sleep_until: "{{ .input.ship_at }}"`.
pub(super) fn sleep(cx: &mut Cx<'_>, f: &Fields<'_>, reads: &mut Vec<Read>) -> Option<Sleep> {
    if let Some(node) = f.get("sleep") {
        return scalar::duration(cx, node, &f.path("sleep")).map(Sleep::For);
    }
    let node = f.get("sleep_until")?;
    let path = f.path("sleep_until");
    let text = scalar::nonempty_string(cx, node, &path)?;
    let (template, found) = scalar::template_text(cx, &text, node.pos(), &path)?;
    if found.is_empty()
        && !text.contains("{{")
        && let Err(e) = parse_rfc3339(&text)
    {
        cx.error(node.pos(), &path, e);
        return None;
    }
    reads.extend(found);
    Some(Sleep::Until(template))
}

/// `wait: name`, with an optional `timeout`.
pub(super) fn wait(cx: &mut Cx<'_>, f: &Fields<'_>) -> Option<Wait> {
    let node = f.get("wait")?;
    let path = f.path("wait");
    let signal = scalar::nonempty_string(cx, node, &path)?;
    if !is_signal_name(&signal) {
        cx.report(
            node.pos(),
            &path,
            format!("signal name `{}` cannot be sent", signal.escape_debug()),
            Some(format!(
                "it is a part of the URL signals are sent to: letters, digits, `_`, `-` and `.`, \
                 at most {MAX_SIGNAL_NAME}"
            )),
        );
        return None;
    }
    let timeout = match f.get("timeout") {
        Some(n) => Some(scalar::positive_duration(cx, n, &f.path("timeout"))?),
        None => None,
    };
    Some(Wait { signal, timeout })
}
