//! The baseline as a server: `POST /run` with `{"input": {"payload": ...}}`
//! makes the workflow's three calls by hand (the bench glue) and answers
//! with the output. It is what a user would deploy instead of `maestro
//! serve`, so the load driver sends both the same requests.

use std::process::ExitCode;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
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
            .with_state(glue);
        axum::serve(listener, app).await.expect("the glue server");
    });
    ExitCode::SUCCESS
}

async fn run(State(glue): State<Glue>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let payload = body["input"]["payload"].as_str().unwrap_or_default();
    match glue.fan_out(payload).await {
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
