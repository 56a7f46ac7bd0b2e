//! Shared by the benches: loopback services in the bench process, the
//! hand-written glue that is every figure's baseline, and the interleaved
//! glue-versus-Maestro measurement that prints their ratio.

// Each bench uses a different part of this module.
#![allow(dead_code)]

pub mod glue;
pub mod loopback;
pub mod paired;
#[path = "../../examples/common/pb.rs"]
pub mod pb;

/// A workflow of one gRPC step, `Process` on `${MAESTRO_CORE_GRPC}` with
/// the input's `payload`.
pub const ONE_GRPC_STEP: &str = r#"
name: one_grpc_step
services:
  fast_service:
    type: grpc
    endpoint: "${MAESTRO_CORE_GRPC}"
steps:
  - id: normalise
    service: fast_service
    method: Process
    input:
      data: "{{ .input.payload }}"
    output: processed
"#;

/// The runtime the benches call from: two workers, as `maestro execute`
/// has on a two-core machine.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime")
}
