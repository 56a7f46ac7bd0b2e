//! Cold start of `maestro execute` on a one-step workflow: from just before
//! the process is spawned to the moment its first request reaches the
//! service. Over HTTP the service is a listener in this process that
//! timestamps the request on the same monotonic clock; over gRPC it is the
//! `core_grpc` example, whose call log stamps each call in epoch
//! microseconds (the first request there is reflection, which it does not
//! log: what is timed is the step's own call). The whole process is also
//! timed on an HTTP saga of three calls against `web_http`: spawn to exit,
//! and the CPU it took (user + system, from the kernel's accounting of
//! reaped children).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::post;
use serde_json::{Value, json};

use crate::procs::Proc;

/// Cold-start times of one protocol.
#[derive(Debug, Default)]
pub struct Cold {
    /// Spawn to first request at the service.
    pub first_request: Vec<Duration>,
    /// Spawn to exit.
    pub whole_run: Vec<Duration>,
    /// CPU time of the process, user and system.
    pub cpu: Vec<Duration>,
}

const HTTP_STEP: &str = r#"
name: cold_http
services:
  ping:
    type: http
    endpoint: "${COLD_HTTP}"
steps:
  - id: ping
    service: ping
    method: "POST /ping"
    input:
      payload: "{{ .input.payload }}"
"#;

/// One `maestro execute`, from spawn to exit.
struct Execution {
    start: Instant,
    epoch: SystemTime,
    took: Duration,
    cpu: Duration,
}

/// `maestro execute FILE --input INPUT` with `env`, to its exit.
async fn execute(file: &Path, input: &str, env: (&str, String)) -> Execution {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_maestro"));
    command
        .arg("execute")
        .arg(file)
        .args(["--input", input])
        .env(env.0, env.1)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let before = children_cpu();
    let (epoch, start) = (SystemTime::now(), Instant::now());
    let status = command.status().await.expect("maestro execute runs");
    let took = start.elapsed();
    // The only child reaped meanwhile: runs are one at a time.
    let cpu = children_cpu().saturating_sub(before);
    assert!(status.success(), "maestro execute failed: {status}");
    Execution {
        start,
        epoch,
        took,
        cpu,
    }
}

/// User and system time of this process's reaped children so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

const HELLO: &str = r#"{"payload":"hello world"}"#;

/// `runs` cold starts against an HTTP listener of this process.
pub async fn http(dir: &Path, runs: usize) -> Cold {
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    let seen = first.clone();
    let app = axum::Router::new().route(
        "/ping",
        post(move || {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().get_or_insert_with(Instant::now);
                axum::Json(json!({ "pong": true }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let file = write(dir, "cold_http.yaml", HTTP_STEP);
    let mut cold = Cold::default();
    for _ in 0..runs {
        *first.lock().unwrap() = None;
        let run = execute(&file, HELLO, ("COLD_HTTP", url.clone())).await;
        let arrived = first.lock().unwrap().expect("the step's request arrived");
        cold.first_request.push(arrived - run.start);
        cold.whole_run.push(run.took);
        cold.cpu.push(run.cpu);
    }
    server.abort();
    cold
}

/// `runs` cold starts against the `core_grpc` example process.
pub async fn grpc(dir: &Path, runs: usize, core: &Proc, client: &reqwest::Client) -> Cold {
    let file = write(dir, "cold_grpc.yaml", crate::common::ONE_GRPC_STEP);
    let mut cold = Cold::default();
    for _ in 0..runs {
        client
            .delete(core.admin_url("/calls"))
            .send()
            .await
            .unwrap();
        let env = ("MAESTRO_CORE_GRPC", core.addr.to_string());
        let run = execute(&file, HELLO, env).await;
        let calls: Vec<Value> = client
            .get(core.admin_url("/calls"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let arrived_us = calls
            .iter()
            .filter_map(|c| c["start_us"].as_u64())
            .min()
            .expect("the step's call is in the log");
        let spawned_us = run.epoch.duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
        cold.first_request
            .push(Duration::from_micros(arrived_us.saturating_sub(spawned_us)));
        cold.whole_run.push(run.took);
        cold.cpu.push(run.cpu);
    }
    cold
}

/// `runs` whole processes of the HTTP saga `welcome_best_effort` (create
/// the account, send the e-mail, activate) against the `web_http` example.
pub async fn saga(runs: usize, web: &Proc) -> Cold {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workflows/welcome_best_effort.yaml");
    let input = r#"{"email":"cold@example.com","name":"Cold Start","plan":"free"}"#;
    let mut cold = Cold::default();
    for _ in 0..runs {
        let run = execute(&file, input, ("MAESTRO_WEB_HTTP", web.url(""))).await;
        cold.whole_run.push(run.took);
        cold.cpu.push(run.cpu);
    }
    cold
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("a workflow file in the scratch folder");
    path
}
