//! The wire: one call to a service over HTTP or gRPC, JSON in and JSON out,
//! and the classification of every failure so that retry, breaker and saga
//! can decide what to do without knowing the protocol.

pub mod grpc;
pub mod http;

use std::time::Duration;

use serde_json::Value;

/// What a failed call tells the caller about the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Not applied, and worth trying again (connection refused, 503, UNAVAILABLE).
    Retryable,
    /// Not applied, and trying again will not help (400, INVALID_ARGUMENT).
    Permanent,
    /// May have been applied (timed out after sending, connection lost
    /// mid-call, INTERNAL). Retried with the same idempotency key; a step
    /// that ends failed after such an attempt is compensated.
    Unknown,
}

impl FailureClass {
    /// Whether another attempt may be made.
    pub fn is_retryable(self) -> bool {
        !matches!(self, FailureClass::Permanent)
    }
    /// Whether the failure counts against the service's circuit breaker.
    pub fn is_transient(self) -> bool {
        !matches!(self, FailureClass::Permanent)
    }
}

/// A failed call attempt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub class: FailureClass,
    /// What went wrong, for a person: status, code, body excerpt.
    pub message: String,
    /// The server's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
}

impl CallError {
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// One rendered call, ready to send.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub target: CallTarget,
    /// The rendered `input`.
    pub body: Value,
    /// Rendered headers (HTTP) or metadata (gRPC), names lower-case.
    pub headers: Vec<(::http::HeaderName, String)>,
    /// The same for every attempt and compensation of one (run, step).
    pub idempotency_key: String,
    pub run_id: String,
    pub step_id: String,
    /// This attempt's budget; the call is cancelled when it runs out.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum CallTarget {
    /// A method name as written: `Process` or `pkg.Service/Method`.
    Grpc { method: String },
    /// Verb and rendered path (appended to the service's endpoint).
    Http { verb: ::http::Method, path: String },
}

/// The result of one attempt.
pub type CallResult = Result<Value, CallError>;
