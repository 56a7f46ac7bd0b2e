//! `maestro execute` of a workflow that waits for a signal, and `maestro
//! signal` reaching it through the state directory: the run id is printed
//! while it waits; a signal posted while no process runs is taken by the
//! run once resumed; a kill -9 while waiting repeats no call.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::journal::StateDir;
use crate::support::{ServiceProcess, env_for, example_file};

const INPUT: &str = r#"{"email": "ana@example.com", "name": "Ana"}"#;
const LIMIT: Duration = Duration::from_secs(30);

/// `maestro execute` of the approval example, its stderr collected.
struct Execute {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Execute {
    fn spawn(web: &ServiceProcess, state: &StateDir) -> Execute {
        let mut child = Command::new(env!("CARGO_BIN_EXE_maestro"))
            .arg("execute")
            .arg(example_file("workflows/account_approval.yaml"))
            .args(["--input", INPUT, "--state-dir", state.arg()])
            .envs(env_for(&[web]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("maestro execute starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut pipe, sink) = (child.stderr.take().expect("piped"), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Execute { child, stderr }
    }

    /// The id in the `n`-th "send it: maestro signal RUN" line, once there.
    fn waiting_run(&self, n: usize) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let text = self.stderr.lock().unwrap().clone();
            let ids: Vec<&str> = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("send it: maestro signal "))
                .filter_map(|rest| rest.split_whitespace().next())
                .collect();
            if let Some(id) = ids.get(n) {
                return (*id).to_owned();
            }
            assert!(Instant::now() < deadline, "no wait announced: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish(mut self) -> (i32, Value, String) {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "execute did not end");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        let _ = self
            .child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout);
        std::thread::sleep(Duration::from_millis(50));
        let stderr = self.stderr.lock().unwrap().clone();
        let output = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (status.code().unwrap_or(-1), output, stderr)
    }
}

fn send(state: &StateDir, run: &str, payload: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["signal", run, "manager_approval", "--payload", payload])
        .args(["--state-dir", state.arg()])
        .output()
        .expect("maestro signal runs")
}

fn applied(web: &ServiceProcess, method: &str) -> usize {
    let calls = web.calls_to(method);
    calls.iter().filter(|c| c.ok && !c.replayed).count()
}

#[test]
fn a_signal_from_the_command_line_ends_the_wait() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let state = StateDir::new("execute-wait");
    let execute = Execute::spawn(&web, &state);
    let run = execute.waiting_run(0);
    let sent = send(&state, &run, r#"{"approved": true, "by": "cli"}"#);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let answer: Value = serde_json::from_slice(&sent.stdout).expect("JSON");
    assert_eq!(answer["run_id"], run.as_str());
    let (code, output, stderr) = execute.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(output["approved_by"], "cli");
    assert_eq!(output["status"], "active");
    // Once the run has ended, the command line says so.
    let late = send(&state, &run, "{}");
    assert_eq!(late.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&late.stderr).contains("has finished"));
}

#[test]
fn a_run_killed_while_waiting_takes_the_signal_posted_meanwhile() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let state = StateDir::new("execute-wait-kill");
    let mut first = Execute::spawn(&web, &state);
    let run = first.waiting_run(0);
    first.child.kill().expect("kill -9");
    let _ = first.child.wait();
    // Posted with nobody driving the run: kept in the state directory.
    let sent = send(&state, &run, r#"{"approved": true, "by": "meanwhile"}"#);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );

    // The next execute resumes the run, which takes it, then starts its own.
    let second = Execute::spawn(&web, &state);
    let fresh = second.waiting_run(0);
    assert_ne!(
        fresh, run,
        "the resumed run took its signal without waiting"
    );
    let sent = send(&state, &fresh, r#"{"approved": false, "by": "bob"}"#);
    assert!(sent.status.success());
    let (code, output, stderr) = second.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(output["approved_by"], "bob");
    assert!(
        stderr.contains(&format!("resumed run {run} (account_approval): succeeded")),
        "{stderr}"
    );
    // Two runs, two accounts: the killed run's was not created again.
    assert_eq!(applied(&web, "POST /accounts"), 2);
    assert_eq!(applied(&web, "POST /accounts/{id}/activate"), 1);
}

#[test]
fn without_a_journal_a_waiting_workflow_is_refused_before_it_starts() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("execute")
        .arg(example_file("workflows/account_approval.yaml"))
        .args(["--input", INPUT])
        .envs(env_for(&[&web]))
        .output()
        .expect("maestro execute runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("waits for signal `manager_approval`"),
        "{stderr}"
    );
    assert!(web.calls().is_empty());
}
