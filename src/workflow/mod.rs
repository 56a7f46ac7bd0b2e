//! The workflow language: YAML in, a validated [`Workflow`] out, or every
//! problem in the file, each located at its line and column.

mod decode;
mod diagnostic;
mod env;
mod header;
pub mod input_schema;
mod limits;
pub mod model;
pub mod schedule;
pub mod schema;
pub mod suggest;
pub mod timestamp;
mod yaml;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub use diagnostic::{Diagnostic, Diagnostics};
pub use model::*;

/// Largest workflow file read: real ones are a few kilobytes, and the whole
/// text is held in memory while it is parsed.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A folder beyond each workflow's own that `proto` and `import_paths` may
/// read from: the command line's `--proto-root`, set once per process so
/// that runs resumed from a journal load under the same rule.
static PROTO_ROOT: OnceLock<PathBuf> = OnceLock::new();

/// Let every workflow loaded from now on read `.proto` files under `dir`
/// too. Once per process.
pub fn allow_proto_root(dir: &Path) -> Result<(), String> {
    let real = dir
        .canonicalize()
        .map_err(|e| format!("--proto-root `{}`: {e}", dir.display()))?;
    if !real.is_dir() {
        return Err(format!("--proto-root `{}` is not a folder", dir.display()));
    }
    PROTO_ROOT
        .set(real)
        .map_err(|_| "--proto-root is already set".to_string())
}

/// Whether `path` names a workflow's tests (`NAME.test.yaml`) rather than
/// a workflow: a folder of workflows may hold both.
pub fn is_test_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

/// Load and validate a workflow file, and the child workflows it uses;
/// `${NAME}` in endpoints and headers reads the process environment.
pub fn load_file(path: impl AsRef<Path>) -> Result<Workflow, Diagnostics> {
    let path = path.as_ref();
    let source = read(path).map_err(|message| whole_file(path, message))?;
    load_str(&source, path, &|name| std::env::var(name).ok())
}

/// Validate workflow text; `path` is where it came from (for messages and
/// relative `proto:` and `workflow:` paths) and `env` resolves `${NAME}`
/// in endpoints and headers.
pub fn load_str(
    source: &str,
    path: impl AsRef<Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Workflow, Diagnostics> {
    let root = PROTO_ROOT.get().map(PathBuf::as_path);
    load_within(source, path.as_ref(), root, env)
}

/// [`load_str`], with `proto` files allowed under `proto_root` too.
pub(crate) fn load_within(
    source: &str,
    path: &Path,
    proto_root: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Workflow, Diagnostics> {
    let mut tree = decode::Tree::new(path);
    load_in(source, path, proto_root, env, &mut tree)
        .map_err(|problems| Diagnostics::new(problems).expect("a failed load reports a problem"))
}

/// One file of a tree of workflows, the first or a child workflow of
/// another: `tree` knows the files loaded so far.
fn load_in(
    source: &str,
    path: &Path,
    proto_root: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    tree: &mut decode::Tree,
) -> Result<Workflow, Vec<Diagnostic>> {
    if source.len() as u64 > MAX_FILE_BYTES {
        return Err(whole_file(path, too_large(source.len() as u64)).into_vec());
    }
    let problems = match yaml::parse(source) {
        Ok(Some(root)) => {
            let base = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let files = decode::Files {
                file: path,
                base,
                proto_root,
            };
            match decode::decode(&root, files, env, tree) {
                Ok(mut workflow) => {
                    workflow.text = Arc::from(source);
                    return Ok(workflow);
                }
                Err(problems) => problems,
            }
        }
        Ok(None) => vec![Diagnostic {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            path: String::new(),
            message: "the file holds no workflow".into(),
            hint: Some("start with `name:`, `services:` and `steps:`".into()),
        }],
        Err(errors) => errors
            .into_iter()
            .map(|err| Diagnostic {
                file: path.to_path_buf(),
                line: err.line,
                column: err.column,
                path: String::new(),
                hint: syntax_hint(&err.message),
                message: format!("invalid YAML: {}", err.message),
            })
            .collect(),
    };
    Err(problems)
}

fn read(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the file: {e}"))
}

fn too_large(bytes: u64) -> String {
    format!("the file is {bytes} bytes; a workflow is at most {MAX_FILE_BYTES} (4 MiB)")
}

fn whole_file(path: &Path, message: String) -> Diagnostics {
    let problem = Diagnostic {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        path: String::new(),
        message,
        hint: None,
    };
    Diagnostics::new(vec![problem]).expect("one problem")
}

/// The usual causes of the parser's messages, in the user's terms.
fn syntax_hint(message: &str) -> Option<String> {
    let hint = if message.contains("unquoted") {
        "quote the template: `data: \"{{ .input.x }}\"`"
    } else if message.contains("tab") {
        "indent with spaces: YAML does not allow tabs for indentation"
    } else if message.contains("duplicate") {
        "each key may appear once in a mapping"
    } else if message.contains("block mapping")
        || message.contains("mapping values")
        || message.contains("indent")
    {
        "check the indentation: the keys of one mapping must start in the same column"
    } else if message.contains("alias") {
        "write the values out instead of repeating them through `*name` aliases"
    } else if ["budget", "limit", "more than", "exceeds", "too large"]
        .iter()
        .any(|word| message.contains(word))
    {
        "the file is too large or too deeply nested for a workflow"
    } else {
        return None;
    };
    Some(hint.to_string())
}
