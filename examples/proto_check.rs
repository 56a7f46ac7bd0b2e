//! `make proto`: compiles .proto files with protox (no protoc) and prints each
//! service and method with its input and output types, so a broken file is
//! caught before a workflow names it in `proto:`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        eprintln!("usage: proto_check FILE.proto...");
        return ExitCode::from(2);
    }
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        eprintln!("error: {}: no such file", missing.display());
        return ExitCode::FAILURE;
    }
    // Each file's directory is an import root, as for a workflow's `proto:`.
    let includes: BTreeSet<PathBuf> = files
        .iter()
        .map(|f| f.parent().unwrap_or(Path::new(".")).to_path_buf())
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            }
        })
        .collect();
    let pool = match protox::Compiler::new(&includes).and_then(|mut compiler| {
        compiler.include_imports(true).open_files(&files)?;
        Ok(compiler.descriptor_pool())
    }) {
        Ok(pool) => pool,
        Err(e) => {
            // protox's Debug form is `file:line:column: message`.
            eprintln!("error: {e:?}");
            return ExitCode::FAILURE;
        }
    };
    for path in &files {
        let Some(file) = pool.files().find(|f| path.ends_with(f.name())) else {
            continue;
        };
        println!("{} (package {})", path.display(), file.package_name());
        let mut services = file.services().peekable();
        if services.peek().is_none() {
            println!("  no services");
        }
        for service in services {
            println!("  service {}", service.full_name());
            for method in service.methods() {
                println!(
                    "    rpc {}({}) returns ({})",
                    method.name(),
                    method.input().full_name(),
                    method.output().full_name()
                );
            }
        }
    }
    ExitCode::SUCCESS
}
