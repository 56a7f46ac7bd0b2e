//! A gRPC service's `proto` and `import_paths`: read only from the workflow
//! file's folder (or the `--proto-root` folder), checked entry by entry,
//! then compiled so that a typo in a method is found before a run.

use std::path::{Component, Path, PathBuf};

use super::{Cx, Fields, Pos, index, scalar};
use crate::proto;
use crate::workflow::model::DescriptorSource;
use crate::workflow::yaml::{Kind, Node};

/// The service's descriptors: from `proto` files, else by reflection.
pub fn descriptors(cx: &mut Cx<'_>, f: &Fields<'_>) -> Option<DescriptorSource> {
    let imports = match f.get("import_paths") {
        Some(n) => Some((n, scalar::string_list(cx, n, &f.path("import_paths"))?)),
        None => None,
    };
    let Some(node) = f.get("proto") else {
        if let Some((key, _)) = f.entry("import_paths") {
            cx.error(
                key.pos(),
                &f.path("import_paths"),
                "`import_paths` without `proto` has no effect",
            );
            return None;
        }
        return Some(DescriptorSource::Reflection);
    };
    let listed = scalar::string_list(cx, node, &f.path("proto"))?;
    if listed.is_empty() {
        cx.report(
            node.pos(),
            &f.path("proto"),
            "`proto` lists no files",
            Some("leave `proto` out to ask the server by reflection".into()),
        );
        return None;
    }
    let roots = roots(cx);
    let before = cx.count();
    for (i, (file, at)) in listed.iter().enumerate() {
        let path = entry_path(node, &f.path("proto"), i);
        check(cx, &roots, file, *at, &path, Want::File);
    }
    if let Some((n, dirs)) = &imports {
        for (i, (dir, at)) in dirs.iter().enumerate() {
            let path = entry_path(n, &f.path("import_paths"), i);
            check(cx, &roots, dir, *at, &path, Want::Folder);
        }
    }
    if cx.count() != before {
        return None;
    }
    let files: Vec<PathBuf> = listed.into_iter().map(|(s, _)| PathBuf::from(s)).collect();
    let imports: Vec<PathBuf> = imports
        .map(|(_, dirs)| dirs.into_iter().map(|(s, _)| PathBuf::from(s)).collect())
        .unwrap_or_default();
    let allowed: Vec<PathBuf> = roots.iter().map(|r| r.real.clone()).collect();
    match proto::compile_within(&allowed, cx.base, &files, &imports) {
        Ok(pool) => Some(DescriptorSource::Files { files, pool }),
        Err(err) => {
            cx.report(
                node.pos(),
                &f.path("proto"),
                format!("the .proto files do not compile: {err}"),
                None,
            );
            None
        }
    }
}

fn entry_path(node: &Node, path: &str, i: usize) -> String {
    match &node.kind {
        Kind::Seq(_) => index(path, i),
        _ => path.to_string(),
    }
}

/// A folder files may be read from, as written and as the file system
/// resolves it.
struct Root {
    lexical: PathBuf,
    real: PathBuf,
}

fn roots(cx: &Cx<'_>) -> Vec<Root> {
    let mut roots = Vec::new();
    for dir in std::iter::once(cx.base).chain(cx.proto_root) {
        let lexical = normalize(&absolute(dir));
        let real = dir.canonicalize().unwrap_or_else(|_| lexical.clone());
        roots.push(Root { lexical, real });
    }
    roots
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    File,
    Folder,
}

/// Report `given` unless it names an existing file (or folder) inside a
/// root, both as written and once links are followed. A path outside is
/// reported as such whether or not it exists, so that the message tells
/// nothing of what lies outside.
fn check(cx: &mut Cx<'_>, roots: &[Root], given: &str, at: Pos, path: &str, want: Want) {
    let field = match want {
        Want::File => "proto",
        Want::Folder => "import_paths",
    };
    let hint = || {
        Some(format!(
            "`{field}` paths are relative to the workflow file's folder and stay inside it; \
             `--proto-root DIR` allows another folder"
        ))
    };
    let full = cx.base.join(given);
    let lexical = normalize(&absolute(&full));
    if !roots.iter().any(|r| lexical.starts_with(&r.lexical)) {
        let message = format!("`{given}` is outside the workflow's folder");
        return cx.report(at, path, message, hint());
    }
    let Ok(real) = full.canonicalize() else {
        let message = format!("`{given}` does not exist (looked for `{}`)", full.display());
        return cx.report(at, path, message, hint());
    };
    if !roots.iter().any(|r| real.starts_with(&r.real)) {
        let message =
            format!("`{given}` leads, through a symbolic link, outside the workflow's folder");
        return cx.report(at, path, message, hint());
    }
    let (ok, what) = match want {
        Want::File => (real.is_file(), "a file"),
        Want::Folder => (real.is_dir(), "a folder"),
    };
    if !ok {
        cx.error(at, path, format!("`{given}` is not {what}"));
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `a/./b/../c` as `a/c`, without asking the file system.
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
