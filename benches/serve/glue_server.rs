//! The baseline as a server: `POST /run` with `{"input": {"payload": ...}}`
//! makes the workflow's three calls by hand (the bench glue) and answers
//! with the output. It is what a user would deploy instead of `maestro
//! serve`, so the load driver sends both the same requests. `POST /submit`
//! starts the same calls and answers 202 at once, and `GET /stats` counts
//! them, for the test of many runs in flight.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::common::glue::Glue;

/// Runs until killed. Arguments: `--grpc URL --http URL`.
pub fn main(args: &[String]) -> ExitCode {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(grpc), Some(http)) = (value("--grpc"), value("--http")) else {
        eprintln!("usage: --glue-server --grpc URL --http URL");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let glue = Glue::new(&grpc, &http);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        println!("{}", json!({ "listening": addr.to_string() }));
        let app = axum::Router::new()
            .route("/run", post(run))
            .route("/submit", post(submit))
            .route("/stats", get(stats))
            .with_state(Server {
                glue,
                counts: Arc::default(),
            });
        axum::serve(listener, app).await.expect("the glue server");
    });
    ExitCode::SUCCESS
}

#[derive(Clone)]
struct Server {
    glue: Glue,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    in_flight: AtomicU64,
    succeeded: AtomicU64,
    first_error: std::sync::OnceLock<String>,
}

async fn run(State(server): State<Server>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let payload = body["input"]["payload"].as_str().unwrap_or_default();
    match server.glue.fan_out(payload).await {
        Ok(output) => (
            StatusCode::OK,
            Json(json!({ "status": "succeeded", "output": output })),
        ),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "status": "failed", "error": e.to_string() })),
        ),
    }
}

async fn submit(State(server): State<Server>, Json(body): Json<Value>) -> StatusCode {
    let payload = body["input"]["payload"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    server.counts.in_flight.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        match server.glue.fan_out(&payload).await {
            Ok(_) => {
                server.counts.succeeded.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                let _ = server.counts.first_error.set(e.to_string());
            }
        }
        server.counts.in_flight.fetch_sub(1, Ordering::Relaxed);
    });
    StatusCode::ACCEPTED
}

async fn stats(State(server): State<Server>) -> Json<Value> {
    Json(json!({
        "in_flight": server.counts.in_flight.load(Ordering::Relaxed),
        "succeeded": server.counts.succeeded.load(Ordering::Relaxed),
        "first_error": server.counts.first_error.get(),
    }))
}
