//! The layers of `src/` import only downward, as the `# Layout` of lib.rs
//! says: every `crate::<module>` named in a module's files is checked
//! against what that module may import.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module, lowest first, and the modules it may import.
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("escape", &[]),
    ("template", &[]),
    ("resilience", &[]),
    ("proto", &[]),
    ("telemetry", &["error", "escape"]),
    ("run", &["resilience", "template", "workflow"]),
    ("workflow", &["escape", "proto", "resilience", "template"]),
    ("graph", &["escape", "workflow"]),
    (
        "transport",
        &[
            "error",
            "proto",
            "resilience",
            "telemetry",
            "template",
            "workflow",
        ],
    ),
    ("journal", &["error", "run", "workflow"]),
    (
        "runtime",
        &[
            "error",
            "journal",
            "resilience",
            "run",
            "telemetry",
            "template",
            "transport",
            "workflow",
        ],
    ),
    (
        "server",
        &[
            "error",
            "escape",
            "graph",
            "journal",
            "proto",
            "resilience",
            "run",
            "runtime",
            "telemetry",
            "template",
            "transport",
            "workflow",
        ],
    ),
    (
        "cli",
        &[
            "error",
            "escape",
            "graph",
            "journal",
            "proto",
            "resilience",
            "run",
            "runtime",
            "server",
            "telemetry",
            "template",
            "transport",
            "workflow",
        ],
    ),
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// Every `crate::name` in `text`, with the line it is on.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((n + 1, name));
            rest = after;
        }
    }
    found
}

#[test]
fn every_layer_imports_only_the_layers_beneath_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(allowed) = layers.get(module.as_str()) else {
            wrong.push(format!("{module}: a module missing from the layers"));
            continue;
        };
        let mut files = Vec::new();
        rust_files(&path, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, name) in crate_paths(&text) {
                if name != module && !allowed.contains(&name.as_str()) {
                    wrong.push(format!(
                        "{}:{line}: {module} imports crate::{name}; it may import {allowed:?}",
                        file.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}
