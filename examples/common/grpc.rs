//! gRPC plumbing for the example processes: a router of generated services
//! with server reflection, a listener with TCP_NODELAY, and the wrapper every
//! handler runs through (call log, chaos, faults, idempotent replay).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::Request as HttpRequest;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::Value;
use tokio::net::TcpListener;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::calls::{CallStart, Hub, Injected, code_name};
use super::pb;

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(pb::DESCRIPTOR_SET).expect("build.rs writes a valid descriptor set")
});

/// Which reflection protocols the server answers (`--reflection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reflection {
    V1,
    V1alpha,
    Both,
    None,
}

/// The generated services of one process, routed by their full name.
pub struct Services {
    router: Router,
    names: Vec<&'static str>,
}

impl Services {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            names: Vec::new(),
        }
    }

    pub fn add<S>(mut self, service: S) -> Self
    where
        S: tonic::codegen::Service<
                HttpRequest,
                Response = http::Response<tonic::body::Body>,
                Error = Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.router = self
            .router
            .route_service(&format!("/{}/{{*method}}", S::NAME), service);
        self
    }

    /// The finished router, with reflection as asked. Reflection lists only
    /// this process's services but can describe every type of examples/workflows/proto/.
    pub fn into_router(self, reflection: Reflection) -> Result<Router, String> {
        let builder = |reflection_service: &str| {
            let mut builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::DESCRIPTOR_SET)
                .with_service_name(reflection_service);
            for name in &self.names {
                builder = builder.with_service_name(*name);
            }
            builder
        };
        let mut router = self.router.clone();
        if matches!(reflection, Reflection::V1 | Reflection::Both) {
            let service = builder("grpc.reflection.v1.ServerReflection")
                .build_v1()
                .map_err(|e| format!("reflection: {e}"))?;
            router = Self {
                router,
                names: vec![],
            }
            .add(service)
            .router;
        }
        if matches!(reflection, Reflection::V1alpha | Reflection::Both) {
            let service = builder("grpc.reflection.v1alpha.ServerReflection")
                .build_v1alpha()
                .map_err(|e| format!("reflection: {e}"))?;
            router = Self {
                router,
                names: vec![],
            }
            .add(service)
            .router;
        }
        Ok(router.fallback(unimplemented))
    }
}

/// What tonic's own router answers for an unknown service.
async fn unimplemented(request: HttpRequest) -> axum::response::Response {
    Status::unimplemented(format!("no service at {}", request.uri().path())).into_http()
}

pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    // tonic leaves Nagle on for a listener it did not bind itself, and
    // request/response pairs then stall ~40 ms.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .serve_with_incoming_shutdown(app, incoming, shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// Runs one unary call through the log and the fault engine; `handler` is
/// the service's own logic.
pub async fn unary<Req, Resp, H>(
    hub: &Arc<Hub>,
    service: &'static str,
    method: &'static str,
    request: Request<Req>,
    handler: H,
) -> Result<Response<Resp>, Status>
where
    Req: Message + Send + 'static,
    Resp: Message + Clone + Send + Sync + 'static,
    H: FnOnce(Req) -> Result<Resp, Status> + Send,
{
    let descriptor = POOL
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == method));
    let output = descriptor.as_ref().map(|m| m.output());
    let body = descriptor.as_ref().map_or(Value::Null, |m| {
        to_json(m.input(), &request.get_ref().encode_to_vec())
    });
    let start = CallStart {
        protocol: "grpc",
        service: service.to_owned(),
        method: method.to_owned(),
        path: format!("/{service}/{method}"),
        verb: None,
        headers: metadata(request.metadata()),
        request: body,
        peer: request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
    };
    let response_json = |response: &Resp| {
        output
            .clone()
            .map_or(Value::Null, |d| to_json(d, &response.encode_to_vec()))
    };
    let (call, plan) = hub.begin(start);

    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    if let Some(fail) = plan.fail.as_ref().filter(|f| !f.after_apply) {
        let status = injected_status(fail);
        call.fail(
            code_name(status.code()).to_owned(),
            None,
            fail.message.clone(),
            None,
            true,
        );
        return Err(status);
    }
    if let Some(answer) = plan.replay.and_then(|a| a.downcast::<Resp>().ok()) {
        call.succeed(response_json(&answer), None, true);
        return Ok(Response::new((*answer).clone()));
    }
    match handler(request.into_inner()) {
        Ok(response) => {
            let json = response_json(&response);
            call.remember(Arc::new(response.clone()));
            if let Some(fail) = plan.fail {
                let status = injected_status(&fail);
                let message = format!("{} (after applying the call)", fail.message);
                call.fail(
                    code_name(status.code()).to_owned(),
                    None,
                    message,
                    Some(json),
                    true,
                );
                return Err(status);
            }
            call.succeed(json, None, false);
            Ok(Response::new(response))
        }
        Err(status) => {
            let outcome = code_name(status.code()).to_owned();
            call.fail(outcome, None, status.message().to_owned(), None, false);
            Err(status)
        }
    }
}

fn injected_status(fail: &Injected) -> Status {
    let mut metadata = MetadataMap::new();
    if let Some(seconds) = fail.retry_after_s {
        metadata.insert("retry-after", MetadataValue::from(seconds));
        metadata.insert(
            "grpc-retry-pushback-ms",
            MetadataValue::from(u64::from(seconds) * 1000),
        );
    }
    Status::with_metadata(fail.code.grpc(), fail.message.clone(), metadata)
}

fn metadata(map: &MetadataMap) -> BTreeMap<String, String> {
    map.clone()
        .into_headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

/// The message as Maestro itself writes it: proto field names, defaults
/// included, 64-bit integers as numbers.
pub fn to_json(descriptor: MessageDescriptor, bytes: &[u8]) -> Value {
    let Ok(message) = DynamicMessage::decode(descriptor, bytes) else {
        return Value::Null;
    };
    let options = SerializeOptions::new()
        .skip_default_fields(false)
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap_or(Value::Null)
}
