//! Workflow loading on arbitrary text, YAML-shaped noise, and mutations of
//! the example workflows at the text and at the tree level: every input
//! gives a workflow or located problems, never a panic.

use std::path::{Path, PathBuf};

use maestro::workflow::{Diagnostics, Workflow, load_str};
use proptest::prelude::*;
use serde_json::Value;

use super::{config, json};

fn examples() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/workflows")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !maestro::workflow::is_test_file(p))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable example");
            (p, text)
        })
        .collect()
}

/// Load `source` as if it lived at `path`, and check that any problems
/// are real ones: a message, and a line inside the text (0 for the whole
/// file).
fn load(source: &str, path: &Path) -> Result<Workflow, Diagnostics> {
    let result = load_str(source, path, &|_| None);
    if let Err(problems) = &result {
        let lines = yaml_lines(source);
        assert!(!problems.is_empty());
        for problem in problems {
            assert!(!problem.message.is_empty(), "{problem}");
            assert!(problem.line <= lines + 1, "{problem} in {lines} lines");
            assert_eq!(problem.file, path);
        }
    }
    result
}

/// Lines as YAML counts them: a lone carriage return breaks a line too
/// (`str::lines` counts only line feeds).
fn yaml_lines(source: &str) -> usize {
    let breaks = source.replace("\r\n", "\n").matches(['\n', '\r']).count();
    breaks + 1
}

fn fuzz_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workflows/fuzz.yaml")
}

/// Pieces that mean something to YAML or to the workflow language.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            ": ",
            "- ",
            "\n",
            "  ",
            "\t",
            "{",
            "}",
            "[",
            "]",
            ", ",
            "&a ",
            "*a",
            "? ",
            "|\n",
            ">-\n",
            "'",
            "\"",
            "#",
            "---\n",
            "...\n",
            "!!str ",
            "<<: *a",
            "{{ .input }}",
            "\"{{ .x.y[0] }}\"",
            "name",
            "steps",
            "services",
            "id",
            "service",
            "method",
            "input",
            "output",
            "when",
            "parallel",
            "compensate",
            "retry",
            "timeout",
            "type",
            "grpc",
            "http",
            "endpoint",
            "\"http://127.0.0.1:1\"",
            "POST /a",
            "${X:-1}",
            "30s",
            "0",
            "-1",
            "1e400",
            "18446744073709551616",
            "null",
            "true",
            "yes",
            "0755",
        ])
        .prop_map(str::to_owned),
        "[ -~]{1,4}",
    ]
}

/// One edit of a workflow's text; numbers are taken modulo the text's size.
#[derive(Debug, Clone)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceValue(usize, String),
    Insert(usize, String),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        at.prop_map(Edit::DeleteLine),
        at.prop_map(Edit::DuplicateLine),
        (at, at).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (at, fragment()).prop_map(|(a, f)| Edit::ReplaceValue(a, f)),
        (at, fragment()).prop_map(|(a, f)| Edit::Insert(a, f)),
        at.prop_map(Edit::Truncate),
    ]
}

fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let n = lines.len().max(1);
    match edit {
        Edit::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i % n);
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
        Edit::ReplaceValue(i, value) if !lines.is_empty() => {
            let line = &mut lines[i % n];
            if let Some(colon) = line.find(": ") {
                line.truncate(colon + 2);
                line.push_str(value);
            }
        }
        Edit::Insert(at, piece) => {
            let mut out = text.to_owned();
            out.insert_str(floor_boundary(text, *at), piece);
            return out;
        }
        Edit::Truncate(at) => return text[..floor_boundary(text, *at)].to_owned(),
        _ => {}
    }
    lines.join("\n") + "\n"
}

/// Replace the `n`th node of a depth-first walk (the root excluded) by
/// `new`, or remove it from its parent when `new` is `None`.
fn replace_nth(tree: &mut Value, n: &mut usize, new: &Option<Value>) -> bool {
    let len = match tree {
        Value::Object(fields) => fields.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    for i in 0..len {
        let key = match &*tree {
            Value::Object(fields) => fields.keys().nth(i).cloned(),
            _ => None,
        };
        if *n == 0 {
            match (new, &mut *tree, key) {
                (Some(value), Value::Object(fields), Some(key)) => {
                    fields.insert(key, value.clone());
                }
                (Some(value), Value::Array(items), _) => items[i] = value.clone(),
                (None, Value::Object(fields), Some(key)) => drop(fields.shift_remove(&key)),
                (None, Value::Array(items), _) => drop(items.remove(i)),
                _ => {}
            }
            return true;
        }
        *n -= 1;
        let child = match (&mut *tree, key) {
            (Value::Object(fields), Some(key)) => fields.get_mut(&key),
            (Value::Array(items), _) => items.get_mut(i),
            _ => None,
        };
        if child.is_some_and(|child| replace_nth(child, n, new)) {
            return true;
        }
    }
    false
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_text_gives_a_workflow_or_problems(source in any::<String>()) {
        let _ = load(&source, &fuzz_path());
    }

    #[test]
    fn arbitrary_bytes_read_as_text_give_a_workflow_or_problems(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = load(&String::from_utf8_lossy(&bytes), &fuzz_path());
    }

    #[test]
    fn yaml_shaped_noise_gives_a_workflow_or_problems(
        pieces in prop::collection::vec(fragment(), 0..40),
    ) {
        let _ = load(&pieces.concat(), &fuzz_path());
    }
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn edited_examples_give_a_workflow_or_located_problems(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let examples = examples();
        let (path, text) = &examples[which.index(examples.len())];
        let edited = edits.iter().fold(text.clone(), |text, e| apply(&text, e));
        let _ = load(&edited, path);
    }

    /// The example's tree with one node replaced by random JSON, or
    /// removed, written as pretty JSON (which is YAML): this reaches the
    /// decoder with every wrong type and missing field.
    #[test]
    fn examples_with_a_node_replaced_give_a_workflow_or_located_problems(
        which in any::<prop::sample::Index>(),
        node in any::<prop::sample::Index>(),
        new in prop::option::weighted(0.8, json()),
    ) {
        let examples = examples();
        let (path, text) = &examples[which.index(examples.len())];
        let mut tree: Value = serde_saphyr::from_str(text).expect("the example is YAML");
        let mut n = node.index(1000);
        replace_nth(&mut tree, &mut n, &new);
        let source = serde_json::to_string_pretty(&tree).expect("JSON");
        let _ = load(&source, path);
    }
}

/// The tree mutation above starts from the example written as JSON; that
/// must itself be a valid workflow, or the mutations test little.
#[test]
fn examples_written_as_json_still_load() {
    for (path, text) in examples() {
        let tree: Value = serde_saphyr::from_str(&text).expect("the example is YAML");
        let source = serde_json::to_string_pretty(&tree).expect("JSON");
        if let Err(problems) = load(&source, &path) {
            panic!("{} as JSON does not load:\n{problems}", path.display());
        }
    }
}
