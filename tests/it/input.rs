//! A run's input, read strictly by a real `maestro serve` and by `maestro
//! execute` alike: a key given twice (at any depth), a null input and an
//! integer beyond 64 bits are refused with where they are; every integer
//! accepted reaches the service's request body digit for digit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::serve::process::ServeProcess;

const U64_MAX: &str = "18446744073709551615";
const I64_MIN: &str = "-9223372036854775808";
const PAST_U64: &str = "18446744073709551616";

/// An HTTP service on 127.0.0.1 that answers `{}` to `count` requests and
/// hands over each request's body as sent.
struct Recorder {
    addr: SocketAddr,
    bodies: mpsc::Receiver<String>,
}

fn recorder(count: usize) -> Recorder {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, bodies) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                  content-length: 2\r\nconnection: close\r\n\r\n{}",
            );
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    Recorder { addr, bodies }
}

/// A workflow that sends `big` and `small` from its input to `service`.
fn digits_workflow(service: SocketAddr, test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("maestro-input-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("digits.yaml");
    let yaml = format!(
        r#"name: digits
services:
  recorder:
    type: http
    endpoint: "http://{service}"
    retry: {{attempts: 1}}
steps:
  - id: send
    service: recorder
    method: "POST /ids"
    input: {{big: "{{{{ .input.big }}}}", small: "{{{{ .input.small }}}}"}}
"#
    );
    std::fs::write(&file, yaml).unwrap();
    file
}

async fn submit(server: &ServeProcess, workflow: &str, body: &str) -> (u16, Value) {
    let response = server
        .client
        .post(server.url(&format!("/v1/workflows/{workflow}/runs?wait=true")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_keys_given_twice_and_a_null_input() {
    let server = ServeProcess::unreachable(64 * 1024, &[]);
    for (body, status, named) in [
        (r#"{"input": {}, "input": {}}"#, 422, "`input`"),
        (r#"{"input": {"a": {"b": 1, "b": 2}}}"#, 422, "input.a"),
        (
            r#"{"input": {"items": [{"k": 1, "k": 1}]}}"#,
            422,
            "input.items[0]",
        ),
        (r#"{"input": null}"#, 422, "not null"),
        (r#"{"input": {"n": 1e400}}"#, 400, "out of range"),
        (r#"{"input": {"a": 1}} trailing"#, 400, "trailing"),
    ] {
        let (got, answer) = submit(&server, "unreachable", body).await;
        assert_eq!(got, status, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{body}: {message}");
    }
    let (got, answer) = submit(
        &server,
        "unreachable",
        r#"{"input": {"a": {"k": 1}, "b": {"k": 1}}}"#,
    )
    .await;
    assert_eq!(got, 200, "the same key in two objects is fine: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integers_reach_the_service_digit_for_digit_or_are_refused() {
    let service = recorder(1);
    let workflow = digits_workflow(service.addr, "api");
    let path = workflow.display().to_string();
    let server = ServeProcess::try_spawn(&[], &["--workflows", &path])
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"));

    let body = format!(r#"{{"input": {{"big": {PAST_U64}, "small": 1}}}}"#);
    let (status, answer) = submit(&server, "digits", &body).await;
    assert_eq!(status, 422, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("input.big") && message.contains(PAST_U64),
        "{message}"
    );

    let body = format!(r#"{{"input": {{"big": {U64_MAX}, "small": {I64_MIN}}}}}"#);
    let (status, run) = submit(&server, "digits", &body).await;
    assert_eq!(
        (status, run["status"].as_str()),
        (200, Some("succeeded")),
        "{run}"
    );
    let sent = service
        .bodies
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert!(sent.contains(&format!("\"big\":{U64_MAX}")), "{sent}");
    assert!(sent.contains(&format!("\"small\":{I64_MIN}")), "{sent}");
}

fn execute(workflow: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("execute")
        .arg(workflow)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("maestro runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), stderr)
}

#[test]
fn execute_refuses_what_the_api_refuses() {
    let service = recorder(1);
    let workflow = digits_workflow(service.addr, "cli");
    let path = workflow.display().to_string();
    let file = workflow.with_file_name("input.json");
    std::fs::write(&file, format!("{{\"big\": 1,\n \"small\": {PAST_U64}}}")).unwrap();
    let input_file = file.display().to_string();

    for (args, named) in [
        (
            vec!["--input", r#"{"big": 1, "big": 2}"#],
            "the key `big` is given twice",
        ),
        (
            vec!["--input", r#"{"o": {"x": [{"y": 1, "y": 1}]}}"#],
            "input.o.x[0]",
        ),
        (vec!["--input", "null"], "not null"),
        (vec!["--input-file", &input_file], "input.small"),
    ] {
        let (code, stderr) = execute(&path, &args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    assert!(
        service.bodies.try_recv().is_err(),
        "nothing was called for a refused input"
    );

    let input = format!(r#"{{"big": {U64_MAX}, "small": {I64_MIN}}}"#);
    let (code, stderr) = execute(&path, &["--input", &input]);
    assert_eq!(code, 0, "{stderr}");
    let sent = service
        .bodies
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert!(sent.contains(&format!("\"big\":{U64_MAX}")), "{sent}");
    assert!(sent.contains(&format!("\"small\":{I64_MIN}")), "{sent}");
}
