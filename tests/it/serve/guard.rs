//! Who may call a real `maestro serve`: tokens too short or empty refuse
//! the start, a token read from a file never shows in `ps`, and without a
//! token only requests naming a loopback host are answered (a web page
//! whose domain was rebound to 127.0.0.1 names its own).

use super::process::{Launch, ServeProcess};
use super::raw::{exchange, status};

const TOKEN: &str = "0123456789abcdef-token";

fn refused(args: &[&str], launch: &Launch) -> String {
    let mut all = vec!["--workflows", "tests/fixtures/unreachable.yaml"];
    all.extend_from_slice(args);
    match ServeProcess::try_spawn_with(&[], &all, launch) {
        Ok(_) => panic!("{args:?} {launch:?}: the server started"),
        Err(refused) => {
            assert_eq!(refused.code, Some(2), "{args:?}: {}", refused.stderr);
            refused.stderr
        }
    }
}

fn token_file(name: &str, content: &str) -> String {
    let path = std::env::temp_dir().join(format!("maestro-{name}-{}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn empty_or_short_tokens_refuse_to_start() {
    let plain = Launch::default();
    let stderr = refused(&["--token", ""], &plain);
    assert!(stderr.contains("the token is empty"), "{stderr}");
    let empty_env = Launch {
        env: vec![("MAESTRO_TOKEN", "")],
        ..Launch::default()
    };
    let stderr = refused(&[], &empty_env);
    assert!(stderr.contains("the token is empty"), "{stderr}");
    let stderr = refused(&["--token", "x"], &plain);
    assert!(stderr.contains("1 bytes long; at least 16"), "{stderr}");
    let stderr = refused(&["--bind", "0.0.0.0", "--token", "x"], &plain);
    assert!(stderr.contains("at least 16"), "{stderr}");
    assert!(!stderr.contains(" x "), "the token is not echoed: {stderr}");

    let empty = token_file("empty-token", "");
    let newline = token_file("newline-token", "\n");
    let short = token_file("short-token", "tooshort\n");
    for (file, expected) in [
        (&empty, "the token is empty"),
        (&newline, "the token is empty"),
        (&short, "8 bytes long"),
    ] {
        let stderr = refused(&["--token-file", file], &plain);
        assert!(stderr.contains(expected), "{file}: {stderr}");
        assert!(
            stderr.contains("--token-file"),
            "names the source: {stderr}"
        );
        let _ = std::fs::remove_file(file);
    }
    let stderr = refused(&["--token-file", "/nonexistent/token"], &plain);
    assert!(stderr.contains("/nonexistent/token"), "{stderr}");
    let both = token_file("both-token", TOKEN);
    let stderr = refused(&["--token-file", &both, "--token", TOKEN], &plain);
    assert!(stderr.contains("give the token once"), "{stderr}");
    let _ = std::fs::remove_file(&both);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_a_file_guards_the_api_and_stays_out_of_ps() {
    let file = token_file("file-token", &format!("{TOKEN}\r\n"));
    let server = ServeProcess::unreachable(1024, &["--token-file", &file]);
    let _ = std::fs::remove_file(&file);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid())).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(TOKEN),
        "the token shows in the command line"
    );
    let url = server.url("/v1/workflows");
    let without = server.client.get(&url).send().await.unwrap();
    assert_eq!(without.status().as_u16(), 401);
    let with = server
        .client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        with.status().as_u16(),
        200,
        "the file's newline is not part of the token"
    );
    let doc: serde_json::Value = server
        .client
        .get(server.url("/openapi.json"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let submit = &doc["paths"]["/v1/workflows/{name}/runs"]["post"]["responses"];
    assert!(submit["401"].is_object(), "401 documented: {submit}");
    assert!(
        submit["403"].is_null(),
        "no Host rule with a token: {submit}"
    );
    let health = &doc["paths"]["/healthz"]["get"]["responses"];
    assert!(health["401"].is_null(), "health is open: {health}");
}

fn get_with_host(server: &ServeProcess, path: &str, host: &str, auth: Option<&str>) -> String {
    let auth = auth.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n{auth}\r\n");
    exchange(server, request.as_bytes(), false)
}

#[test]
fn without_a_token_only_loopback_host_names_are_answered() {
    let server = ServeProcess::unreachable(1024, &[]);
    let port = server.addr.port();
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("192.168.1.10:{port}"),
    ] {
        for path in ["/v1/workflows", "/v1/runs", "/healthz"] {
            let answer = get_with_host(&server, path, &host, None);
            assert_eq!(status(&answer), Some(403), "{host} {path}: {answer}");
            assert!(answer.contains("\"host_not_allowed\""), "{answer}");
        }
        let submit = format!(
            "POST /v1/workflows/unreachable/runs HTTP/1.1\r\nhost: {host}\r\n\
             content-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
        );
        let answer = exchange(&server, submit.as_bytes(), false);
        assert_eq!(status(&answer), Some(403), "{host}: {answer}");
    }
    for host in [
        "localhost".to_string(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
        format!("[::1]:{port}"),
    ] {
        let answer = get_with_host(&server, "/v1/workflows", &host, None);
        assert_eq!(status(&answer), Some(200), "{host}: {answer}");
    }

    // With a token, the name does not matter: the token does.
    let file = token_file("host-token", TOKEN);
    let guarded = ServeProcess::unreachable(1024, &["--token-file", &file]);
    let _ = std::fs::remove_file(&file);
    let answer = get_with_host(&guarded, "/v1/workflows", "evil.example", Some(TOKEN));
    assert_eq!(status(&answer), Some(200), "{answer}");
    let answer = get_with_host(&guarded, "/v1/workflows", "evil.example", None);
    assert_eq!(status(&answer), Some(401), "{answer}");
}
