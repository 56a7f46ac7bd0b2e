//! Credentials in a workflow: an endpoint's user name and password never
//! show in `serve`'s API, metrics or logs, and `${NAME}` in headers is
//! read from the environment, sent, and kept out of the journal.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::json;

use super::{Scratch, contains, maestro_async, serve};
use crate::serve::process::ServeProcess;

/// The password of the endpoint, and the token of the header.
const PASSWORD: &str = "hunter2-endpoint-pass";
const TOKEN: &str = "tok-9f8e7d6c5b4a-header-secret";

/// Answers `POST /check` with `{"ok": true}` when the request carries
/// `Authorization: expected`, 401 otherwise, and records what it received;
/// it never echoes a credential back.
fn checking_app(expected: String, seen: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new().route(
        "/check",
        post(move |headers: HeaderMap| async move {
            let got = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let ok = got == expected;
            seen.lock().unwrap().push(got);
            match ok {
                true => (StatusCode::OK, Json(json!({"ok": true}))),
                false => (StatusCode::UNAUTHORIZED, Json(json!({"ok": false}))),
            }
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_never_shows_an_endpoints_password() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    // reqwest sends the URL's user and password as basic authentication.
    let basic = "Basic c3ZjLXVzZXI6aHVudGVyMi1lbmRwb2ludC1wYXNz";
    let url = serve(checking_app(basic.into(), seen.clone())).await;
    let with_password = url.replace("http://", &format!("http://svc-user:{PASSWORD}@"));
    let scratch = Scratch::new("secret-endpoint");
    let yaml = format!(
        "name: vaulted\nservices:\n  vault:\n    type: http\n    endpoint: \"{with_password}\"\nsteps:\n  - {{id: check, service: vault, method: \"POST /check\", output: checked}}\n"
    );
    let file = scratch.write("vaulted.yaml", &yaml);
    let args = [
        "--workflows",
        file.to_str().unwrap(),
        "--enable-fault-injection",
    ];
    let server = ServeProcess::try_spawn(&[], &args).expect("maestro serve starts");

    let run = server.submit("vaulted", &json!({})).await;
    let report = server.wait_final(&run, Duration::from_secs(30)).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(*seen.lock().unwrap(), [basic], "the credentials still work");

    let (_, services) = server.get("/v1/services").await;
    let (_, killed) = server
        .post("/v1/admin/services/vault/kill", &json!({}))
        .await;
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown = url.replace("http://", "http://***@");
    assert_eq!(services["services"][0]["endpoint"], format!("{shown}/"));
    assert_eq!(killed["endpoint"], format!("{shown}/"));
    assert!(
        metrics.contains(&format!("endpoint=\"{shown}/\"")),
        "{metrics}"
    );
    // The killed actor restarts and logs its transport again.
    for _ in 0..100 {
        let (_, now) = server.get("/v1/services").await;
        if now["services"][0]["restarts"] == 1 && now["services"][0]["alive"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (what, text) in [
        ("/v1/services", services.to_string()),
        ("the kill answer", killed.to_string()),
        ("/metrics", metrics),
        ("the report", report.to_string()),
        ("the log", server.stderr()),
    ] {
        assert!(
            !text.contains(PASSWORD),
            "{what} shows the password:\n{text}"
        );
    }
    assert!(
        server.stderr().contains("***@127.0.0.1"),
        "{}",
        server.stderr()
    );
}

fn header_workflow() -> String {
    "name: bearer\nservices:\n  api:\n    type: http\n    endpoint: \"${API_URL}\"\n    headers:\n      X-Api-Key: \"${API_KEY:-none}\"\nsteps:\n  - id: check\n    service: api\n    method: \"POST /check\"\n    headers:\n      Authorization: \"Bearer ${API_TOKEN}\"\n    output: checked\n".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_reads_the_environment_and_the_journal_keeps_only_the_reference() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let bearer = format!("Bearer {TOKEN}");
    let url = serve(checking_app(bearer.clone(), seen.clone())).await;
    let scratch = Scratch::new("secret-header");
    scratch.write("bearer.yaml", &header_workflow());
    let state = scratch.0.join("state");
    let state = state.to_str().unwrap();
    let args = [
        "execute",
        "bearer.yaml",
        "--input",
        "{}",
        "--output",
        "json",
        "--state-dir",
        state,
    ];
    let env = [("API_URL", url.as_str()), ("API_TOKEN", TOKEN)];
    let exit = maestro_async(&scratch.0, &args, &env).await;
    assert_eq!(exit.code, 0, "{}\n{}", exit.stdout, exit.stderr);
    assert_eq!(exit.json()["steps"][0]["outcome"], "ok");
    assert_eq!(
        *seen.lock().unwrap(),
        [bearer],
        "the header is sent expanded"
    );

    let journal = scratch.bytes_under("state");
    assert!(!contains(&journal, TOKEN), "the journal holds the token");
    assert!(
        contains(&journal, "Bearer ${API_TOKEN}"),
        "the journal keeps the definition as written"
    );
    assert!(!exit.stdout.contains(TOKEN) && !exit.stderr.contains(TOKEN));
    let run_id = exit.json()["run_id"].as_str().unwrap().to_string();
    let show = ["runs", "show", &run_id, "--state-dir", state, "--json"];
    let shown = maestro_async(&scratch.0, &show, &env).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(!shown.stdout.contains(TOKEN), "{}", shown.stdout);
}

#[tokio::test]
async fn validate_reports_an_unset_header_variable_where_it_is_read() {
    let scratch = Scratch::new("secret-unset");
    scratch.write("bearer.yaml", &header_workflow());
    let env = [("API_URL", "http://127.0.0.1:9")];
    let exit = maestro_async(&scratch.0, &["validate", "bearer.yaml"], &env).await;
    assert_eq!(exit.code, 2, "{}", exit.stdout);
    assert!(
        exit.stderr.contains(
            "bearer.yaml:13:22: steps[0].headers.Authorization: environment variable `API_TOKEN` is not set"
        ),
        "{}",
        exit.stderr
    );
    let with_token = [env[0], ("API_TOKEN", "t")];
    let exit = maestro_async(&scratch.0, &["validate", "bearer.yaml"], &with_token).await;
    assert_eq!(exit.code, 0, "{}", exit.stderr);
}
