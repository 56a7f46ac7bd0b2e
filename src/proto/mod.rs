//! Protobuf schemas, shared by the workflow's validation and the gRPC
//! transport: `.proto` files compiled without protoc, read only from allowed
//! folders, and a step's `method` resolved against a descriptor pool.

mod compile;

use prost_reflect::{DescriptorPool, MethodDescriptor};

pub use compile::{ProtoError, compile_files, compile_within};

/// Find the method a step names: `pkg.Service/Method` exactly, or a bare
/// `Method` offered by exactly one service in the pool.
pub fn resolve_method(pool: &DescriptorPool, spec: &str) -> Result<MethodDescriptor, String> {
    if let Some((service, method)) = spec.split_once('/') {
        let svc = pool.get_service_by_name(service).ok_or_else(|| {
            format!(
                "no service `{service}`; the server offers {}",
                offered(pool)
            )
        })?;
        return svc.methods().find(|m| m.name() == method).ok_or_else(|| {
            format!(
                "service `{service}` has no method `{method}`; it offers {}",
                offered(pool)
            )
        });
    }
    let found: Vec<MethodDescriptor> = pool
        .services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .filter(|m| m.name() == spec)
        .collect();
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one method")),
        0 => Err(format!(
            "no service offers method `{spec}`; the server offers {}",
            offered(pool)
        )),
        _ => Err(format!(
            "method `{spec}` is ambiguous: {}; write `Service/{spec}` with the full service name",
            found
                .iter()
                .map(|m| m.full_name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
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
    if all.is_empty() {
        "nothing".into()
    } else {
        all.join(", ")
    }
}
