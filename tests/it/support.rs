//! Test helpers: start the example services (the crate's cargo examples) as
//! child processes on free ports, read and clear their call logs, inject
//! faults through their admin listener, and point workflows at them.

// Each test module uses a different part of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The example processes, by cargo example name.
pub const EXAMPLES: [&str; 4] = ["core_grpc", "web_http", "commerce_grpc", "docs_grpc"];

/// How long a process may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A running example process; killed when dropped.
pub struct ServiceProcess {
    /// The cargo example's name, e.g. `core_grpc`.
    pub name: String,
    /// Where its services listen.
    pub addr: SocketAddr,
    /// Where its admin listener (`/calls`, `/faults`) listens.
    pub admin: SocketAddr,
    pub child: Child,
}

impl ServiceProcess {
    /// Starts example `name` with `args` (on free ports unless `args` has `--port` / `--admin-port`) and waits for its ready line.
    pub fn spawn(name: &str, args: &[&str]) -> ServiceProcess {
        let binary = example_binary(name);
        let mut command = Command::new(&binary);
        for flag in ["--port", "--admin-port"] {
            if !args
                .iter()
                .any(|a| *a == flag || a.starts_with(&format!("{flag}=")))
            {
                command.args([flag, "0"]);
            }
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));

        // Read the ready line on a thread so the wait is bounded, then keep
        // draining stdout so a chatty child never blocks on a full pipe.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) if !line.trim().is_empty() => line,
            Ok(_) => {
                let status = child.wait().ok();
                panic!("{name} exited before it was ready ({status:?})");
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} printed no ready line within {READY_TIMEOUT:?}");
            }
        };
        let ready: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("{name}: ready line `{}` is not JSON: {e}", line.trim()));
        let address = |key: &str| -> SocketAddr {
            ready[key]
                .as_str()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("{name}: ready line has no `{key}` address: {ready}"))
        };
        ServiceProcess {
            name: name.to_owned(),
            addr: address("listening"),
            admin: address("admin"),
            child,
        }
    }

    /// The address as a workflow `endpoint`: `127.0.0.1:PORT` for gRPC processes, `http://127.0.0.1:PORT` for HTTP ones.
    pub fn endpoint(&self) -> String {
        if self.name.ends_with("_http") {
            format!("http://{}", self.addr)
        } else {
            self.addr.to_string()
        }
    }

    /// The variable the example workflows read this process's endpoint from (`core_grpc` -> `MAESTRO_CORE_GRPC`).
    pub fn env_var(&self) -> String {
        format!("MAESTRO_{}", self.name.to_uppercase())
    }

    /// Every finished call so far, in the order they started.
    pub fn calls(&self) -> Vec<CallRecord> {
        let body = self.admin_ok("GET", "/calls", None);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{}: bad /calls: {e}", self.name))
    }

    /// The calls inside the process right now (`outcome` still empty).
    pub fn active_calls(&self) -> Vec<CallRecord> {
        let body = self.admin_ok("GET", "/calls/active", None);
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{}: bad /calls/active: {e}", self.name))
    }

    /// The most calls that were inside the process at once since its log
    /// was last cleared.
    pub fn peak_active(&self) -> usize {
        let body = self.admin_ok("GET", "/calls/peak", None);
        let peak: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{}: bad /calls/peak: {e}", self.name));
        peak["peak"].as_u64().expect("a count") as usize
    }

    /// Polls the service (every 10 ms, at most 30 s) until a call to
    /// `method` is in flight there.
    pub fn wait_active(&self, method: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.active_calls().iter().any(|c| c.is(method)) {
            assert!(
                Instant::now() < deadline,
                "{}: `{method}` never started",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The calls whose method, `Service/Method`, route or path is `method` (`Charge`, `PaymentService/Charge`, `POST /accounts`, `/accounts/acc_000001`).
    pub fn calls_to(&self, method: &str) -> Vec<CallRecord> {
        self.calls().into_iter().filter(|c| c.is(method)).collect()
    }

    /// Forgets the call log, attempt counts and stored idempotent answers (faults stay).
    pub fn clear_calls(&self) {
        self.admin_ok("DELETE", "/calls", None);
    }

    /// Adds a fault; several faults can be active at once.
    pub fn set_fault(&self, fault: Fault) {
        let body = serde_json::to_string(&fault).expect("a fault serializes");
        self.admin_ok("POST", "/faults", Some(&body));
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.admin_ok("DELETE", "/faults", None);
    }

    /// Sends SIGTERM and waits (up to 10 s, then kills) for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = self.child.kill();
                    return self.child.wait().expect("the child can be waited for");
                }
            }
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn admin_ok(&self, verb: &str, path: &str, body: Option<&str>) -> String {
        let (status, text) = admin_request(self.admin, verb, path, body)
            .unwrap_or_else(|e| panic!("{}: {verb} {path}: {e}", self.name));
        assert!(
            (200..300).contains(&status),
            "{}: {verb} {path} answered {status}: {text}",
            self.name
        );
        text
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The environment that points the example workflows' `${MAESTRO_...}` endpoints at these processes.
pub fn env_for(processes: &[&ServiceProcess]) -> Vec<(String, String)> {
    processes
        .iter()
        .map(|p| (p.env_var(), p.endpoint()))
        .collect()
}

/// A run report's compensations, in order: step, whether it succeeded,
/// and its attempts.
pub fn compensations(report: &Value) -> Vec<(&str, bool, u64)> {
    report["compensations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let step = c["step"].as_str().unwrap_or_default();
            (step, c["ok"] == true, c["attempts"].as_u64().unwrap_or(0))
        })
        .collect()
}

/// The path of `examples/workflows/NAME` (or of any file under examples/ given as `inputs/order.json`).
pub fn example_file(name: &str) -> PathBuf {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    if name.contains('/') {
        examples.join(name)
    } else {
        examples.join("workflows").join(name)
    }
}

/// One call as an example process logged it (`GET /calls` on its admin listener).
#[derive(Debug, Clone, Deserialize)]
pub struct CallRecord {
    /// Order in which the calls started.
    pub seq: u64,
    /// `grpc` or `http`.
    pub protocol: String,
    /// gRPC: `package.Service`; HTTP: the service's name in the workflows (`legacy_service`).
    pub service: String,
    /// gRPC: `Method`; HTTP: verb and route (`DELETE /accounts/{id}`).
    pub method: String,
    /// The request path (`/accounts/acc_000001`).
    pub path: String,
    pub idempotency_key: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    /// 1 for the first call with this idempotency key to this method.
    pub attempt: u32,
    /// Request headers or gRPC metadata, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The request as JSON (a gRPC message with proto field names).
    pub request: Value,
    pub ok: bool,
    /// `ok`, a gRPC code name (`UNAVAILABLE`), an HTTP status (`503`), or `cancelled` when the caller went away first.
    pub outcome: String,
    /// The HTTP status of the answer.
    pub status: Option<u16>,
    pub message: Option<String>,
    pub response: Option<Value>,
    /// The failure was injected (chaos, a fault, `--fail-rate`).
    pub injected: bool,
    /// Answered from the idempotency store without running again.
    pub replayed: bool,
    /// Server-side, microseconds since the Unix epoch.
    pub start_us: u64,
    pub end_us: u64,
    /// The client's address: one per connection.
    pub peer: String,
}

impl CallRecord {
    /// Whether `method` names this call (see [`ServiceProcess::calls_to`]).
    pub fn is(&self, method: &str) -> bool {
        let short = self.service.rsplit('.').next().unwrap_or(&self.service);
        method == self.method
            || method == self.path
            || method == format!("{}/{}", self.service, self.method)
            || method == format!("{short}/{}", self.method)
    }

    /// Whether the two calls were in the server at the same time.
    pub fn overlaps(&self, other: &CallRecord) -> bool {
        self.start_us < other.end_us && other.start_us < self.end_us
    }

    /// Time spent in the server.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.end_us.saturating_sub(self.start_us))
    }

    /// Whether the service's own logic ran: a success that was not a replay
    /// of a stored answer, or a failure injected after applying the call.
    /// A call cancelled during an injected delay never reached that logic.
    pub fn took_effect(&self) -> bool {
        (self.ok && !self.replayed) || (self.injected && self.response.is_some())
    }
}

/// A fault for `POST /faults`: calls matching `method` (`*`, `Charge`, `PaymentService/Charge`, `POST /enrich`, a service name) fail or slow down.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub method: String,
    /// The next N matching calls fail.
    pub fail_next: u32,
    /// gRPC code name or HTTP status, e.g. `UNAVAILABLE`, `INVALID_ARGUMENT`, `503`.
    pub code: Option<String>,
    /// Added to matching calls.
    pub delay_ms: u64,
    /// Only the next N calls are delayed; `None`: all of them.
    pub delay_next: Option<u32>,
    /// `Retry-After` (HTTP) or `retry-after` metadata (gRPC) on the failures.
    pub retry_after_s: Option<u32>,
}

impl Fault {
    /// The next `times` calls to `method` fail with `code`.
    pub fn fail(method: &str, times: u32, code: &str) -> Fault {
        Fault {
            method: method.to_owned(),
            fail_next: times,
            code: Some(code.to_owned()),
            delay_ms: 0,
            delay_next: None,
            retry_after_s: None,
        }
    }

    /// Every call to `method` takes `ms` longer (until the faults are cleared).
    pub fn delay(method: &str, ms: u64) -> Fault {
        Fault {
            method: method.to_owned(),
            fail_next: 0,
            code: None,
            delay_ms: ms,
            delay_next: None,
            retry_after_s: None,
        }
    }

    /// Only the next `calls` calls are delayed.
    pub fn times(mut self, calls: u32) -> Fault {
        self.delay_next = Some(calls);
        self
    }

    /// Failures carry a `Retry-After` of `seconds`.
    pub fn retry_after(mut self, seconds: u32) -> Fault {
        self.retry_after_s = Some(seconds);
        self
    }
}

/// `target/debug/examples/NAME`, next to this test binary's `deps/` folder.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let binary = profile_dir.join("examples").join(name);
    assert!(
        binary.is_file(),
        "example `{name}` is not built at {}: run `cargo build --examples`",
        binary.display()
    );
    binary
}

/// A minimal HTTP/1.1 exchange with an admin listener: status and body.
fn admin_request(
    addr: SocketAddr,
    verb: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, ADMIN_TIMEOUT)?;
    stream.set_read_timeout(Some(ADMIN_TIMEOUT))?;
    stream.set_write_timeout(Some(ADMIN_TIMEOUT))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{verb} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, payload) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in `{head}`")))?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let payload = if chunked {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    Ok((status, payload))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn every_example_process_starts_and_answers_its_admin_listener() {
    for name in EXAMPLES {
        let mut process = ServiceProcess::spawn(name, &[]);
        assert!(
            process.calls().is_empty(),
            "{name} logged calls nobody made"
        );
        process.set_fault(Fault::fail("*", 1, "UNAVAILABLE").retry_after(1));
        process.clear_faults();
        process.clear_calls();
        let status = process.stop();
        assert!(
            status.success(),
            "{name} did not exit cleanly on SIGTERM: {status}"
        );
    }
}

/// Creates an account, then activates it; the account is undone by a
/// DELETE. Two attempts per call: faults decide how far it gets.
pub const RETRIED: &str = r#"
name: retried
services:
  web:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: 2, initial_interval: 10ms}
steps:
  - id: create_account
    service: web
    method: "POST /accounts"
    input: {email: "{{ .input.email }}", name: Ana}
    output: account
    compensate:
      method: "DELETE /accounts/{{ .account.account_id }}"
  - id: activate
    service: web
    method: "POST /accounts/{{ .account.account_id }}/activate"
"#;
