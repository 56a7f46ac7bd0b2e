//! A real gRPC server built from `.proto` text at run time, for what the
//! example services do not show: reflection that leaves out the well-known
//! types its files import. It echoes what it received.

use std::convert::Infallible;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage, Value};
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Context, Poll, Service, http};
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

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

/// Start a server on a free port; its URL.
pub async fn start(reflection: Reflection) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let orders = Orders { pool: pool() };
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
        Reflection::V1 => serve(orders, builder.build_v1().unwrap(), incoming),
        Reflection::V1AlphaOnly => serve(orders, builder.build_v1alpha().unwrap(), incoming),
    }
    url
}

/// Serve `orders`, and `reflection` for every other path. (tonic's router
/// needs a feature the crate does not build with.)
fn serve<R>(orders: Orders, reflection: R, incoming: TcpIncoming)
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
    reflection: R,
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
        Box::pin(self.reflection.call(req))
    }
}

/// `test.orders.Orders`, answered from descriptors rather than generated code.
#[derive(Clone)]
struct Orders {
    pool: DescriptorPool,
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
                cancel: name == "Cancel",
            };
            let mut grpc = tonic::server::Grpc::new(ServerCodec(method.input()));
            Ok(grpc.unary(handler, req).await)
        })
    }
}

struct Handler {
    output: prost_reflect::MessageDescriptor,
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
        let output = self.output.clone();
        let cancel = self.cancel;
        Box::pin(async move {
            let meta = |name: &str| {
                let value = request.metadata().get(name).and_then(|v| v.to_str().ok());
                Value::String(value.unwrap_or("").to_string())
            };
            let input = request.get_ref();
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

/// The server's side of a call on messages known at run time: requests
/// decoded as the method's input, replies encoded as given.
struct ServerCodec(prost_reflect::MessageDescriptor);

impl Codec for ServerCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = ServerCodec;
    type Decoder = ServerCodec;

    fn encoder(&mut self) -> Self::Encoder {
        ServerCodec(self.0.clone())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ServerCodec(self.0.clone())
    }
}

impl Encoder for ServerCodec {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl Decoder for ServerCodec {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        let message = DynamicMessage::decode(self.0.clone(), src);
        message
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}
