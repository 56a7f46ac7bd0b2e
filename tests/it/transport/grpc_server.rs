//! A real gRPC server for transport tests, built from `.proto` text at run
//! time: it echoes what it received, can fail or stall on request, records
//! each caller's address, and serves reflection v1, v1alpha, or neither.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use maestro::transport::grpc::codec::DynamicCodec;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage, Value};
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Context, Poll, Service, http};
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

pub const COMMON_PROTO: &str = r#"
syntax = "proto3";
package test.common;
message Money { string currency = 1; int64 units = 2; }
"#;

pub const ORDERS_PROTO: &str = r#"
syntax = "proto3";
package test.orders;
import "common.proto";
import "google/protobuf/timestamp.proto";
enum State { STATE_UNSPECIFIED = 0; PLACED = 1; CANCELLED = 2; }
message PlaceRequest {
  string order_id = 1;
  test.common.Money total = 2;
  int64 big = 3;
  google.protobuf.Timestamp at = 4;
  uint32 delay_ms = 5;
  string fail_with = 6;
}
message PlaceReply {
  string order_id = 1;
  test.common.Money total = 2;
  int64 big = 3;
  google.protobuf.Timestamp at = 4;
  State state = 5;
  string idempotency_key = 6;
  string run_id = 7;
  string step_id = 8;
  string tenant = 9;
}
service Orders {
  rpc Place(PlaceRequest) returns (PlaceReply);
  rpc Cancel(PlaceRequest) returns (PlaceReply);
}
"#;

/// Which reflection protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reflection {
    V1,
    /// Like Python's grpcio.
    V1AlphaOnly,
    None,
}

/// A running server.
pub struct GrpcServer {
    pub url: String,
    /// Caller addresses seen, one per client connection.
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
}

impl GrpcServer {
    pub fn distinct_peers(&self) -> usize {
        self.peers.lock().unwrap().len()
    }
}

struct Files;

impl protox::file::FileResolver for Files {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        match name {
            "common.proto" => protox::file::File::from_source(name, COMMON_PROTO),
            "orders.proto" => protox::file::File::from_source(name, ORDERS_PROTO),
            _ => protox::file::GoogleFileResolver::new().open_file(name),
        }
    }
}

fn compiler() -> protox::Compiler {
    let mut compiler = protox::Compiler::with_file_resolver(Files);
    compiler.include_imports(true);
    compiler
        .open_file("orders.proto")
        .expect("test protos compile");
    compiler
}

/// The descriptors a client would compile from the `.proto` files.
pub fn pool() -> DescriptorPool {
    compiler().descriptor_pool()
}

pub async fn start(reflection: Reflection) -> GrpcServer {
    start_at("127.0.0.1:0".parse().unwrap(), reflection).await
}

pub async fn start_at(addr: SocketAddr, reflection: Reflection) -> GrpcServer {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let peers = Arc::new(Mutex::new(HashSet::new()));
    let orders = Orders {
        pool: pool(),
        peers: Arc::clone(&peers),
    };
    // Served without the well-known types, as some servers do: the client
    // must fill them in itself.
    let mut files = compiler().file_descriptor_set();
    files
        .file
        .retain(|f| !f.name().starts_with("google/protobuf/"));
    let builder =
        tonic_reflection::server::Builder::configure().register_file_descriptor_set(files);
    // Without nodelay each call would stall on Nagle's algorithm.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    match reflection {
        Reflection::V1 => serve(orders, Some(builder.build_v1().unwrap()), incoming),
        Reflection::V1AlphaOnly => serve(orders, Some(builder.build_v1alpha().unwrap()), incoming),
        Reflection::None => serve::<Orders>(orders, None, incoming),
    }
    GrpcServer { url, peers }
}

/// Serve `orders`, and `reflection` for every other path. (tonic's router
/// needs a feature the crate does not build with.)
fn serve<R>(orders: Orders, reflection: Option<R>, incoming: TcpIncoming)
where
    R: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    R::Future: Send + 'static,
{
    let dispatch = Dispatch { orders, reflection };
    let server = tonic::transport::Server::builder().serve_with_incoming(dispatch, incoming);
    tokio::spawn(async move { server.await.unwrap() });
}

#[derive(Clone)]
struct Dispatch<R> {
    orders: Orders,
    reflection: Option<R>,
}

impl<R> Service<http::Request<Body>> for Dispatch<R>
where
    R: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    R::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let ours = format!("/{}/", Orders::NAME);
        if req.uri().path().starts_with(&ours) {
            return self.orders.call(req);
        }
        match &mut self.reflection {
            Some(reflection) => Box::pin(reflection.call(req)),
            None => Box::pin(async { Ok(Status::unimplemented("no such service").into_http()) }),
        }
    }
}

/// `test.orders.Orders`, answered from descriptors rather than generated code.
#[derive(Clone)]
struct Orders {
    pool: DescriptorPool,
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
}

impl NamedService for Orders {
    const NAME: &'static str = "test.orders.Orders";
}

impl Service<http::Request<Body>> for Orders {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let name = req
                .uri()
                .path()
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            let service = this.pool.get_service_by_name(Self::NAME).unwrap();
            let Some(method) = service.methods().find(|m| m.name() == name) else {
                return Ok(Status::unimplemented(name).into_http());
            };
            let handler = Handler {
                output: method.output(),
                peers: this.peers,
                cancel: name == "Cancel",
            };
            let mut grpc = tonic::server::Grpc::new(DynamicCodec::new(method.input()));
            Ok(grpc.unary(handler, req).await)
        })
    }
}

struct Handler {
    output: prost_reflect::MessageDescriptor,
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
    cancel: bool,
}

impl Service<Request<DynamicMessage>> for Handler {
    type Response = Response<DynamicMessage>;
    type Error = Status;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<DynamicMessage>) -> Self::Future {
        if let Some(peer) = request.remote_addr() {
            self.peers.lock().unwrap().insert(peer);
        }
        let output = self.output.clone();
        let cancel = self.cancel;
        Box::pin(async move {
            let meta = |name: &str| {
                let value = request.metadata().get(name).and_then(|v| v.to_str().ok());
                Value::String(value.unwrap_or("").to_string())
            };
            let input = request.get_ref();
            let delay = input.get_field_by_name("delay_ms").and_then(|v| v.as_u32());
            tokio::time::sleep(Duration::from_millis(delay.unwrap_or(0).into())).await;
            let fail = input.get_field_by_name("fail_with");
            let fail = fail.as_deref().and_then(Value::as_str).unwrap_or("");
            if !fail.is_empty() {
                let code = Code::from_i32(fail.parse().unwrap_or(Code::Internal as i32));
                return Err(Status::new(code, format!("asked to fail with {code:?}")));
            }
            let mut reply = DynamicMessage::new(output);
            for field in ["order_id", "total", "big", "at"] {
                if input.has_field_by_name(field) {
                    let value = input.get_field_by_name(field).unwrap().into_owned();
                    reply.set_field_by_name(field, value);
                }
            }
            let state = if cancel { 2 } else { 1 };
            reply.set_field_by_name("state", Value::EnumNumber(state));
            reply.set_field_by_name("idempotency_key", meta("idempotency-key"));
            reply.set_field_by_name("run_id", meta("x-maestro-run-id"));
            reply.set_field_by_name("step_id", meta("x-maestro-step-id"));
            reply.set_field_by_name("tenant", meta("x-tenant"));
            debug_assert_eq!(reply.descriptor().name(), "PlaceReply");
            Ok(Response::new(reply))
        })
    }
}
