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
