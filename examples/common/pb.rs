//! The code generated from examples/workflows/proto/ by build.rs, and the descriptor set that the
//! reflection service serves and the call log decodes requests with.

#![allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/examples_pb.rs"));

pub use self::maestro::examples::*;

/// Every file of examples/workflows/proto/ with its imports, encoded.
pub const DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/examples_descriptor.bin"));
