//! `maestro serve`: many concurrent runs of the workflows given at start,
//! behind an HTTP API (axum). Safe by default: loopback only unless a token
//! is given, bounded connections and reads, no workflow accepted over HTTP.

pub mod api;
pub mod auth;
pub mod bodies;
pub mod console;
pub mod events;
pub mod guard;
pub mod idempotency;
pub mod json;
mod lifecycle;
pub mod listen;
pub mod listing;
pub mod metrics;
pub mod ops;
pub mod reads;
pub mod recovery;
pub mod retry;
pub mod runs;
pub mod schedules;
mod service_metrics;
pub mod signals;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ErrorClass;
use crate::graph;
use crate::journal::{JournalError, StateSpec};
use crate::workflow::{self, Diagnostics, Workflow};

use api::Shared;
use auth::Token;
use bodies::WorkflowInfo;
use guard::Gate;
use lifecycle::Server;
use listen::ConnectionLimits;
use runs::{Limits, Runs};

/// Everything `maestro serve` is told on its command line.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: std::net::IpAddr,
    pub port: u16,
    /// Workflow files, or directories whose `*.yaml` / `*.yml` files are read.
    pub workflows: Vec<PathBuf>,
    pub token: Option<Token>,
    pub limits: Limits,
    pub connections: ConnectionLimits,
    pub max_body_bytes: usize,
    /// How long a request's body may take to arrive, in all.
    pub body_timeout: Duration,
    pub max_wait: Duration,
    /// How long in-flight runs may go on after SIGTERM / SIGINT.
    pub grace: Duration,
    pub fault_injection: bool,
    /// Where runs are journaled; `None` keeps them in memory only.
    pub state: Option<StateSpec>,
    /// How long finished runs stay in the journal.
    pub retain: Duration,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("{path}: {message}")]
    Workflows { path: PathBuf, message: String },
    #[error("two workflows are named `{name}`: {first} and {second}")]
    DuplicateName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error(
        "refusing to listen on {0} without a token: pass --token-file FILE (or --token, \
         or set MAESTRO_TOKEN)"
    )]
    UnprotectedBind(std::net::IpAddr),
    #[error(transparent)]
    OpenFiles(#[from] listen::TooFewFiles),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ServeError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ServeError::Invalid(_)
            | ServeError::Workflows { .. }
            | ServeError::DuplicateName { .. }
            | ServeError::UnprotectedBind(_) => ErrorClass::Invalid,
            // The files were valid: not starting their runs, or not resuming
            // what the journal holds, is the server's own failure.
            ServeError::Runtime(_) => ErrorClass::Internal,
            ServeError::Journal(e) => e.class(),
            ServeError::OpenFiles(_) | ServeError::Bind { .. } | ServeError::Io(_) => {
                ErrorClass::Internal
            }
        }
    }
}

/// The workflow files named on the command line, directories expanded.
pub fn workflow_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ServeError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let read = std::fs::read_dir(path).map_err(|e| ServeError::Workflows {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let mut found: Vec<PathBuf> = read
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .filter(|p| !crate::workflow::is_test_file(p))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        return Err(ServeError::Workflows {
            path: paths.first().cloned().unwrap_or_default(),
            message: "no workflow files given (--workflows FILE|DIR)".into(),
        });
    }
    Ok(files)
}

/// Load and validate every workflow; invalid ones stop the start, with the
/// same diagnostics as `maestro validate`, every file's problems at once.
pub fn load_workflows(files: &[PathBuf]) -> Result<Vec<Arc<Workflow>>, ServeError> {
    let mut loaded = Vec::with_capacity(files.len());
    let mut problems = Vec::new();
    for file in files {
        match workflow::load_file(file) {
            Ok(workflow) => loaded.push((file, workflow)),
            Err(diagnostics) => problems.extend(diagnostics.into_vec()),
        }
    }
    if let Some(diagnostics) = Diagnostics::new(problems) {
        return Err(ServeError::Invalid(diagnostics));
    }
    let mut out: Vec<Arc<Workflow>> = Vec::with_capacity(files.len());
    for (file, workflow) in loaded {
        if let Some(first) = out.iter().find(|w| w.name == workflow.name) {
            return Err(ServeError::DuplicateName {
                name: workflow.name.clone(),
                first: first.source.clone(),
                second: file.clone(),
            });
        }
        out.push(Arc::new(workflow));
    }
    Ok(out)
}

fn info_of(workflow: &Workflow) -> WorkflowInfo {
    WorkflowInfo {
        name: workflow.name.clone(),
        version: workflow.version.clone(),
        file: workflow.source.display().to_string(),
        services: workflow.services.iter().map(|s| s.name.clone()).collect(),
        steps: workflow.all_steps().map(|s| s.id.clone()).collect(),
        input_schema: workflow.input_schema.as_ref().map(|s| s.document().clone()),
        graph: graph::render(workflow, graph::Format::Mermaid),
    }
}

/// Run the server until SIGTERM, SIGINT or SIGHUP, then drain. `ready`
/// hears the bound address once the socket listens.
pub async fn serve(
    config: ServeConfig,
    ready: impl FnOnce(SocketAddr, &[Arc<Workflow>]),
) -> Result<(), ServeError> {
    let stop = CancellationToken::new();
    tokio::spawn(watch_signals(stop.clone()));
    serve_until(config, ready, stop).await
}

/// Run the server until `stop` is cancelled, then drain: what [`serve`]
/// does on a signal, for a caller that owns the server's lifetime (a test
/// on port 0, an embedding program).
pub async fn serve_until(
    config: ServeConfig,
    ready: impl FnOnce(SocketAddr, &[Arc<Workflow>]),
    stop: CancellationToken,
) -> Result<(), ServeError> {
    if !config.bind.is_loopback() && config.token.is_none() {
        return Err(ServeError::UnprotectedBind(config.bind));
    }
    let workflows = load_workflows(&workflow_files(&config.workflows)?)?;
    let mut server = Server::start(&config, &workflows).await?;
    let addr = SocketAddr::new(config.bind, config.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr()?;
    server.take_over_journaled(&config, &stop).await;
    server.start_schedules(&stop);
    info!(address = %local, workflows = workflows.len(), "maestro serve listening");
    ready(local, &workflows);
    tokio::spawn(sweep(
        server.runs.clone(),
        config.limits.keep_for,
        stop.clone(),
    ));
    let connections = tokio::spawn(listen::serve(
        listener,
        server.app.clone(),
        server.connections,
        server.metrics.clone(),
        stop.clone(),
    ));
    stop.cancelled().await;
    server.stop(&config, &workflows).await;
    // Connections still open (a client holding a keep-alive) are not worth
    // waiting for once every run has ended.
    let _ = tokio::time::timeout(Duration::from_secs(5), connections).await;
    server.shut_down().await;
    Ok(())
}

fn router(state: Shared, config: &ServeConfig) -> axum::Router {
    let mut api = OpenApiRouter::new()
        .routes(routes!(api::submit_run))
        .routes(routes!(api::list_runs))
        .routes(routes!(reads::get_run, api::cancel_run))
        .routes(routes!(signals::send_signal))
        .routes(routes!(retry::retry_run))
        .routes(routes!(api::list_workflows))
        .routes(routes!(console::workflow_graph))
        .routes(routes!(reads::get_workflow))
        .routes(routes!(api::list_services))
        .routes(routes!(schedules::list::list_schedules))
        .routes(routes!(events::stream::events))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi));
    if config.fault_injection {
        api = api.routes(routes!(ops::kill_service));
    }
    let (router, mut doc) = api.with_state(state.clone()).split_for_parts();
    doc.info.title = "maestro serve".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "Runs of the workflows this server was started with. This document is rendered for \
         people at `/docs`; the console at `/` reads the same API, and `GET /v1/events` \
         streams run and step events as they happen."
            .into(),
    );
    doc.info.contact = None;
    doc.info.license = Some(utoipa::openapi::License::new("MIT"));
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    guard::document_refusals(&mut doc, config.token.is_some());
    let _ = state
        .openapi
        .set(doc.to_pretty_json().unwrap_or_else(|_| "{}".into()));
    let gate = Arc::new(Gate {
        token: config.token.clone(),
        bound: config.bind,
        max_body_bytes: config.max_body_bytes,
        body_timeout: config.body_timeout,
    });
    router
        .merge(console::routes().with_state(state))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(gate, guard::admit))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
}

/// SIGTERM, SIGINT and SIGHUP (a closed terminal, a supervisor's reload)
/// all drain: a server never dies with runs in flight on a signal it can
/// catch.
async fn watch_signals(stop: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(mut term), Ok(mut hangup)) => {
                tokio::select! {
                    _ = interrupt => info!("SIGINT received"),
                    _ = term.recv() => info!("SIGTERM received"),
                    _ = hangup.recv() => info!("SIGHUP received"),
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                warn!(error = %e, "cannot watch SIGTERM and SIGHUP; only SIGINT stops the server");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    stop.cancel();
}

/// Evict finished runs by age even when no run finishes to trigger it.
async fn sweep(runs: Arc<Runs>, keep_for: Duration, stop: CancellationToken) {
    let every = (keep_for / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => runs.evict(),
            () = stop.cancelled() => return,
        }
    }
}
