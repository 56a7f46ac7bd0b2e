//! The service the frozen replica's runs call: an HTTP server on 127.0.0.1
//! that records every request (who sent it, its idempotency key, when its
//! head arrived) and answers after a short while.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::watch;

/// How long the service holds every call: long enough that calls are in
/// flight when a replica freezes.
const CALL_MS: u64 = 60;
/// The longest a held call waits to be let go.
const HOLD_LIMIT: Duration = Duration::from_secs(120);

/// One request as the service saw it, when its head arrived.
#[derive(Debug, Clone)]
pub struct Call {
    /// The `X-Replica` header: which replica sent it.
    pub replica: String,
    pub path: String,
    pub key: String,
    pub at: Instant,
}

pub struct Recorder {
    calls: Mutex<Vec<Call>>,
    /// Set once held calls may be answered.
    release: watch::Sender<bool>,
}

impl Recorder {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Answer the calls held so far, and hold no more.
    pub fn release(&self) {
        self.release.send_replace(true);
    }
}

/// Records the request, waits `CALL_MS`, then answers. Two inputs change
/// that: `fail` refuses `/step/s3` for good, so the run undoes; `hold`
/// keeps replica A's `/step/s1` until [`Recorder::release`] (a call A has
/// in flight when it freezes, and still when it wakes up).
async fn answer(
    State(recorder): State<Arc<Recorder>>,
    Path((kind, step)): Path<(String, String)>,
    headers: HeaderMap,
) -> (StatusCode, axum::Json<Value>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (replica, outcome) = (header("x-replica"), header("x-outcome"));
    let path = format!("/{kind}/{step}");
    recorder.calls.lock().unwrap().push(Call {
        replica: replica.clone(),
        path: path.clone(),
        key: header("idempotency-key"),
        at: Instant::now(),
    });
    if replica == "a" && outcome == "hold" && path == "/step/s1" {
        let mut released = recorder.release.subscribe();
        let _ = tokio::time::timeout(HOLD_LIMIT, released.wait_for(|r| *r)).await;
    }
    tokio::time::sleep(Duration::from_millis(CALL_MS)).await;
    if path == "/step/s3" && outcome == "fail" {
        let refused = json!({"error": "refused"});
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(refused));
    }
    (StatusCode::OK, axum::Json(json!({"ok": true})))
}

/// Start the service on a free port.
pub async fn start() -> (SocketAddr, Arc<Recorder>) {
    let recorder = Arc::new(Recorder {
        calls: Mutex::default(),
        release: watch::Sender::new(false),
    });
    let app = axum::Router::new()
        .route("/{kind}/{step}", post(answer))
        .with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, recorder)
}
