//! Message descriptors: compiling `.proto` files with protox (no protoc), and
//! resolving a step's `method` against what a server offers.

use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, MethodDescriptor};

/// Compile `.proto` files (paths as given, relative ones resolved against
/// `base`) into a descriptor pool. Each file's own folder is an import path.
pub fn compile_files(
    base: &Path,
    files: &[PathBuf],
    import_paths: &[PathBuf],
) -> Result<DescriptorPool, String> {
    let abs = |p: &PathBuf| if p.is_absolute() { p.clone() } else { base.join(p) };
    let files: Vec<PathBuf> = files.iter().map(abs).collect();
    let mut includes: Vec<PathBuf> = import_paths.iter().map(abs).collect();
    for file in &files {
        if let Some(dir) = file.parent() {
            if !includes.iter().any(|i| i == dir) {
                includes.push(dir.to_path_buf());
            }
        }
    }
    let set = protox::compile(&files, &includes).map_err(|e| e.to_string())?;
    DescriptorPool::from_file_descriptor_set(set).map_err(|e| e.to_string())
}

/// Find the method a step names: `pkg.Service/Method` exactly, or a bare
/// `Method` offered by exactly one service in the pool.
pub fn resolve_method(pool: &DescriptorPool, spec: &str) -> Result<MethodDescriptor, String> {
    if let Some((service, method)) = spec.split_once('/') {
        let svc = pool
            .get_service_by_name(service)
            .ok_or_else(|| format!("no service `{service}`; the server offers {}", offered(pool)))?;
        return svc
            .methods()
            .find(|m| m.name() == method)
            .ok_or_else(|| format!("service `{service}` has no method `{method}`; it offers {}", offered(pool)));
    }
    let found: Vec<MethodDescriptor> = pool
        .services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .filter(|m| m.name() == spec)
        .collect();
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one method")),
        0 => Err(format!("no service offers method `{spec}`; the server offers {}", offered(pool))),
        _ => Err(format!(
            "method `{spec}` is ambiguous: {}; write `Service/{spec}` with the full service name",
            found.iter().map(|m| m.full_name().to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// `pkg.Svc/A, pkg.Svc/B` for messages, without the reflection service itself.
fn offered(pool: &DescriptorPool) -> String {
    let all: Vec<String> = pool
        .services()
        .filter(|s| !s.full_name().starts_with("grpc.reflection."))
        .flat_map(|s| {
            s.methods()
                .map(|m| format!("{}/{}", s.full_name(), m.name()))
                .collect::<Vec<_>>()
        })
        .collect();
    if all.is_empty() { "nothing".into() } else { all.join(", ") }
}
