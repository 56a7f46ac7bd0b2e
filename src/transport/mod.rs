//! The wire: one call to a service over HTTP or gRPC, JSON in and JSON out,
//! and the classification of every failure so that retry, breaker and saga
//! can decide what to do without knowing the protocol.

pub mod grpc;
pub mod http;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::telemetry::{CallTrace, ClientSpan, KeyValue};
use crate::workflow::{ByteSize, Service, ServiceKind};

/// The class every failed call is given, defined with the policy that acts
/// on it.
pub use crate::resilience::FailureClass;

pub use grpc::GrpcTransport;
pub use http::HttpTransport;

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

    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(FailureClass::Retryable, message)
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(FailureClass::Permanent, message)
    }

    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(FailureClass::Unknown, message)
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

/// One rendered call, ready to send. Its `Debug` form hides header values,
/// which often carry credentials, so a request can be logged safely. What
/// every attempt sends alike is shared: an attempt's copy costs no copy of
/// the body or the headers.
#[derive(Clone)]
pub struct CallRequest {
    pub target: CallTarget,
    /// The rendered `input`.
    pub body: Arc<Value>,
    /// Rendered headers (HTTP) or metadata (gRPC), names lower-case.
    pub headers: Arc<[(::http::HeaderName, String)]>,
    /// The same for every attempt and compensation of one (run, step).
    pub idempotency_key: Arc<str>,
    pub run_id: Arc<str>,
    pub step_id: Arc<str>,
    /// This attempt's budget; the call is cancelled when it runs out.
    pub timeout: Duration,
    /// The attempt's place in its run's trace, while traces are exported:
    /// sent as `traceparent`, and recorded as a client span.
    pub trace: Option<CallTrace>,
}

impl std::fmt::Debug for CallRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("CallRequest")
            .field("target", &self.target)
            .field("body", &self.body)
            .field("headers", &headers)
            .field("idempotency_key", &self.idempotency_key)
            .field("run_id", &self.run_id)
            .field("step_id", &self.step_id)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub enum CallTarget {
    /// A method name as written: `Process` or `pkg.Service/Method`.
    Grpc { method: String },
    /// Verb and rendered path (appended to the service's endpoint).
    Http { verb: ::http::Method, path: String },
}

impl std::fmt::Display for CallTarget {
    /// As sent: `POST /orders/A%2F1`, or the gRPC method as written.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallTarget::Grpc { method } => f.write_str(method),
            CallTarget::Http { verb, path } => write!(f, "{verb} {path}"),
        }
    }
}

/// The result of one attempt.
pub type CallResult = Result<Value, CallError>;

/// One attempt in flight: owns everything it needs, so the caller can spawn
/// it and drop it to cancel the call.
pub type CallFuture = Pin<Box<dyn Future<Output = CallResult> + Send + 'static>>;

impl TransportError {
    /// A transport that cannot be built is a configuration to fix.
    pub fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Invalid
    }
}

/// A service's transport could not be set up from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("service `{service}`: cannot build the HTTP client: {source}")]
    HttpClient {
        service: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("service `{service}`: endpoint `{endpoint}` cannot be used for gRPC: {reason}")]
    GrpcEndpoint {
        service: String,
        endpoint: String,
        reason: String,
    },
}

/// The wire to one service. Owned by that service's actor: `call` takes
/// `&mut self` so the pool's round-robin cursor is plain state.
#[derive(Debug)]
pub enum Transport {
    Http(HttpTransport),
    Grpc(GrpcTransport),
    /// Answers made in process, without a network: `maestro test`.
    Scripted(Scripted),
}

/// How a service actor gets its transport: over the network, or scripted.
pub type Dial = Arc<dyn Fn(&Service) -> Result<Transport, TransportError> + Send + Sync>;

/// The transport every service gets in production: HTTP or gRPC.
pub fn network() -> Dial {
    Arc::new(Transport::new)
}

/// What a scripted service answers to each request.
pub type Answer = Arc<dyn Fn(&CallRequest) -> CallResult + Send + Sync>;

/// A service whose answers come from a script, at once.
pub struct Scripted {
    pub service: String,
    pub answer: Answer,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scripted({})", self.service)
    }
}

impl Transport {
    /// Set up the transport for `service`. Nothing is contacted here:
    /// connections are made on first use.
    pub fn new(service: &Service) -> Result<Transport, TransportError> {
        let limit = service.max_response_bytes;
        Ok(match &service.kind {
            ServiceKind::Http(http) => Transport::Http(HttpTransport::new(
                &service.name,
                http,
                limit,
                service.concurrency,
            )?),
            ServiceKind::Grpc(grpc) => {
                Transport::Grpc(GrpcTransport::new(&service.name, grpc, limit)?)
            }
        })
    }

    /// Start one attempt. The future enforces `req.timeout` and is cancelled
    /// by dropping it.
    pub fn call(&mut self, req: CallRequest) -> CallFuture {
        match self {
            Transport::Http(http) => http.call(req),
            Transport::Grpc(grpc) => grpc.call(req),
            Transport::Scripted(scripted) => {
                let answer = (scripted.answer)(&req);
                Box::pin(std::future::ready(answer))
            }
        }
    }

    /// Protocol, endpoint (user name and password hidden) and pool, for
    /// logs and status.
    pub fn describe(&self) -> String {
        match self {
            Transport::Http(http) => http.describe(),
            Transport::Grpc(grpc) => grpc.describe(),
            Transport::Scripted(s) => format!("scripted answers for {}", s.service),
        }
    }

    /// Connections the pool keeps: distinct HTTP/2 connections for gRPC,
    /// the cap on idle connections for HTTP.
    pub fn pool_size(&self) -> usize {
        match self {
            Transport::Http(http) => http.pool_size(),
            Transport::Grpc(grpc) => grpc.pool_size(),
            Transport::Scripted(_) => 0,
        }
    }
}

/// The client span of an attempt that carries a trace (and is sampled),
/// named for the step and the operation.
///
/// The attributes are asked for only when the call is traced: most are not,
/// and they cost allocations per call.
pub(crate) fn client_span(
    req: &CallRequest,
    service: &str,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> Option<ClientSpan> {
    let trace = req.trace.as_ref().filter(|t| t.sampled)?;
    let mut attributes = attributes();
    let name = match trace.compensation {
        false => format!("attempt {}", req.step_id),
        true => format!("compensation attempt {}", req.step_id),
    };
    attributes.push(KeyValue::new("maestro.step", req.step_id.clone()));
    attributes.push(KeyValue::new("maestro.service", service.to_owned()));
    Some(ClientSpan::start(trace, name, attributes))
}

/// How a failed attempt reads in its span: its class and message.
pub(crate) fn span_error(result: &CallResult) -> Option<(&'static str, &str)> {
    let e = result.as_ref().err()?;
    let class = match e.class {
        FailureClass::Retryable => "retryable",
        FailureClass::Permanent => "permanent",
        FailureClass::Unknown => "unknown",
    };
    Some((class, e.message.as_str()))
}

/// The error of a response over the service's `max_response_bytes`:
/// permanent, since the service answers the same request the same way, and
/// nothing of it is kept.
pub(crate) fn too_large(limit: ByteSize, service: &str) -> CallError {
    CallError::permanent(format!(
        "response larger than max_response_bytes ({limit}) of service `{service}`"
    ))
}

/// The error of an attempt that ran out of time after it may have reached
/// the server.
pub(crate) fn timed_out(timeout: Duration) -> CallError {
    CallError::new(
        FailureClass::Unknown,
        format!("no answer within {}", display_duration(timeout)),
    )
}

/// A timeout for a message, to the millisecond: `1s 500ms`, not
/// `1s 500ms 12us 7ns`.
pub(crate) fn display_duration(d: Duration) -> humantime::FormattedDuration {
    let millis = Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    humantime::format_duration(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_to_the_millisecond() {
        let e = timed_out(Duration::new(1, 500_012_007));
        assert_eq!(e.class, FailureClass::Unknown);
        assert_eq!(e.message, "no answer within 1s 500ms");
    }

    #[test]
    fn only_permanent_failures_stop_retries_and_spare_the_breaker() {
        assert!(FailureClass::Retryable.is_retryable() && FailureClass::Unknown.is_retryable());
        assert!(!FailureClass::Permanent.is_retryable());
        assert!(FailureClass::Unknown.is_transient() && !FailureClass::Permanent.is_transient());
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn debug_output_hides_header_values() {
        let request = CallRequest {
            target: CallTarget::Grpc {
                method: "Charge".into(),
            },
            body: Value::Null.into(),
            headers: vec![(
                ::http::header::AUTHORIZATION,
                "Bearer sk_live_secret".into(),
            )]
            .into(),
            idempotency_key: "run:step".into(),
            run_id: "run".into(),
            step_id: "step".into(),
            timeout: Duration::from_secs(1),
            trace: None,
        };
        let shown = format!("{request:?}");
        assert!(shown.contains("authorization"), "{shown}");
        assert!(!shown.contains("sk_live_secret"), "{shown}");
    }
}
