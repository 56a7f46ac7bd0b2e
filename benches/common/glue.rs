//! The baseline: the workflow's calls written by hand with the same clients
//! Maestro uses, tonic (with generated message types, exactly as a generated
//! client sends them) and reqwest, composed with `tokio::join!`. This is the
//! code a user would write instead of a workflow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::uri::PathAndQuery;
use serde_json::{Value, json};
use tonic::transport::{Channel, Endpoint};

use super::pb::quickstart::{AnalyzeRequest, AnalyzeResponse, ProcessRequest, ProcessResponse};

pub type GlueError = Box<dyn std::error::Error + Send + Sync>;

const PROCESS: &str = "/maestro.examples.quickstart.FastService/Process";
const ANALYZE: &str = "/maestro.examples.quickstart.MlService/Analyze";

/// HTTP/2 connections per gRPC service, taken in turn: what Maestro keeps
/// by default (`pool: {size: 5}`). One connection alone is refused by the
/// server once ten thousand calls share it.
const POOL_SIZE: usize = 5;

/// A pool of gRPC connections per service and one HTTP client, shared by
/// every call.
#[derive(Clone)]
pub struct Glue {
    fast: Pool,
    ml: Pool,
    http: reqwest::Client,
    enrich: String,
}

#[derive(Clone)]
struct Pool {
    channels: Arc<[Channel]>,
    next: Arc<AtomicUsize>,
}

impl Pool {
    fn new(endpoint: &str) -> Self {
        let channels = (0..POOL_SIZE)
            .map(|_| {
                Endpoint::from_shared(endpoint.to_owned())
                    .expect("a gRPC endpoint URL")
                    .tcp_nodelay(true)
                    .connect_lazy()
            })
            .collect();
        Self {
            channels,
            next: Arc::default(),
        }
    }

    fn channel(&self) -> Channel {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        self.channels[i].clone()
    }
}

impl Glue {
    /// `grpc` as `http://127.0.0.1:PORT`, `http` as the HTTP service's base URL.
    pub fn new(grpc: &str, http: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http_client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client");
        Self {
            fast: Pool::new(grpc),
            ml: Pool::new(grpc),
            http: http_client,
            enrich: format!("{}/enrich", http.trim_end_matches('/')),
        }
    }

    async fn unary<Req, Resp>(
        pool: &Pool,
        path: &'static str,
        request: Req,
    ) -> Result<Resp, GlueError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(pool.channel());
        grpc.ready().await?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let response = grpc
            .unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(path),
                codec,
            )
            .await?;
        Ok(response.into_inner())
    }

    pub async fn process(&self, data: &str) -> Result<ProcessResponse, GlueError> {
        let request = ProcessRequest {
            data: data.to_owned(),
            ..Default::default()
        };
        Self::unary(&self.fast, PROCESS, request).await
    }

    pub async fn analyze(&self, content: &str) -> Result<AnalyzeResponse, GlueError> {
        let request = AnalyzeRequest {
            content: content.to_owned(),
            ..Default::default()
        };
        Self::unary(&self.ml, ANALYZE, request).await
    }

    pub async fn enrich(&self, id: &str) -> Result<Value, GlueError> {
        let response = self
            .http
            .post(&self.enrich)
            .json(&json!({ "id": id }))
            .send()
            .await?
            .error_for_status()?;
        Ok(response.json().await?)
    }

    /// `fan_out.yaml` by hand: normalise, then analyse and enrich at once,
    /// both reading the first call's answer; the same output document.
    pub async fn fan_out(&self, payload: &str) -> Result<Value, GlueError> {
        let processed = self.process(payload).await?;
        let (analysis, enriched) =
            tokio::join!(self.analyze(&processed.result), self.enrich(&processed.id));
        let (analysis, enriched) = (analysis?, enriched?);
        Ok(json!({
            "id": processed.id,
            "confidence": analysis.confidence,
            "tier": enriched["customer_tier"],
        }))
    }
}
