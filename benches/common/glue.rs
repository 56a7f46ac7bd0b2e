//! The baseline: the workflow's calls written by hand with the same clients
//! Maestro uses, tonic (with generated message types, exactly as a generated
//! client sends them) and reqwest, composed with `tokio::join!`. This is the
//! code a user would write instead of a workflow.

use http::uri::PathAndQuery;
use serde_json::{Value, json};
use tonic::transport::{Channel, Endpoint};

use super::pb::quickstart::{AnalyzeRequest, AnalyzeResponse, ProcessRequest, ProcessResponse};

pub type GlueError = Box<dyn std::error::Error + Send + Sync>;

const PROCESS: &str = "/maestro.examples.quickstart.FastService/Process";
const ANALYZE: &str = "/maestro.examples.quickstart.MlService/Analyze";

/// One gRPC channel and one HTTP client, shared by every call.
#[derive(Clone)]
pub struct Glue {
    grpc: Channel,
    http: reqwest::Client,
    enrich: String,
}

impl Glue {
    /// `grpc` as `http://127.0.0.1:PORT`, `http` as the HTTP service's base URL.
    pub fn new(grpc: &str, http: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let grpc = Endpoint::from_shared(grpc.to_owned())
            .expect("a gRPC endpoint URL")
            .tcp_nodelay(true)
            .connect_lazy();
        let http_client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client");
        Self {
            grpc,
            http: http_client,
            enrich: format!("{}/enrich", http.trim_end_matches('/')),
        }
    }

    async fn unary<Req, Resp>(&self, path: &'static str, request: Req) -> Result<Resp, GlueError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.grpc.clone());
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
        self.unary(PROCESS, request).await
    }

    pub async fn analyze(&self, content: &str) -> Result<AnalyzeResponse, GlueError> {
        let request = AnalyzeRequest {
            content: content.to_owned(),
            ..Default::default()
        };
        self.unary(ANALYZE, request).await
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
