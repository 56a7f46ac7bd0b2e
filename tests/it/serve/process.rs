//! A real `maestro serve` process on 127.0.0.1 port 0, pointed at the example
//! services, with a small async HTTP client for its API.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{EXAMPLES, ServiceProcess, env_for, example_file};

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Every example process, on free ports.
pub fn fleet() -> Vec<ServiceProcess> {
    EXAMPLES
        .iter()
        .map(|name| ServiceProcess::spawn(name, &[]))
        .collect()
}

/// `examples/inputs/order.json`: an order that goes through.
pub fn order_input() -> Value {
    let text = std::fs::read_to_string(example_file("inputs/order.json")).expect("order input");
    serde_json::from_str(&text).expect("JSON")
}

pub fn process<'a>(fleet: &'a [ServiceProcess], name: &str) -> &'a ServiceProcess {
    fleet
        .iter()
        .find(|p| p.name == name)
        .expect("example process")
}

/// `maestro serve`; killed when dropped.
pub struct ServeProcess {
    pub addr: SocketAddr,
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub client: reqwest::Client,
}

/// A `maestro serve` that did not start: its exit code and stderr.
#[derive(Debug)]
pub struct Refused {
    pub code: Option<i32>,
    pub stderr: String,
}

/// How to start the process beyond its arguments.
#[derive(Debug, Default)]
pub struct Launch<'a> {
    /// Environment variables set for it.
    pub env: Vec<(&'a str, &'a str)>,
    /// Its open-file limit (soft and hard), set by the shell that execs it.
    pub open_files: Option<u64>,
}

fn command(fleet: &[ServiceProcess], args: &[&str], launch: &Launch) -> Command {
    let processes: Vec<&ServiceProcess> = fleet.iter().collect();
    let maestro = env!("CARGO_BIN_EXE_maestro");
    let mut command = match launch.open_files {
        Some(limit) => {
            let mut shell = Command::new("sh");
            let script = r#"ulimit -n "$0" && exec "$@""#;
            shell.args(["-c", script, &limit.to_string(), maestro]);
            shell
        }
        None => Command::new(maestro),
    };
    command
        .arg("serve")
        .args(["--port", "0"])
        .args(args)
        .envs(env_for(&processes))
        .env_remove("MAESTRO_TOKEN")
        .env("RUST_LOG", "info")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(launch.env.iter().copied());
    command
}

impl ServeProcess {
    /// Start with the example workflows and `args`; panics if it fails.
    pub fn spawn(fleet: &[ServiceProcess], args: &[&str]) -> ServeProcess {
        let mut all = vec!["--workflows", "examples/workflows"];
        all.extend_from_slice(args);
        Self::try_spawn(fleet, &all)
            .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
    }

    /// Serve only `tests/fixtures/unreachable.yaml`, whose runs end at once,
    /// with bodies of at most `body_limit` bytes: no other process needed.
    pub fn unreachable(body_limit: usize, args: &[&str]) -> ServeProcess {
        let limit = body_limit.to_string();
        let mut all = vec![
            "--workflows",
            "tests/fixtures/unreachable.yaml",
            "--max-body-bytes",
            &limit,
        ];
        all.extend_from_slice(args);
        Self::try_spawn(&[], &all).unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"))
    }

    /// Start with exactly `args` (beyond `--port 0`).
    pub fn try_spawn(fleet: &[ServiceProcess], args: &[&str]) -> Result<ServeProcess, Refused> {
        Self::try_spawn_with(fleet, args, &Launch::default())
    }

    /// Start with exactly `args`, launched as `launch` says.
    pub fn try_spawn_with(
        fleet: &[ServiceProcess],
        args: &[&str],
        launch: &Launch,
    ) -> Result<ServeProcess, Refused> {
        let mut child = command(fleet, args, launch).spawn().expect("maestro runs");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
        if line.trim().is_empty() {
            let status = wait_bounded(&mut child, Duration::from_secs(5));
            // Let the stderr reader drain what the process wrote.
            std::thread::sleep(Duration::from_millis(100));
            let stderr = stderr.lock().unwrap().clone();
            return Err(Refused {
                code: status.and_then(|s| s.code()),
                stderr,
            });
        }
        let ready: Value = serde_json::from_str(line.trim()).expect("the ready line is JSON");
        let addr = ready["listening"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("the ready line names the address");
        // reqwest is built without a default TLS provider; plain HTTP here,
        // but the client still wants one installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(ServeProcess {
            addr,
            child,
            stderr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process, from /proc (Linux), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// GET, expecting JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        status_json(response).await
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        status_json(response).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE");
        status_json(response).await
    }

    /// Submit a run and return its id.
    pub async fn submit(&self, workflow: &str, input: &Value) -> String {
        let (status, body) = self
            .post(
                &format!("/v1/workflows/{workflow}/runs"),
                &serde_json::json!({ "input": input }),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["run_id"].as_str().expect("a run id").to_string()
    }

    /// Poll a run until it is final, at most `limit`.
    pub async fn wait_final(&self, run_id: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = self.get(&format!("/v1/runs/{run_id}")).await;
            assert_eq!(status, 200, "{body}");
            let state = body["status"].as_str().unwrap_or_default();
            if !matches!(state, "queued" | "running") {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} still {state} after {limit:?}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Poll a run until its step `step` shows `outcome`, at most `limit`.
    pub async fn wait_step(&self, run_id: &str, step: &str, outcome: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let (_, run) = self.get(&format!("/v1/runs/{run_id}")).await;
            let steps = run["steps"].as_array().cloned().unwrap_or_default();
            if steps
                .iter()
                .any(|s| s["id"] == step && s["outcome"] == outcome)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "step {step} never became {outcome}: {run}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status (killed after `limit`).
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        wait_bounded(&mut self.child, limit)
    }
}

async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The exit status, or `None` if it had to be killed after `limit`.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
