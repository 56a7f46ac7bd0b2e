//! What a gRPC call sends: the request's message from its JSON body, and
//! its metadata (Maestro's own, then the step's headers), each checked to
//! be sendable as text.

use std::collections::HashSet;
use std::time::Duration;

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
    let mut metadata = metadata(req).map_err(CallError::permanent)?;
    // So that the server can give up when we do.
    let timeout = grpc_timeout(deadline.saturating_duration_since(Instant::now()));
    metadata.insert(
        AsciiMetadataKey::from_static(GRPC_TIMEOUT),
        never_indexed(timeout, true),
    );
    *request.metadata_mut() = metadata;
    Ok(request)
}

/// The time left as `grpc-timeout` says it: in the most precise unit whose
/// count fits the protocol's eight digits (what tonic's `set_timeout`
/// sends, written without the formatting machinery).
pub(super) fn grpc_timeout(left: Duration) -> AsciiMetadataValue {
    const UNITS: [(u8, u128); 6] = [
        (b'n', 1),
        (b'u', 1_000),
        (b'm', 1_000_000),
        (b'S', 1_000_000_000),
        (b'M', 60_000_000_000),
        (b'H', 3_600_000_000_000),
    ];
    let nanos = left.as_nanos();
    let (unit, mut count) = (UNITS.iter())
        .map(|&(unit, per)| (unit, nanos / per))
        .find(|&(_, count)| count <= 99_999_999)
        .unwrap_or((b'H', 99_999_999));
    let mut text = [0u8; 9];
    let mut at = text.len() - 1;
    text[at] = unit;
    loop {
        at -= 1;
        text[at] = b'0' + (count % 10) as u8;
        count /= 10;
        if count == 0 {
            break;
        }
    }
    AsciiMetadataValue::try_from(&text[at..]).expect("digits and a letter are visible ASCII")
}

/// Maestro's metadata, then the request's own headers; one with the same
/// name wins.
pub(super) fn metadata(req: &CallRequest) -> Result<MetadataMap, String> {
    let mut map = MetadataMap::new();
    // A step's id comes again in every run: worth indexing. A run's id
    // seldom comes again on the same connection (its calls are spread over
    // the pool, between other runs' calls) before other entries push it out.
    for (name, value, never) in [
        (IDEMPOTENCY_KEY, &req.idempotency_key, true),
        (RUN_ID, &req.run_id, true),
        (STEP_ID, &req.step_id, false),
    ] {
        map.insert(
            AsciiMetadataKey::from_static(name),
            never_indexed(ascii_value(name, value)?, never),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_is_written_as_tonic_writes_it() {
        let secs = Duration::from_secs;
        for left in [
            Duration::ZERO,
            Duration::from_nanos(7),
            Duration::from_millis(99),
            Duration::from_millis(100),
            Duration::from_millis(1500),
            secs(30),
            secs(100),
            secs(99_999),
            secs(100_000),
            secs(60 * 99_999_999),
            secs(3600 * 99_999_999),
        ] {
            let mut theirs = tonic::Request::new(());
            theirs.set_timeout(left);
            let ours = grpc_timeout(left);
            assert_eq!(
                Some(&ours),
                theirs.metadata().get("grpc-timeout"),
                "{left:?}"
            );
        }
    }
}
