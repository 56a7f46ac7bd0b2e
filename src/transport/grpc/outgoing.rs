//! What a gRPC call sends: the request's message from its JSON body, and
//! its metadata (Maestro's own, then the step's headers), each checked to
//! be sendable as text.

use std::collections::HashSet;

use prost_reflect::MethodDescriptor;
use tokio::time::Instant;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};

use super::{IDEMPOTENCY_KEY, RUN_ID, STEP_ID, TRACEPARENT, json};
use crate::transport::{CallError, CallRequest};

pub(super) fn request(
    method: &MethodDescriptor,
    req: &CallRequest,
    deadline: Instant,
) -> Result<tonic::Request<prost_reflect::DynamicMessage>, CallError> {
    let message = json::to_message(method.input(), &req.body).map_err(CallError::permanent)?;
    let mut request = tonic::Request::new(message);
    *request.metadata_mut() = metadata(req).map_err(CallError::permanent)?;
    // Sent as `grpc-timeout`, so the server can give up when we do.
    request.set_timeout(deadline.saturating_duration_since(Instant::now()));
    Ok(request)
}

/// Maestro's metadata, then the request's own headers; one with the same
/// name wins.
pub(super) fn metadata(req: &CallRequest) -> Result<MetadataMap, String> {
    let mut map = MetadataMap::new();
    for (name, value) in [
        (IDEMPOTENCY_KEY, &req.idempotency_key),
        (RUN_ID, &req.run_id),
        (STEP_ID, &req.step_id),
    ] {
        map.insert(
            AsciiMetadataKey::from_static(name),
            ascii_value(name, value)?,
        );
    }
    if let Some(trace) = &req.trace {
        let value = trace.traceparent();
        map.insert(
            AsciiMetadataKey::from_static(TRACEPARENT),
            ascii_value(TRACEPARENT, &value)?,
        );
    }
    let mut seen = HashSet::new();
    for (name, value) in &req.headers {
        let key = AsciiMetadataKey::from_bytes(name.as_str().as_bytes())
            .map_err(|_| format!("`{name}` cannot be sent as text gRPC metadata"))?;
        let value = ascii_value(name.as_str(), value)?;
        if seen.insert(name) {
            map.insert(key, value);
        } else {
            map.append(key, value);
        }
    }
    Ok(map)
}

/// The value is not echoed in the error: metadata carries credentials.
fn ascii_value(name: &str, value: &str) -> Result<AsciiMetadataValue, String> {
    AsciiMetadataValue::try_from(value).map_err(|_| {
        format!("metadata `{name}` has a value that is not visible ASCII, which cannot be sent")
    })
}
