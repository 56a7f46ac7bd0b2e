//! Compiles examples/workflows/proto/ for the example services: protox parses the files (no
//! protoc), tonic-prost-build writes the server stubs, and the encoded
//! descriptor set is saved for their reflection service and call log.

use std::error::Error;
use std::path::{Path, PathBuf};

/// Beside the example workflows that name these files in `proto:`, since a
/// workflow reads `.proto` files from its own folder only.
const PROTO_DIR: &str = "examples/workflows/proto";

fn main() -> Result<(), Box<dyn Error>> {
    // The directory, not each file: a new .proto must trigger a rebuild too.
    println!("cargo::rerun-if-changed={PROTO_DIR}");
    println!("cargo::rerun-if-changed=build.rs");

    let mut files: Vec<PathBuf> = std::fs::read_dir(PROTO_DIR)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    // Sorted so the generated code and descriptor set do not depend on the
    // directory's order.
    files.sort();

    let mut compiler = protox::Compiler::new([PROTO_DIR])?;
    compiler.include_imports(true).include_source_info(false);
    compiler.open_files(&files)?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("examples_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // Servers only: the examples are servers, and Maestro itself calls them
    // without generated code.
    tonic_prost_build::configure()
        .build_client(false)
        .emit_rerun_if_changed(false)
        .include_file("examples_pb.rs")
        .out_dir(Path::new(&out_dir))
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
