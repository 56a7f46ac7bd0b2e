//! Signals on `maestro execute`: the first SIGINT or SIGTERM mid-saga starts
//! no new step, cancels the call in flight, undoes what completed, says so
//! and exits 130 or 143; a second one exits at once, the journaled run left
//! to resume.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::journal::StateDir;
use crate::support::{Fault, ServiceProcess, env_for};

const ONBOARD: &str = r#"
name: interrupted
services:
  web:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
    timeout: 60s
steps:
  - id: create_account
    service: web
    method: "POST /accounts"
    input: {email: "ada@example.com", name: Ada}
    output: account
    compensate:
      method: "DELETE /accounts/{{ .account.account_id }}"
  - id: send_email
    service: web
    method: "POST /emails"
    input: {to: "ada@example.com", template: welcome, account_id: "{{ .account.account_id }}"}
  - id: crm_entry
    service: web
    method: "POST /crm/contacts"
    input: {account_id: "{{ .account.account_id }}", email: "ada@example.com"}
"#;

const UNDO: &str = "DELETE /accounts/{id}";
/// Long enough that only a signal ends the call.
const SLOW_MS: u64 = 60_000;

struct Execute {
    child: Child,
    _file: Removed,
}

/// A file removed when dropped.
struct Removed(std::path::PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spawn(web: &ServiceProcess, tag: &str, extra: &[&str]) -> Execute {
    let file =
        std::env::temp_dir().join(format!("maestro-signals-{}-{tag}.yaml", std::process::id()));
    std::fs::write(&file, ONBOARD).expect("the workflow is written");
    let child = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("execute")
        .arg(&file)
        .args(extra)
        .envs(env_for(&[web]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("maestro execute starts");
    Execute {
        child,
        _file: Removed(file),
    }
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

/// Exit code, stdout and stderr, killing the process after 30 s.
fn finish(mut run: Execute) -> (Option<i32>, String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = run.child.try_wait().expect("waitable") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = run.child.kill();
            let _ = run.child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    let _ = run
        .child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out);
    let _ = run
        .child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err);
    (status.and_then(|s| s.code()), out, err)
}

#[test]
fn a_first_signal_mid_saga_undoes_what_completed_and_exits_with_its_code() {
    let web = ServiceProcess::spawn("web_http", &[]);
    for (name, code) in [("INT", 130), ("TERM", 143)] {
        web.clear_calls();
        web.set_fault(Fault::delay("POST /emails", SLOW_MS));
        let run = spawn(&web, name, &[]);
        web.wait_active("POST /emails");
        signal(&run.child, name);
        let (status, stdout, stderr) = finish(run);
        web.clear_faults();

        assert_eq!(status, Some(code), "SIG{name}:\n{stderr}");
        assert_eq!(stdout, "", "a stopped run has no output");
        assert!(
            stderr.contains(&format!("SIG{name}: stopping run")),
            "{stderr}"
        );
        assert!(
            stderr.contains("compensated (in order): create_account"),
            "{stderr}"
        );
        let calls = web.calls();
        let routes: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
        assert_eq!(
            routes,
            ["POST /accounts", "POST /emails", UNDO],
            "no new step after the signal, the call in flight cut, the account undone"
        );
        assert_eq!(calls[1].outcome, "cancelled", "{:#?}", calls[1]);
        assert!(calls[2].ok, "{:#?}", calls[2]);
    }
}

#[test]
fn a_second_signal_exits_at_once_and_the_journaled_run_goes_on_undoing_later() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let dir = StateDir::new("signals");
    let state = ["--state-dir", dir.arg(), "--sync", "normal"];
    web.set_fault(Fault::delay("POST /emails", SLOW_MS));
    web.set_fault(Fault::delay(UNDO, SLOW_MS));
    let run = spawn(&web, "twice", &state);
    web.wait_active("POST /emails");
    signal(&run.child, "INT");
    web.wait_active(UNDO);
    signal(&run.child, "INT");
    let (status, _, stderr) = finish(run);
    assert_eq!(status, Some(130), "{stderr}");
    assert!(stderr.contains("exiting now"), "{stderr}");
    assert!(
        stderr.contains("stays in the journal") && stderr.contains("create_account"),
        "{stderr}"
    );

    // The next start on the journal finishes the undo, with the same key.
    web.clear_faults();
    let (status, _, stderr) = finish(spawn(&web, "again", &state));
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stderr.contains("(interrupted): cancelled"), "{stderr}");
    let undos: Vec<_> = web.calls().into_iter().filter(|c| c.is(UNDO)).collect();
    assert!(undos.iter().any(|c| c.ok), "{undos:#?}");
    let keys: Vec<_> = undos.iter().map(|c| c.idempotency_key.clone()).collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "one key: {keys:?}");
}
