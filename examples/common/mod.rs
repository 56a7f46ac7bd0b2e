//! Shared by the example processes: command-line flags, the ready line on
//! stdout, the admin listener, and a clean exit on SIGTERM or SIGINT.

// Every example uses a different part of this module.
#![allow(dead_code)]

pub mod admin;
pub mod calls;
pub mod codes;
pub mod grpc;
pub mod http;
pub mod pb;

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use calls::{FailCode, Hub, ProcessFaults};

/// Flags every example process takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 for the services; 0 picks a free one [default: the
    /// process's fixed port]
    #[arg(long)]
    pub port: Option<u16>,
    /// Port on 127.0.0.1 for the admin listener; 0 picks a free one [default:
    /// the service port + 100, or 0 when that is 0]
    #[arg(long)]
    pub admin_port: Option<u16>,
    /// Share of calls that fail, evenly spread: 0.5 fails every second call
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Code of those failures: a gRPC code name or an HTTP status
    #[arg(long, default_value = "UNAVAILABLE", value_parser = FailCode::parse_str)]
    pub fail_code: FailCode,
    /// Delay added to every call, in milliseconds
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
}

impl ServeArgs {
    pub fn hub(&self) -> Arc<Hub> {
        Hub::new(ProcessFaults {
            fail_rate: self.fail_rate.clamp(0.0, 1.0),
            fail_code: self.fail_code,
            delay: Duration::from_millis(self.delay_ms),
        })
    }
}

/// How the service listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    Http,
}

/// Binds both listeners, prints the ready line, serves until SIGTERM or
/// SIGINT, and exits 0 once both servers have stopped (or after a grace
/// period, so an idle client connection cannot keep the process alive).
pub async fn run(
    args: &ServeArgs,
    default_port: u16,
    hub: Arc<Hub>,
    protocol: Protocol,
    app: Router,
) -> ExitCode {
    let port = args.port.unwrap_or(default_port);
    let admin_port = args.admin_port.unwrap_or(if port == 0 {
        0
    } else {
        port.saturating_add(100)
    });
    let (service, admin) = match (bind(port).await, bind(admin_port).await) {
        (Ok(service), Ok(admin)) => (service, admin),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (Ok(service_addr), Ok(admin_addr)) = (service.local_addr(), admin.local_addr()) else {
        eprintln!("error: the listeners have no local address");
        return ExitCode::FAILURE;
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let signal = shutdown_signal();
    tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(true);
    });
    let (error_tx, mut error_rx) = mpsc::channel(2);
    let service_task = match protocol {
        Protocol::Grpc => supervise(
            grpc::serve(service, app, stopped(stop_rx.clone())),
            &error_tx,
        ),
        Protocol::Http => supervise(
            http::serve(service, app, stopped(stop_rx.clone())),
            &error_tx,
        ),
    };
    let admin_task = supervise(
        http::serve(admin, admin::router(hub), stopped(stop_rx.clone())),
        &error_tx,
    );
    drop(error_tx);

    // The one line a supervisor waits for; stdout stays quiet afterwards.
    let ready = serde_json::json!({
        "listening": service_addr.to_string(),
        "admin": admin_addr.to_string(),
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{ready}").and_then(|()| stdout.flush());
    drop(stdout);

    let failure = tokio::select! {
        biased;
        () = stopped(stop_rx.clone()) => None,
        error = error_rx.recv() => {
            Some(error.unwrap_or_else(|| "the listeners stopped on their own".to_owned()))
        }
    };
    // A server that ends because the signal arrived is not a failure.
    if let Some(error) = failure.filter(|_| !*stop_rx.borrow()) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        let _ = service_task.await;
        let _ = admin_task.await;
    })
    .await;
    ExitCode::SUCCESS
}

/// Runs a server, reporting its error (if any) on `errors`.
fn supervise(
    server: impl Future<Output = Result<(), String>> + Send + 'static,
    errors: &mpsc::Sender<String>,
) -> JoinHandle<()> {
    let errors = errors.clone();
    tokio::spawn(async move {
        if let Err(e) = server.await {
            let _ = errors.send(e).await;
        }
    })
}

async fn bind(port: u16) -> Result<TcpListener, String> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Registers for SIGTERM and SIGINT now, before the ready line, so that a
/// signal sent right after it is never fatal; the future ends on either.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                one.recv().await;
            }
            (Err(_), Err(_)) => std::future::pending().await,
        }
    }
}

/// FNV-1a: a stable fingerprint, so ids derived from input are the same on
/// every run and every machine.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Rounds to two decimals, for rates and scores people read.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Locks a domain's state; a handler that panicked leaves data that is still
/// fine to use.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
