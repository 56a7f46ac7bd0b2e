//! gRPC without generated code: descriptors from server reflection or
//! `.proto` files, requests and answers written and read between JSON and
//! the wire directly where their types allow (`plan.rs`, `encode.rs`,
//! `wire.rs`) and through `DynamicMessage`s otherwise, and a pool of
//! channels.

pub mod codec;
pub mod descriptors;
mod encode;
pub mod json;
mod outgoing;
mod plan;
pub mod reflection;
pub mod status;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use self::codec::{Answer, DynamicCodec, Outgoing};
use self::descriptors::{Descriptors, Resolved};
use super::{
    CallError, CallFuture, CallRequest, CallResult, CallTarget, TransportError, display_duration,
    timed_out,
};
use crate::telemetry::KeyValue;
use crate::workflow::{ByteSize, DescriptorSource, GrpcService, redact_userinfo};

/// Time to establish one connection: a refused or unreachable server fails
/// fast and retryably, long before a typical call timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 ping interval on a connection with calls in flight, so a peer
/// that vanished without closing is noticed before the call's timeout.
pub const DEFAULT_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the connection is dropped.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Metadata every call carries, so a server can deduplicate retries and
/// trace a call to its run and step.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const RUN_ID: &str = "x-maestro-run-id";
pub const STEP_ID: &str = "x-maestro-step-id";
/// The W3C trace context of the attempt, when traces are exported.
pub const TRACEPARENT: &str = "traceparent";

/// Calls to one gRPC service over `pool_size` distinct HTTP/2 connections.
#[derive(Debug)]
pub struct GrpcTransport {
    /// Shared with each call's future, like `label`: no copy per call.
    service: Arc<str>,
    /// The endpoint as errors name it, without credentials.
    label: Arc<str>,
    /// Boxed: a large configuration read only when a slot first connects.
    endpoint: Box<Endpoint>,
    /// One slot per connection, opened on first use: a `Channel` needs a
    /// running Tokio runtime, construction does not. A cloned `Channel` is
    /// the same connection, so each slot is its own `connect_lazy`.
    channels: Vec<Option<Channel>>,
    /// Round-robin position; plain state, since the owner calls with `&mut`.
    cursor: usize,
    descriptors: Arc<Descriptors>,
    /// The largest response message decoded.
    limit: ByteSize,
}

impl GrpcTransport {
    pub fn new(
        service: &str,
        config: &GrpcService,
        limit: ByteSize,
    ) -> Result<Self, TransportError> {
        let uri = &config.endpoint;
        let unusable = |reason: &str| TransportError::GrpcEndpoint {
            service: service.to_string(),
            endpoint: redact_userinfo(&uri.to_string()).into_owned(),
            reason: reason.to_string(),
        };
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(unusable("TLS is not supported for gRPC; use http://")),
            _ => return Err(unusable("expected http://host:port")),
        }
        if uri.host().is_none() {
            return Err(unusable("no host"));
        }
        let endpoint = Endpoint::from(uri.clone())
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(DEFAULT_KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(DEFAULT_KEEP_ALIVE_TIMEOUT);
        let descriptors = match &config.descriptors {
            DescriptorSource::Reflection => Descriptors::by_reflection(),
            DescriptorSource::Files { pool, .. } => Descriptors::from_pool(pool.clone()),
        };
        Ok(Self {
            service: Arc::from(service),
            label: Arc::from(redact_userinfo(&uri.to_string())),
            endpoint: Box::new(endpoint),
            channels: vec![None; config.pool_size.max(1)],
            cursor: 0,
            descriptors: Arc::new(descriptors),
            limit,
        })
    }

    /// Start one call on the next connection; see
    /// [`crate::transport::Transport::call`]. Must be called within a Tokio
    /// runtime.
    pub fn call(&mut self, req: CallRequest) -> CallFuture {
        let channel = self.next_channel();
        let descriptors = Arc::clone(&self.descriptors);
        let (limit, service, label) = (self.limit, self.service.clone(), self.label.clone());
        Box::pin(async move {
            unary(channel, &descriptors, req, limit, &service)
                .await
                .map_err(|e| status::name_endpoint(e, &label))
        })
    }

    pub fn describe(&self) -> String {
        let source = if self.descriptors.from_reflection() {
            "reflection"
        } else {
            "proto files"
        };
        format!(
            "grpc {} ({} connections, descriptors from {source})",
            self.label,
            self.channels.len()
        )
    }

    pub fn pool_size(&self) -> usize {
        self.channels.len()
    }

    /// Connections opened so far (each slot opens on first use).
    pub fn connections_opened(&self) -> usize {
        self.channels.iter().filter(|c| c.is_some()).count()
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    fn next_channel(&mut self) -> Channel {
        let slot = self.cursor % self.channels.len();
        self.cursor = self.cursor.wrapping_add(1);
        self.channels[slot]
            .get_or_insert_with(|| self.endpoint.connect_lazy())
            .clone()
    }
}

/// Resolve the method and call it, all within the request's timeout; a
/// client span records the call when the request carries a trace.
async fn unary(
    channel: Channel,
    descriptors: &Descriptors,
    req: CallRequest,
    limit: ByteSize,
    service: &str,
) -> CallResult {
    let CallTarget::Grpc { method } = &req.target else {
        return Err(CallError::permanent(
            "an HTTP method cannot be called on a gRPC service",
        ));
    };
    let timeout = req.timeout;
    let deadline = Instant::now() + timeout;
    let spec = method.trim_start_matches('/');
    let resolved = match descriptors.method_now(spec) {
        Some(resolved) => resolved?,
        // Once per service, by reflection: boxed, so that every call's
        // future does not keep room for it.
        None => Box::pin(tokio::time::timeout_at(
            deadline,
            descriptors.method(&channel, spec),
        ))
        .await
        // Reflection changes nothing on the server.
        .map_err(|_| {
            CallError::retryable(format!(
                "no descriptors within {}: reflection did not answer",
                display_duration(timeout)
            ))
        })??,
    };
    let Resolved {
        method,
        path,
        request_plan,
        answer_plan,
    } = resolved;
    let request = outgoing::request(&method, request_plan.as_deref(), &req, deadline)?;
    let span = super::client_span(&req, service, || {
        let name = path.path().trim_start_matches('/').to_owned();
        vec![
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.method", name),
        ]
    });
    let mut code = None;
    let codec = DynamicCodec::new(method.output(), answer_plan);
    let call = send(channel, request, path, codec, limit, service, &mut code);
    let result = match tokio::time::timeout_at(deadline, call).await {
        Err(_) => Err(timed_out(timeout)),
        // The call succeeded; a response we cannot read is still applied.
        Ok(answer) => answer.and_then(|r| r.into_inner().map_err(CallError::unknown)),
    };
    if let Some(span) = span {
        let code = code.map(|c| KeyValue::new("rpc.grpc.status_code", c as i64));
        span.end(code, super::span_error(&result));
    }
    result
}

/// One unary call; `seen` is given its status code as soon as it comes.
async fn send(
    channel: Channel,
    request: tonic::Request<Outgoing>,
    path: PathAndQuery,
    codec: DynamicCodec,
    limit: ByteSize,
    service: &str,
    seen: &mut Option<tonic::Code>,
) -> Result<tonic::Response<Answer>, CallError> {
    // tonic checks each message's declared length before reading it, so a
    // larger one is never buffered.
    let max = usize::try_from(limit.bytes()).unwrap_or(usize::MAX);
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(max);
    grpc.ready()
        .await
        .map_err(|e| CallError::retryable(format!("connection not ready: {e}")))?;
    let answer = grpc.unary(request, path, codec).await;
    *seen = Some(
        answer
            .as_ref()
            .map_or_else(|s| s.code(), |_| tonic::Code::Ok),
    );
    answer.map_err(|s| match status::is_too_large(&s) {
        true => super::too_large(limit, service),
        false => status::classify(&s),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::outgoing::metadata;
    use super::*;
    use crate::transport::FailureClass;
    use crate::workflow::DEFAULT_MAX_RESPONSE_BYTES as LIMIT;

    fn config(endpoint: &str, pool_size: usize) -> GrpcService {
        GrpcService {
            endpoint: endpoint.parse().unwrap(),
            pool_size,
            descriptors: DescriptorSource::Files {
                files: vec![],
                pool: json::tests::test_pool(),
            },
        }
    }

    fn call_request(method: &str, headers: Vec<(::http::HeaderName, String)>) -> CallRequest {
        CallRequest {
            target: CallTarget::Grpc {
                method: method.into(),
            },
            body: json!({"customer_name": "Ada"}).into(),
            headers: headers.into(),
            idempotency_key: "run-1/charge".into(),
            run_id: "run-1".into(),
            step_id: "charge".into(),
            timeout: Duration::from_secs(1),
            trace: None,
        }
    }

    #[test]
    fn endpoints_are_checked_without_connecting() {
        let t = GrpcTransport::new("orders", &config("http://127.0.0.1:1", 3), LIMIT).unwrap();
        assert_eq!(t.pool_size(), 3);
        assert_eq!(t.connections_opened(), 0);
        assert!(t.describe().contains("3 connections"), "{}", t.describe());
        let err =
            GrpcTransport::new("orders", &config("https://127.0.0.1:1", 1), LIMIT).unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
    }

    #[tokio::test]
    async fn round_robin_opens_one_connection_per_slot() {
        let mut t = GrpcTransport::new("orders", &config("http://127.0.0.1:1", 3), LIMIT).unwrap();
        for _ in 0..2 {
            drop(t.call(call_request("Place", vec![])));
        }
        assert_eq!(t.connections_opened(), 2);
        for _ in 0..5 {
            drop(t.call(call_request("Place", vec![])));
        }
        assert_eq!(t.connections_opened(), 3);
    }

    #[test]
    fn metadata_carries_ids_and_headers_that_may_override_them() {
        let req = call_request(
            "Place",
            vec![
                (
                    ::http::HeaderName::from_static("idempotency-key"),
                    "order-42".into(),
                ),
                (::http::HeaderName::from_static("x-tenant"), "a".into()),
                (::http::HeaderName::from_static("x-tenant"), "b".into()),
            ],
        );
        let map = metadata(&req).unwrap();
        assert_eq!(map.get(IDEMPOTENCY_KEY).unwrap(), "order-42");
        assert_eq!(map.get(RUN_ID).unwrap(), "run-1");
        assert_eq!(map.get(STEP_ID).unwrap(), "charge");
        let tenants: Vec<_> = map.get_all("x-tenant").iter().collect();
        assert_eq!(tenants, ["a", "b"]);
    }

    #[test]
    fn values_of_one_run_and_step_headers_are_never_indexed() {
        let pool = json::tests::test_pool();
        let method = pool
            .get_service_by_name("test.v1.Orders")
            .and_then(|s| s.methods().find(|m| m.name() == "Place"))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let headers = vec![(::http::HeaderName::from_static("x-api-key"), "k".into())];
        let request =
            super::outgoing::request(&method, None, &call_request("Place", headers), deadline);
        let map = request.unwrap().into_parts().0;
        let indexed = |name: &str| !map.get(name).unwrap().is_sensitive();
        assert!(!indexed(IDEMPOTENCY_KEY));
        assert!(!indexed("grpc-timeout"));
        assert!(!indexed("x-api-key"));
        assert!(!indexed(RUN_ID));
        assert!(indexed(STEP_ID));
    }

    #[tokio::test]
    async fn unknown_methods_and_bad_input_are_permanent() {
        let mut t = GrpcTransport::new("orders", &config("http://127.0.0.1:1", 1), LIMIT).unwrap();
        let err = t.call(call_request("Cancel", vec![])).await.unwrap_err();
        assert_eq!(err.class, FailureClass::Permanent);
        assert!(
            err.message.contains("test.v1.Orders/Place"),
            "{}",
            err.message
        );
        let mut bad = call_request("test.v1.Orders/Place", vec![]);
        bad.body = json!({"nope": 1}).into();
        let err = t.call(bad).await.unwrap_err();
        assert_eq!(err.class, FailureClass::Permanent);
        assert!(err.message.contains("nope"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_refused_connection_is_retryable() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut t = GrpcTransport::new("orders", &config(&url, 1), LIMIT).unwrap();
        let err = t.call(call_request("Place", vec![])).await.unwrap_err();
        assert_eq!(err.class, FailureClass::Retryable, "{}", err.message);
    }
}
