//! The OTLP exporter behind a batch processor: spans are queued without
//! blocking and sent from the processor's own thread; the HTTP client runs
//! its requests on the Tokio runtime that installed it.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanProcessor};

use super::TelemetryError;
use super::config::{Config, Protocol};

/// How long one export may take; the collector's own default is 10 s.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a collector's answer read: it is a small status message.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The batch processor over the configured exporter. `OTEL_BSP_*`
/// variables tune its queue and schedule, as the specification says.
pub(super) fn processor(config: &Config) -> Result<BatchSpanProcessor, TelemetryError> {
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let exporter = match config.protocol {
        Protocol::Grpc => builder
            .with_tonic()
            .with_endpoint(config.endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build(),
        Protocol::HttpProtobuf => builder
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(config.endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(TokioHttp::new()?)
            .build(),
    }
    .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let mut processor = BatchSpanProcessor::builder(exporter).build();
    let resource = Resource::builder_empty()
        .with_service_name(config.service_name.clone())
        .build();
    processor.set_resource(&resource);
    Ok(processor)
}

/// reqwest's async client, its requests spawned on the runtime that built
/// it: the batch processor's thread has no runtime of its own.
#[derive(Debug)]
struct TokioHttp {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl TokioHttp {
    fn new() -> Result<Self, TelemetryError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| TelemetryError::Exporter("no Tokio runtime to send spans from".into()))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for TokioHttp {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request: reqwest::Request = request.try_into()?;
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let mut response = client.execute(request).await?;
            let mut answer = http::Response::builder().status(response.status());
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if room <= chunk.len() {
                    break;
                }
            }
            if let Some(headers) = answer.headers_mut() {
                *headers = std::mem::take(response.headers_mut());
            }
            Ok::<_, HttpError>(answer.body(Bytes::from(body))?)
        });
        sent.await?
    }
}
