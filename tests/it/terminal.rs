//! What reaches a terminal: escape sequences from a service's answer, a
//! run's input or a workflow file are printed escaped by `execute`, `runs
//! show` and `validate`, never passed through for the terminal to obey.

use std::process::Command;

use serde_json::{Value, json};

use crate::journal::StateDir;

/// Clears the screen, retitles the window, rings the bell.
const HOSTILE: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}";
const SHOWN: &str = "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}";

fn maestro<A: AsRef<std::ffi::OsStr>>(args: &[A], env: &[(&str, String)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("maestro runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_escaped(what: &str, text: &str) {
    assert!(
        !text.chars().any(|c| c == '\u{1b}' || c == '\u{7}'),
        "{what} passed a control character through:\n{text:?}"
    );
    assert!(
        text.contains(SHOWN),
        "{what} does not show it escaped:\n{text}"
    );
}

/// A service that refuses a name by quoting it back in plain text, as
/// many do: whatever the input held reaches the error message raw.
async fn echoing_service() -> std::net::SocketAddr {
    use axum::http::{StatusCode, header};
    async fn refuse(axum::Json(body): axum::Json<Value>) -> impl axum::response::IntoResponse {
        let name = body["name"].as_str().unwrap_or_default().to_owned();
        let text = format!("bad name: {name}\r\n");
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "text/plain")],
            text,
        )
    }
    let app = axum::Router::new().route("/greet", axum::routing::post(refuse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

const GREET: &str = r#"
name: greet
services:
  echo: {type: http, endpoint: "${ECHO_SERVICE}"}
steps:
  - id: greet
    service: echo
    method: "POST /greet"
    input: {name: "{{ .input.name }}"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_service_echoes_from_the_input_is_escaped_in_the_timeline_and_runs_show() {
    let addr = echoing_service().await;
    let dir = StateDir::new("terminal");
    std::fs::create_dir_all(dir.path()).expect("a folder");
    let file = dir.path().join("greet.yaml");
    std::fs::write(&file, GREET).expect("written");
    let input = json!({ "name": HOSTILE }).to_string();
    let args = [
        "execute",
        file.to_str().expect("UTF-8"),
        "--input",
        &input,
        "--state-dir",
        dir.arg(),
    ];
    let env = [("ECHO_SERVICE", format!("http://{addr}"))];
    let (code, _, stderr) = tokio::task::spawn_blocking({
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        move || maestro(&args, &env)
    })
    .await
    .expect("joined");
    assert_eq!(code, 1, "the name is refused:\n{stderr}");
    assert!(stderr.contains("bad name"), "{stderr}");
    assert_escaped("execute's timeline", &stderr);

    let env = [("ECHO_SERVICE", format!("http://{addr}"))];
    let (code, listed, _) = maestro(&["runs", "list", "--state-dir", dir.arg()], &env);
    assert_eq!(code, 0);
    let run_id = listed.split_whitespace().next().expect("one run");
    let show = ["runs", "show", run_id, "--state-dir", dir.arg()];
    let (code, shown, stderr) = maestro(&show, &env);
    assert_eq!(code, 0, "{stderr}");
    assert_escaped("runs show", &shown);
}

#[test]
fn validate_escapes_what_it_quotes_from_a_file() {
    let dir = StateDir::new("terminal-validate");
    std::fs::create_dir_all(dir.path()).expect("a folder");
    let file = dir.path().join("hostile.yaml");
    let yaml = format!(
        "name: hostile\nservices:\n  web: {{type: http, endpoint: \"http://127.0.0.1:1\"}}\nsteps:\n  - id: a\n    service: web\n    method: \"POST /a\"\n    \"{}\": 1\n",
        HOSTILE.replace('\u{1b}', "\\e").replace('\u{7}', "\\a")
    );
    std::fs::write(&file, yaml).expect("written");
    let (code, _, stderr) = maestro(&["validate", file.to_str().expect("UTF-8")], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_escaped("validate", &stderr);
}
