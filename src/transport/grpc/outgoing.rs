//! What a gRPC call sends: the request's message from its JSON body, and
//! its metadata (Maestro's own, then the step's headers), each checked to
//! be sendable as text.

use std::collections::HashSet;

use prost_reflect::MethodDescriptor;
use tokio::time::Instant;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};

use super::codec::Outgoing;
use super::plan::Plan;
use super::{IDEMPOTENCY_KEY, RUN_ID, STEP_ID, TRACEPARENT, encode, json};
use crate::transport::{CallError, CallRequest};

/// Set by tonic from the request's timeout; its value differs per call.
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The request, written straight from its JSON by `plan` where it can be,
/// through a `DynamicMessage` (which words what it refuses) where not.
pub(super) fn request(
    method: &MethodDescriptor,
    plan: Option<&Plan>,
    req: &CallRequest,
    deadline: Instant,
) -> Result<tonic::Request<Outgoing>, CallError> {
    let message = match plan.and_then(|plan| encode::encode(plan, &req.body)) {
        Some(bytes) => Outgoing::Encoded(bytes),
        None => Outgoing::Message(
            json::to_message(method.input(), &req.body).map_err(CallError::permanent)?,
        ),
    };
    let mut request = tonic::Request::new(message);
    *request.metadata_mut() = metadata(req).map_err(CallError::permanent)?;
    // Sent as `grpc-timeout`, so the server can give up when we do.
    request.set_timeout(deadline.saturating_duration_since(Instant::now()));
    if let Some(timeout) = request.metadata_mut().get_mut(GRPC_TIMEOUT) {
        timeout.set_sensitive(true);
    }
    Ok(request)
}

/// Maestro's metadata, then the request's own headers; one with the same
/// name wins.
pub(super) fn metadata(req: &CallRequest) -> Result<MetadataMap, String> {
    let mut map = MetadataMap::new();
    // The run's id comes again in its other calls: worth indexing.
    for (name, value, once) in [
        (IDEMPOTENCY_KEY, &req.idempotency_key, true),
        (RUN_ID, &req.run_id, false),
        (STEP_ID, &req.step_id, false),
    ] {
        map.insert(
            AsciiMetadataKey::from_static(name),
            never_indexed(ascii_value(name, value)?, once),
        );
    }
    if let Some(trace) = &req.trace {
        let value = trace.traceparent();
        map.insert(
            AsciiMetadataKey::from_static(TRACEPARENT),
            never_indexed(ascii_value(TRACEPARENT, &value)?, true),
        );
    }
    let mut seen = HashSet::new();
    for (name, value) in req.headers.iter() {
        let key = AsciiMetadataKey::from_bytes(name.as_str().as_bytes())
            .map_err(|_| format!("`{name}` cannot be sent as text gRPC metadata"))?;
        // Kept out of the HTTP/2 stack's debug output and its header table,
        // as the HTTP transport does: headers often carry credentials.
        let value = never_indexed(ascii_value(name.as_str(), value)?, true);
        if seen.insert(name) {
            map.insert(key, value);
        } else {
            map.append(key, value);
        }
    }
    Ok(map)
}

/// Marked (`never`) not to be indexed by HPACK nor shown in debug output:
/// a credential, or a value no other call sends, which kept in the
/// connection's header table would only push out the headers every call
/// repeats, to be sent in full again.
fn never_indexed(mut value: AsciiMetadataValue, never: bool) -> AsciiMetadataValue {
    value.set_sensitive(never);
    value
}

/// The value is not echoed in the error: metadata carries credentials.
fn ascii_value(name: &str, value: &str) -> Result<AsciiMetadataValue, String> {
    AsciiMetadataValue::try_from(value).map_err(|_| {
        format!("metadata `{name}` has a value that is not visible ASCII, which cannot be sent")
    })
}
