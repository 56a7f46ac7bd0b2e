//! OpenTelemetry traces over OTLP: one trace per run, its span ids derived
//! from the run so a resumed run continues it, exported in batches off the
//! hot path. Off unless an endpoint is configured. Uses escape.

pub mod config;
pub mod context;
mod export;
pub mod span;

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanProcessor};

pub use config::{Config, Protocol};
pub use context::{CallTrace, RunTrace, TraceParent};
pub use export::{EXPORT_TIMEOUT, MAX_ANSWER_BYTES};
pub use opentelemetry::KeyValue;
pub use opentelemetry::trace::{SpanId, SpanKind, TraceId};
pub use span::{ClientSpan, SpanRecord};

/// How long shutdown waits for the last batch to leave.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why traces cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("{setting}: {reason}")]
    Config { setting: String, reason: String },
    #[error("the OTLP exporter cannot start: {0}")]
    Exporter(String),
}

impl TelemetryError {
    /// A setting to fix either way.
    pub fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Invalid
    }
}

/// The process's exporter, once installed.
struct Sink {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Start exporting with `config` for the rest of the process; must run
/// inside a Tokio runtime. A second install is ignored.
pub fn install(config: &Config) -> Result<(), TelemetryError> {
    if SINK.get().is_some() {
        return Ok(());
    }
    let processor = export::processor(config)?;
    let scope = InstrumentationScope::builder("maestro")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let _ = SINK.set(Sink { processor, scope });
    Ok(())
}

/// Whether spans are exported: when not, nothing of a trace is built.
pub fn enabled() -> bool {
    SINK.get().is_some()
}

/// Queue a finished span for export; never blocks (a full queue drops it).
pub fn emit(record: SpanRecord) {
    if let Some(sink) = SINK.get() {
        sink.processor.on_end(record.into_data(sink.scope.clone()));
    }
}

/// Send what is queued and stop the exporter; waits at most
/// [`FLUSH_TIMEOUT`], on a blocking thread so the runtime keeps serving the
/// exporter's own I/O.
pub async fn shutdown() {
    if SINK.get().is_none() {
        return;
    }
    let flushed = tokio::task::spawn_blocking(|| {
        SINK.get()
            .map(|sink| sink.processor.shutdown_with_timeout(FLUSH_TIMEOUT))
    });
    if let Ok(Some(Err(e))) = flushed.await {
        tracing::warn!(error = %e, "traces not all exported at shutdown");
    }
}
