//! `.proto` files compiled with protox (no protoc), read only from allowed
//! folders, their imports included, and with errors that name a file, line
//! and column but never quote the file's text: a file that is not protobuf
//! at all must not leak its first word through a parse error.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use miette::Diagnostic;
use prost_reflect::DescriptorPool;
use protox::file::{File, FileResolver, GoogleFileResolver};

/// Why `.proto` files did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", located(file, *line, *column), message)]
pub struct ProtoError {
    /// The file at fault, as protox names it (relative to its import path).
    pub file: Option<String>,
    /// 1-based, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

fn located(file: &Option<String>, line: Option<usize>, column: Option<usize>) -> String {
    match (file, line, column) {
        (Some(file), Some(line), Some(column)) => format!("{file}:{line}:{column}: "),
        (Some(file), _, _) => format!("{file}: "),
        _ => String::new(),
    }
}

impl ProtoError {
    fn plain(message: String) -> Self {
        Self {
            file: None,
            line: None,
            column: None,
            message,
        }
    }
}

/// Compile `files` (relative ones resolved against `base`), reading nothing
/// outside `base`. Each file's own folder is an import path.
pub fn compile_files(
    base: &Path,
    files: &[PathBuf],
    import_paths: &[PathBuf],
) -> Result<DescriptorPool, ProtoError> {
    compile_within(&[base.to_path_buf()], base, files, import_paths)
}

/// Compile `files` with `import_paths` (relative ones resolved against
/// `base`); every file read, imports included, must lie under one of
/// `roots` once symbolic links and `..` are resolved.
pub fn compile_within(
    roots: &[PathBuf],
    base: &Path,
    files: &[PathBuf],
    import_paths: &[PathBuf],
) -> Result<DescriptorPool, ProtoError> {
    let roots: Vec<PathBuf> = roots.iter().filter_map(|r| r.canonicalize().ok()).collect();
    let allowed = |given: &Path| -> Result<PathBuf, ProtoError> {
        let full = base.join(given);
        let real = full
            .canonicalize()
            .map_err(|e| ProtoError::plain(format!("cannot read `{}`: {e}", given.display())))?;
        if roots.iter().any(|r| real.starts_with(r)) {
            Ok(real)
        } else {
            Err(ProtoError::plain(format!(
                "`{}` is outside the folders `.proto` files are read from",
                given.display()
            )))
        }
    };
    let files: Vec<PathBuf> = files.iter().map(|f| allowed(f)).collect::<Result<_, _>>()?;
    let mut includes: Vec<PathBuf> = import_paths
        .iter()
        .map(|p| allowed(p))
        .collect::<Result<_, _>>()?;
    for file in &files {
        if let Some(dir) = file.parent()
            && !includes.iter().any(|i| i == dir)
        {
            includes.push(dir.to_path_buf());
        }
    }
    let resolver = Confined { roots, includes };
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(&files).map_err(|e| describe(&e))?;
    DescriptorPool::from_file_descriptor_set(compiler.file_descriptor_set())
        .map_err(|e| ProtoError::plain(format!("the descriptors do not load: {e}")))
}

/// protox's error without the file's text: its position, and what kind of
/// problem is there. Errors that quote nothing of the file pass as they are.
fn describe(err: &protox::Error) -> ProtoError {
    let position = position(err);
    let message = if err.is_file_not_found() || err.is_io() {
        err.to_string()
    } else if err.is_parse() && position.is_some() {
        "not valid protobuf syntax".to_string()
    } else if position.is_some() {
        // The file parsed; the checker's messages quote names and numbers
        // from it, always between single quotes.
        without_quotes(&err.to_string())
    } else {
        err.to_string()
    };
    let (line, column) = position.unzip();
    ProtoError {
        file: err.file().map(str::to_string),
        line,
        column,
        message,
    }
}

/// `name 'Missing' is not defined` as `name '…' is not defined`.
fn without_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for (i, part) in message.split('\'').enumerate() {
        out.push_str(if i % 2 == 1 { "…" } else { part });
        out.push('\'');
    }
    out.pop();
    out
}

/// 1-based line and column of the error's first label.
fn position(err: &protox::Error) -> Option<(usize, usize)> {
    let span = err.labels()?.next()?;
    let source = err.source_code()?;
    let contents = source.read_span(span.inner(), 0, 0).ok()?;
    Some((contents.line() + 1, contents.column() + 1))
}

/// protox's include-path lookup, refusing any file whose real path is not
/// under a root, and import names that climb out with `..`.
struct Confined {
    roots: Vec<PathBuf>,
    /// Canonical import paths, searched in order.
    includes: Vec<PathBuf>,
}

/// A file that an `import` would read outside the allowed folders.
#[derive(Debug)]
struct Outside(String);

impl fmt::Display for Outside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "import `{}` is outside the folders `.proto` files are read from",
            self.0
        )
    }
}

impl std::error::Error for Outside {}

impl FileResolver for Confined {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.includes.iter().find_map(|include| {
            let relative = path.strip_prefix(include).ok()?;
            let parts: Option<Vec<&str>> = relative
                .components()
                .map(|c| match c {
                    Component::Normal(part) => part.to_str(),
                    _ => None,
                })
                .collect();
            parts.filter(|p| !p.is_empty()).map(|p| p.join("/"))
        })
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let plain = Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(protox::Error::new(Outside(name.to_string())));
        }
        for include in &self.includes {
            let candidate = include.join(name);
            let Ok(real) = candidate.canonicalize() else {
                continue;
            };
            if !self.roots.iter().any(|r| real.starts_with(r)) {
                return Err(protox::Error::new(Outside(name.to_string())));
            }
            return File::open(name, &real);
        }
        GoogleFileResolver::new().open_file(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch folder, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("maestro-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("inside")).unwrap();
            std::fs::create_dir_all(dir.join("outside")).unwrap();
            Self(dir)
        }

        fn write(&self, path: &str, text: &str) {
            std::fs::write(self.0.join(path), text).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_file_that_is_not_protobuf_is_located_not_quoted() {
        let scratch = Scratch::new("compile-quote");
        scratch.write(
            "inside/a.proto",
            "syntax = \"proto3\";\nroot:$6$hash:19000::\n",
        );
        let base = scratch.0.join("inside");
        let err = compile_files(&base, &[PathBuf::from("a.proto")], &[]).unwrap_err();
        assert_eq!(err.to_string(), "a.proto:2:1: not valid protobuf syntax");
        scratch.write(
            "inside/b.proto",
            "syntax = \"proto3\";\nmessage B { Secret s = 1; }\n",
        );
        let err = compile_files(&base, &[PathBuf::from("b.proto")], &[]).unwrap_err();
        assert_eq!(err.to_string(), "b.proto:2:13: name '…' is not defined");
    }

    #[test]
    fn imports_are_read_from_the_allowed_folders_only() {
        let scratch = Scratch::new("compile-import");
        let message = "syntax = \"proto3\";\npackage o;\nmessage M {}\n";
        scratch.write("outside/o.proto", message);
        std::os::unix::fs::symlink(
            scratch.0.join("outside/o.proto"),
            scratch.0.join("inside/o.proto"),
        )
        .unwrap();
        scratch.write(
            "inside/a.proto",
            "syntax = \"proto3\";\nimport \"o.proto\";\npackage a;\nmessage A { o.M m = 1; }\n",
        );
        let base = scratch.0.join("inside");
        let file = [PathBuf::from("a.proto")];
        let err = compile_files(&base, &file, &[]).unwrap_err();
        assert!(err.message.contains("import `o.proto` is outside"), "{err}");
        let roots = [base.clone(), scratch.0.join("outside")];
        assert!(compile_within(&roots, &base, &file, &[]).is_ok());
    }
}
