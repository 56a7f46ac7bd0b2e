//! Loopback services inside the bench process: the quick-start gRPC services
//! (`Process`, `Analyze`, with server reflection) and `POST /enrich` over
//! HTTP, on 127.0.0.1, on a runtime of their own as if they were another
//! process. They answer like the example services but keep no call log, so
//! what a bench measures is the caller.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::routing::post;
use axum::serve::ListenerExt;
use serde_json::{Value, json};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use maestro::workflow::{self, Workflow};

use super::pb::{self, quickstart};
use quickstart::fast_service_server::{FastService, FastServiceServer};
use quickstart::ml_service_server::{MlService, MlServiceServer};
use quickstart::{AnalyzeRequest, AnalyzeResponse, ProcessRequest, ProcessResponse};

const TIERS: [&str; 4] = ["bronze", "silver", "gold", "platinum"];

/// The two listeners; they stop when this is dropped.
pub struct Loopback {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Loopback {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("loopback")
            .enable_all()
            .build()
            .expect("a runtime for the loopback services");
        let (grpc, http) = runtime.block_on(async {
            let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addrs = (grpc.local_addr().unwrap(), http.local_addr().unwrap());
            tokio::spawn(serve_grpc(grpc));
            tokio::spawn(serve_http(http));
            addrs
        });
        Self {
            grpc,
            http,
            runtime: Some(runtime),
        }
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// A workflow whose `${MAESTRO_CORE_GRPC}` and `${MAESTRO_WEB_HTTP}`
    /// endpoints are these services; `path` names it in messages.
    pub fn load(&self, text: &str, path: &Path) -> Arc<Workflow> {
        let (grpc, http) = (self.grpc.to_string(), self.http_url());
        let env = move |name: &str| match name {
            "MAESTRO_CORE_GRPC" => Some(grpc.clone()),
            "MAESTRO_WEB_HTTP" => Some(http.clone()),
            _ => None,
        };
        match workflow::load_str(text, path, &env) {
            Ok(workflow) => Arc::new(workflow),
            Err(diagnostics) => panic!("{} does not load:\n{diagnostics}", path.display()),
        }
    }

    /// An example workflow (`examples/workflows/NAME`) pointed at these services.
    pub fn example(&self, name: &str) -> Arc<Workflow> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/workflows")
            .join(name);
        let text = std::fs::read_to_string(&path).expect("the example workflow");
        self.load(&text, &path)
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn serve_grpc(listener: tokio::net::TcpListener) {
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::DESCRIPTOR_SET)
        .build_v1()
        .expect("reflection");
    let route = |name: &str| format!("/{name}/{{*method}}");
    let app = axum::Router::new()
        .route_service(
            &route(quickstart::fast_service_server::SERVICE_NAME),
            FastServiceServer::new(Quickstart),
        )
        .route_service(
            &route(quickstart::ml_service_server::SERVICE_NAME),
            MlServiceServer::new(Quickstart),
        )
        .route_service("/grpc.reflection.v1.ServerReflection/{*method}", reflection);
    // tonic leaves Nagle on for a listener it did not bind itself.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .serve_with_incoming(app, incoming)
        .await
        .expect("the loopback gRPC server");
}

async fn serve_http(listener: tokio::net::TcpListener) {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = axum::Router::new().route("/enrich", post(enrich));
    axum::serve(listener, app)
        .await
        .expect("the loopback HTTP server");
}

/// FNV-1a, as the example services derive ids.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

async fn enrich(Json(body): Json<Value>) -> Json<Value> {
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let hash = fingerprint(id.as_bytes());
    Json(json!({
        "id": id,
        "customer_tier": TIERS[(hash % 4) as usize],
        "lifetime_value_cents": (hash >> 16) % 5_000_000,
    }))
}

struct Quickstart;

#[tonic::async_trait]
impl FastService for Quickstart {
    async fn process(
        &self,
        request: Request<ProcessRequest>,
    ) -> Result<Response<ProcessResponse>, Status> {
        let request = request.into_inner();
        let words: Vec<&str> = request.data.split_whitespace().collect();
        let result = words.join(" ");
        Ok(Response::new(ProcessResponse {
            id: format!("proc_{:016x}", fingerprint(result.as_bytes())),
            words: words.len() as u32,
            result,
            sequence: request.sequence,
            priority: request.priority,
        }))
    }
}

#[tonic::async_trait]
impl MlService for Quickstart {
    async fn analyze(
        &self,
        request: Request<AnalyzeRequest>,
    ) -> Result<Response<AnalyzeResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(AnalyzeResponse {
            confidence: 0.92,
            label: "neutral".to_owned(),
            model: "sentiment-v2".to_owned(),
            keywords: request
                .content
                .split_whitespace()
                .filter(|w| w.len() > 4)
                .take(5)
                .map(str::to_lowercase)
                .collect(),
        }))
    }
}
