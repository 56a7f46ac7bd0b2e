//! `--otlp-endpoint`, shared by `execute` and `serve`: where the runs'
//! traces are exported, with the standard `OTEL_*` variables as fallback.

use std::future::Future;
use std::process::ExitCode;

use crate::telemetry::{self, Config};

use super::{EXIT_INVALID, say};

#[derive(Debug, Clone, clap::Args)]
pub struct TraceArgs {
    /// Export each run's trace over OTLP to this collector (a base URL:
    /// `http://127.0.0.1:4318` for `http/protobuf`, `http://127.0.0.1:4317`
    /// with OTEL_EXPORTER_OTLP_PROTOCOL=grpc). Else OTEL_EXPORTER_OTLP_ENDPOINT;
    /// no traces when neither is set.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

impl TraceArgs {
    /// The exporter's configuration (`None`: traces off), with a bad
    /// setting reported on stderr.
    pub fn config_or_exit(&self) -> Result<Option<Config>, ExitCode> {
        let env = |name: &str| std::env::var(name).ok();
        Config::resolve(self.otlp_endpoint.as_deref(), &env).map_err(|e| {
            say::say(say::Level::Error, &e.to_string());
            ExitCode::from(EXIT_INVALID)
        })
    }
}

/// Run `work` with traces exported as `config` says, and every span it
/// ended sent (or given up on) before this returns.
pub async fn traced(config: Option<Config>, work: impl Future<Output = ExitCode>) -> ExitCode {
    if let Some(config) = config
        && let Err(e) = telemetry::install(&config)
    {
        say::error(&e.to_string());
        return ExitCode::from(super::EXIT_ERROR);
    }
    let code = work.await;
    telemetry::shutdown().await;
    code
}
