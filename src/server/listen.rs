//! The listening socket: up to `--max-connections` connections served over
//! HTTP/1.1 with a header read timeout; past the cap a few more, answered
//! 503 but for health checks; a drain that stops accepting and lets the
//! requests in flight finish.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::metrics::Metrics;

/// Connections accepted past the cap, each answering one request: a
/// health check as usual, anything else 503. Past these too, a connection
/// gets a 503 written at once and is closed unread.
pub const OVERFLOW_CONNECTIONS: usize = 64;
/// How long a connection past the cap waits for its request: a health
/// probe sends it at once, and these few slots must not be held.
pub const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// File descriptors kept for all but client connections: the listener,
/// the runtime, the journal, connections to services, logs.
pub const RESERVED_FILES: u64 = 128;

/// How connections are limited.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once, answered as usual.
    pub max_connections: usize,
    /// How long a request's head may take to arrive, and how long an idle
    /// kept-alive connection stays open.
    pub header_timeout: Duration,
}

/// Marks a request that came on a connection past the cap.
#[derive(Debug, Clone, Copy)]
pub struct OverCapacity;

/// Why the server cannot have its connections.
#[derive(Debug, thiserror::Error)]
#[error(
    "the open-file limit ({limit}) leaves no room for client connections; \
     raise it (`ulimit -n {needed}`)"
)]
pub struct TooFewFiles {
    pub limit: u64,
    pub needed: u64,
}

/// Serve `app` on `listener` until `stop`, then wait for every connection
/// to finish its request in flight and close.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let overflow = app.clone().layer(axum::Extension(OverCapacity));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let spare = Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS));
    let (open_tx, open_rx) = watch::channel(());
    let mut refused: u64 = 0;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let (permit, app, timeout, keep_alive) =
            if let Ok(permit) = slots.clone().try_acquire_owned() {
                metrics.connection_opened();
                (permit, app.clone(), limits.header_timeout, true)
            } else {
                metrics.connection_refused();
                refused += 1;
                if refused % 1000 == 1 {
                    warn!(
                        max_connections = limits.max_connections,
                        "connections past the cap are refused with 503"
                    );
                }
                let Ok(permit) = spare.clone().try_acquire_owned() else {
                    refuse_unread(stream);
                    continue;
                };
                let timeout = limits.header_timeout.min(OVERFLOW_HEADER_TIMEOUT);
                (permit, overflow.clone(), timeout, false)
            };
        let connection = Connection {
            permit,
            counted: keep_alive.then(|| metrics.clone()),
            stop: stop.clone(),
            open: open_rx.clone(),
        };
        tokio::spawn(connection.serve(stream, app, timeout, keep_alive));
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
}

/// One accepted connection and what it holds while open.
struct Connection {
    /// Its place under the cap, given back when it closes.
    permit: OwnedSemaphorePermit,
    /// Where a connection under the cap says it closed.
    counted: Option<Arc<Metrics>>,
    stop: CancellationToken,
    /// Dropped when the connection closes: the drain waits for all.
    open: watch::Receiver<()>,
}

impl Connection {
    async fn serve(
        self,
        stream: TcpStream,
        app: Router,
        header_timeout: Duration,
        keep_alive: bool,
    ) {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(keep_alive);
        let served = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
        let mut served = std::pin::pin!(served);
        let result = tokio::select! {
            result = served.as_mut() => result,
            () = self.stop.cancelled() => {
                served.as_mut().graceful_shutdown();
                served.await
            }
        };
        if let Err(e) = result {
            debug!(error = %e, "connection closed");
        }
        drop(self.permit);
        if let Some(metrics) = self.counted {
            metrics.connection_closed();
        }
        drop(self.open);
    }
}

/// The answer past every cap, written without reading the request.
static REFUSAL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = r#"{"error":{"code":"too_many_connections","message":"too many connections are open; try again later"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Best effort: a new socket's send buffer is empty, so the answer fits;
/// the socket is closed at once either way.
fn refuse_unread(stream: TcpStream) {
    let _ = stream.try_write(&REFUSAL);
}

async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    // Out of file descriptors, most likely: some will be closed soon.
    warn!(error = %e, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The cap that fits the process's open-file limit: raised towards the
/// hard limit when it is too low, else the cap is lowered, with a warning.
#[cfg(unix)]
pub fn fit_open_files(max_connections: usize) -> Result<usize, TooFewFiles> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    let needed = (max_connections + OVERFLOW_CONNECTIONS) as u64 + RESERVED_FILES;
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return Ok(max_connections);
    }
    let target = needed.min(limit.maximum.unwrap_or(u64::MAX));
    let raised = Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    if target > soft && setrlimit(Resource::Nofile, raised).is_ok() {
        info!(from = soft, to = target, "raised the open-file limit");
        soft = target;
    }
    if soft >= needed {
        return Ok(max_connections);
    }
    let room = soft.saturating_sub(OVERFLOW_CONNECTIONS as u64 + RESERVED_FILES);
    if room == 0 {
        return Err(TooFewFiles {
            limit: soft,
            needed,
        });
    }
    warn!(
        open_file_limit = soft,
        max_connections = room,
        "--max-connections {max_connections} does not fit the open-file limit; lowered"
    );
    Ok(room as usize)
}

#[cfg(not(unix))]
pub fn fit_open_files(max_connections: usize) -> Result<usize, TooFewFiles> {
    Ok(max_connections)
}
