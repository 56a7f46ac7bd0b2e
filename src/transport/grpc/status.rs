//! What a gRPC status means for retry and compensation.
//!
//! Not applied, try again: `UNAVAILABLE` (server-sent, or raised locally
//! because the connection could not be made) and `RESOURCE_EXHAUSTED`.
//! May have been applied: `DEADLINE_EXCEEDED`, `INTERNAL`, `UNKNOWN`,
//! `DATA_LOSS`, `CANCELLED` (the server gave up on a call it had received),
//! and a local `UNAVAILABLE` that is not a connect failure (the connection
//! was lost after the request went out). Everything else is permanent,
//! `ABORTED` included: the server refused this exact request (a failed
//! test-and-set or transaction), and sending it again unchanged meets the
//! same conflict; restarting at a higher level is the workflow's business.

use std::error::Error as _;
use std::time::Duration;

use tonic::{Code, ConnectError, Status};

use crate::transport::{CallError, FailureClass};

/// The trailer a gRPC server uses to ask for a pause before the next retry.
const RETRY_PUSHBACK: &str = "grpc-retry-pushback-ms";
const RETRY_AFTER: &str = "retry-after";

/// Said of an answer that is not gRPC; [`name_endpoint`] adds where.
pub const NOT_GRPC: &str = "is this a gRPC server?";

pub fn classify(status: &Status) -> CallError {
    if not_grpc(status) {
        // Nothing on the other side read a gRPC call, so none was applied,
        // and asking again cannot change what the port speaks.
        return CallError::permanent(format!("{}: {NOT_GRPC}", message(status)));
    }
    let class = match status.code() {
        Code::Unavailable if raised_after_sending(status) => FailureClass::Unknown,
        Code::Unavailable | Code::ResourceExhausted => FailureClass::Retryable,
        Code::DeadlineExceeded
        | Code::Internal
        | Code::Unknown
        | Code::DataLoss
        | Code::Cancelled
        | Code::Ok => FailureClass::Unknown,
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::Aborted => FailureClass::Permanent,
    };
    let retry_after = (class == FailureClass::Retryable)
        .then(|| pushback(status))
        .flatten();
    CallError::new(class, message(status)).with_retry_after(retry_after)
}

/// The answer was not gRPC: HTTP/2 frames an HTTP/1 server could not
/// read, or an HTTP/2 answer without gRPC's framing or status.
pub fn not_grpc(status: &Status) -> bool {
    let text = status.message();
    // h2 names the frame it could not read among the status's causes.
    (text.starts_with("h2 protocol error") && message(status).contains("frame"))
        || text.contains("while receiving response with status")
        || text.starts_with("grpc-status header missing, mapped from HTTP status code")
}

/// An error that asks whether the port speaks gRPC, told which endpoint.
pub fn name_endpoint(mut error: CallError, endpoint: &str) -> CallError {
    if error.message.ends_with(NOT_GRPC) {
        error.message = format!("{} ({endpoint})", error.message);
    }
    error
}

/// Whether tonic refused a response message longer than the client's
/// `max_decoding_message_size` (it reads the declared length first).
pub fn is_too_large(status: &Status) -> bool {
    status.code() == Code::OutOfRange
        && status
            .message()
            .starts_with("Error, decoded message length too large")
}

/// `UNAVAILABLE: <status message>`, followed for a status raised locally by
/// its causes (tonic's own message, "transport error", names none).
pub fn message(status: &Status) -> String {
    let mut parts = vec![code_name(status.code()).to_string()];
    if !status.message().is_empty() {
        parts.push(status.message().to_string());
    }
    let mut source = status.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A status tonic made itself from a transport error carries that error as
/// its source; one sent by the server has none. A local `UNAVAILABLE` not
/// caused by a failed connect means the connection broke mid-call.
fn raised_after_sending(status: &Status) -> bool {
    let Some(mut source) = status.source() else {
        return false;
    };
    loop {
        if source.downcast_ref::<ConnectError>().is_some() {
            return false;
        }
        match source.source() {
            Some(next) => source = next,
            None => return true,
        }
    }
}

/// `grpc-retry-pushback-ms`, or else a `retry-after` in seconds, which
/// some servers send in the manner of HTTP.
fn pushback(status: &Status) -> Option<Duration> {
    let read = |name: &str| -> Option<u64> {
        let value = status.metadata().get(name)?.to_str().ok()?;
        value.trim().parse().ok()
    };
    read(RETRY_PUSHBACK)
        .map(Duration::from_millis)
        .or_else(|| read(RETRY_AFTER).map(Duration::from_secs))
}

/// The canonical upper-case name, as gRPC tools print it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;
    use crate::transport::FailureClass::{Permanent, Retryable, Unknown};

    #[test]
    fn codes_are_classified() {
        let expect = [
            (Code::Unavailable, Retryable),
            (Code::ResourceExhausted, Retryable),
            (Code::DeadlineExceeded, Unknown),
            (Code::Internal, Unknown),
            (Code::Unknown, Unknown),
            (Code::DataLoss, Unknown),
            (Code::Cancelled, Unknown),
            (Code::InvalidArgument, Permanent),
            (Code::NotFound, Permanent),
            (Code::AlreadyExists, Permanent),
            (Code::PermissionDenied, Permanent),
            (Code::Unauthenticated, Permanent),
            (Code::FailedPrecondition, Permanent),
            (Code::OutOfRange, Permanent),
            (Code::Unimplemented, Permanent),
            (Code::Aborted, Permanent),
        ];
        for (code, class) in expect {
            assert_eq!(classify(&Status::new(code, "x")).class, class, "{code:?}");
        }
    }

    #[test]
    fn message_names_the_code() {
        let e = classify(&Status::invalid_argument("amount must be positive"));
        assert_eq!(e.message, "INVALID_ARGUMENT: amount must be positive");
        assert_eq!(classify(&Status::internal("")).message, "INTERNAL");
    }

    #[test]
    fn a_failed_connect_is_retryable_a_broken_call_is_not() {
        let refused = ConnectError(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let status = Status::from_error(Box::new(refused));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(classify(&status).class, Retryable);

        let mut lost = Status::unavailable("connection closed");
        lost.set_source(std::sync::Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(classify(&lost).class, Unknown);
    }

    #[test]
    fn pushback_trailer_becomes_retry_after() {
        let mut status = Status::unavailable("busy");
        status
            .metadata_mut()
            .insert(RETRY_PUSHBACK, MetadataValue::from_static("1500"));
        assert_eq!(
            classify(&status).retry_after,
            Some(Duration::from_millis(1500))
        );
        let mut seconds = Status::resource_exhausted("slow down");
        seconds
            .metadata_mut()
            .insert(RETRY_AFTER, MetadataValue::from_static("2"));
        assert_eq!(classify(&seconds).retry_after, Some(Duration::from_secs(2)));
        let mut permanent = Status::invalid_argument("bad");
        permanent
            .metadata_mut()
            .insert(RETRY_PUSHBACK, MetadataValue::from_static("1500"));
        assert_eq!(classify(&permanent).retry_after, None);
    }
}
