//! `maestro serve`: flags to [`ServeConfig`], a ready line on stdout once
//! the socket listens (`{"listening": "127.0.0.1:8080", ...}`), and the
//! exit status: 0 after a clean drain, 2 when the configuration is invalid,
//! 5 when the server cannot run (the port is taken, the journal is locked).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::server::auth::Token;
use crate::server::listen::ConnectionLimits;
use crate::server::runs::Limits;
use crate::server::{ServeConfig, ServeError, serve};

use super::state::StateArgs;
use super::traces::{TraceArgs, traced};
use super::{EXIT_INVALID, EXIT_OK, say};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (0: any free port, printed on stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on. Anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Workflow files, or directories of `*.yaml` files. Only these run.
    #[arg(long, required = true, num_args = 1..)]
    pub workflows: Vec<PathBuf>,
    /// Bearer token every endpoint but /healthz and /readyz requires (at
    /// least 16 bytes). Shows in `ps`: prefer --token-file.
    #[arg(long, env = "MAESTRO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Read the token from FILE (its trailing newline dropped).
    #[arg(long, env = "MAESTRO_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Runs executing at once; more are queued.
    #[arg(long, default_value_t = 1024)]
    pub max_running: usize,
    /// Runs waiting for a slot; past this, submissions get 429.
    #[arg(long, default_value_t = 10_000)]
    pub max_queued: usize,
    /// Finished runs kept in memory for GET /v1/runs/{id}.
    #[arg(long, default_value_t = 10_000)]
    pub keep_finished: usize,
    /// How long a finished run is kept.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub keep_for: Duration,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Connections open at once; past them, 503 (health checks answered).
    #[arg(long, default_value_t = 1024, value_parser = at_least_one)]
    pub max_connections: usize,
    /// How long a request's head may take to arrive, and an idle
    /// connection stay open.
    #[arg(long, default_value = "30s", value_parser = some_time)]
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive, in all.
    #[arg(long, default_value = "30s", value_parser = some_time)]
    pub body_timeout: Duration,
    /// Longest `?wait=true` for a workflow without a timeout.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_wait: Duration,
    /// After SIGTERM/SIGINT, how long runs in flight may go on before they
    /// are cancelled and compensated.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Expose POST /v1/admin/services/{name}/kill (kills a service actor).
    #[arg(long)]
    pub enable_fault_injection: bool,
    #[command(flatten)]
    pub state: StateArgs,
    /// Finished runs older than this are pruned from the journal.
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    pub retain: Duration,
    #[command(flatten)]
    pub traces: TraceArgs,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let token = match token(&args) {
        Ok(token) => token,
        Err(message) => {
            say::error(&message);
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let state = match args.state.spec_or_exit() {
        Ok(state) => state,
        Err(code) => return code,
    };
    let config = ServeConfig {
        bind: args.bind,
        port: args.port,
        workflows: args.workflows,
        token,
        limits: Limits {
            max_running: args.max_running,
            max_queued: args.max_queued,
            keep_finished: args.keep_finished,
            keep_for: args.keep_for,
        },
        connections: ConnectionLimits {
            max_connections: args.max_connections,
            header_timeout: args.header_timeout,
        },
        max_body_bytes: args.max_body_bytes,
        body_timeout: args.body_timeout,
        max_wait: args.max_wait,
        grace: args.grace,
        fault_injection: args.enable_fault_injection,
        state,
        retain: args.retain,
    };
    let traces = match args.traces.config_or_exit() {
        Ok(traces) => traces,
        Err(code) => return code,
    };
    let runtime = match super::server_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(traced(traces, async {
        let result = serve(config, |addr, workflows| {
            let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
            let line = serde_json::json!({ "listening": addr.to_string(), "workflows": names });
            println!("{line}");
        })
        .await;
        exit_code(result)
    }))
}

/// How `serve` ended, said on stderr when it failed.
fn exit_code(result: Result<(), ServeError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            let code = super::exit::for_class(e.class());
            // The caller's mistakes are said as they are; Maestro's own
            // failures start with `error:`.
            if code == EXIT_INVALID {
                say::say(say::Level::Error, &e.to_string());
            } else {
                say::error(&e.to_string());
            }
            ExitCode::from(code)
        }
    }
}

/// The token from `--token`, `MAESTRO_TOKEN` or `--token-file`, refused
/// when empty or short (never echoed: it may be a secret typed wrong).
fn token(args: &ServeArgs) -> Result<Option<Token>, String> {
    let (text, origin) = match (&args.token, &args.token_file) {
        (Some(_), Some(_)) => {
            return Err("give the token once: --token (or MAESTRO_TOKEN) or --token-file".into());
        }
        (Some(text), None) => (text.clone(), "--token (or MAESTRO_TOKEN)".to_string()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
            let text = text.trim_end_matches(['\n', '\r']).to_string();
            (text, format!("--token-file {}", path.display()))
        }
        (None, None) => return Ok(None),
    };
    Token::new(text)
        .map(Some)
        .map_err(|e| format!("{origin}: {e}"))
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn some_time(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be longer than 0s".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}
