//! `serve_until` in this process: a server on port 0 whose address comes
//! from the ready callback (no waiting for a line on stdout), answering, then
//! draining once the caller cancels it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use maestro::server::listen::ConnectionLimits;
use maestro::server::runs::Limits;
use maestro::server::{ServeConfig, serve_until};
use tokio_util::sync::CancellationToken;

fn config() -> ServeConfig {
    ServeConfig {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        workflows: vec![PathBuf::from("tests/fixtures/unreachable.yaml")],
        token: None,
        limits: Limits {
            max_running: 4,
            max_queued: 4,
            keep_finished: 16,
            keep_for: Duration::from_secs(60),
        },
        connections: ConnectionLimits {
            max_connections: 16,
            header_timeout: Duration::from_secs(5),
        },
        max_body_bytes: 64 * 1024,
        body_timeout: Duration::from_secs(5),
        max_wait: Duration::from_secs(5),
        grace: Duration::from_secs(1),
        fault_injection: false,
        state: None,
        retain: Duration::from_secs(60),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_in_process_answers_on_port_0_and_stops_when_told() {
    let stop = CancellationToken::new();
    let (ready, bound) = tokio::sync::oneshot::channel::<SocketAddr>();
    let server = tokio::spawn(serve_until(
        config(),
        move |addr, _| {
            let _ = ready.send(addr);
        },
        stop.clone(),
    ));
    let addr = bound.await.expect("the server says where it listens");
    assert_ne!(addr.port(), 0);
    let client = reqwest::Client::new();
    let workflows: serde_json::Value = client
        .get(format!("http://{addr}/v1/workflows"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        workflows["workflows"][0]["name"], "unreachable",
        "{workflows}"
    );
    let run = client
        .post(format!(
            "http://{addr}/v1/workflows/unreachable/runs?wait=true"
        ))
        .json(&serde_json::json!({"input": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 200);

    stop.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(30), server).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    assert!(
        client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err(),
        "nothing listens once it stopped"
    );
}
