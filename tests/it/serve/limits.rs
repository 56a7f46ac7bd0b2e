//! Slow and greedy clients of a real `maestro serve`, on plain sockets:
//! idle sockets and slow bodies are cut at their timeouts, a request without
//! the token is refused before its body is read, and connections past the
//! cap get 503 while the health checks still answer, even when the cap had
//! to be lowered to fit the open-file limit.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::process::{Launch, ServeProcess};
use super::raw::{connect, exchange, read_answer, status};

const BODY_LIMIT: usize = 1024 * 1024;
const SUBMIT: &str = "/v1/workflows/unreachable/runs";
const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

/// Read until the server closes; panics if it keeps the socket open for
/// the read timeout of [`connect`]. Returns what it sent before closing.
fn closed_by_server(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server kept an idle socket open; it sent {seen:?}")
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

fn submission_head(extra: &str, length: usize) -> String {
    format!(
        "POST {SUBMIT} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         {extra}content-length: {length}\r\n\r\n"
    )
}

#[test]
fn idle_sockets_are_closed_after_the_header_timeout() {
    let server = ServeProcess::unreachable(BODY_LIMIT, &["--header-timeout", "200ms"]);

    // Fifty sockets that never send a byte, one with half a head.
    let mut idle: Vec<TcpStream> = (0..50).map(|_| connect(&server)).collect();
    let mut half = connect(&server);
    half.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0")
        .unwrap();
    for stream in &mut idle {
        let sent = closed_by_server(stream);
        assert!(sent.is_empty(), "{sent}");
    }
    closed_by_server(&mut half);

    // Kept alive after an answer, a connection left idle is closed too.
    let mut kept = connect(&server);
    kept.write_all(HEALTH).unwrap();
    assert_eq!(status(&read_answer(&mut kept)), Some(200));
    closed_by_server(&mut kept);

    // A client that sends at once is served as before.
    assert_eq!(status(&exchange(&server, HEALTH, false)), Some(200));
}

#[test]
fn a_slow_body_is_cut_at_the_body_timeout() {
    let server = ServeProcess::unreachable(BODY_LIMIT, &["--body-timeout", "300ms"]);

    // Part of a body, then nothing.
    let mut stalled = connect(&server);
    let head = submission_head("", 1000);
    stalled
        .write_all(format!("{head}{{\"input\":").as_bytes())
        .unwrap();
    let answer = read_answer(&mut stalled);
    assert_eq!(status(&answer), Some(408), "{answer}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    assert!(
        answer.to_lowercase().contains("connection: close"),
        "{answer}"
    );

    // A byte every 20 ms never stalls the read, and is cut all the same.
    let mut trickle = connect(&server);
    trickle.write_all(head.as_bytes()).unwrap();
    let mut writer = trickle.try_clone().unwrap();
    let dripping = std::thread::spawn(move || {
        for _ in 0..500 {
            if writer.write_all(b" ").is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    let answer = read_answer(&mut trickle);
    assert_eq!(status(&answer), Some(408), "{answer}");
    drop(trickle);
    assert!(
        dripping.join().unwrap(),
        "the server read the whole trickle"
    );
}

#[test]
fn without_the_token_the_body_is_never_read() {
    let token = "a-token-of-24-characters";
    let file = std::env::temp_dir().join(format!("maestro-limits-token-{}", std::process::id()));
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let path = file.display().to_string();
    let server = ServeProcess::unreachable(
        BODY_LIMIT,
        &["--token-file", &path, "--body-timeout", "300ms"],
    );
    let _ = std::fs::remove_file(&file);

    // Heads announcing a large body, and no body: the answer comes at once.
    for (what, auth) in [
        ("no token", String::new()),
        (
            "a wrong token",
            "authorization: Bearer not-the-token-at-all\r\n".to_string(),
        ),
    ] {
        let mut stream = connect(&server);
        let head = submission_head(&auth, BODY_LIMIT - 1);
        stream.write_all(head.as_bytes()).unwrap();
        let answer = read_answer(&mut stream);
        assert_eq!(status(&answer), Some(401), "{what}: {answer}");
        assert!(answer.contains("\"unauthorized\""), "{what}: {answer}");

        let chunked = format!(
            "POST {SUBMIT} HTTP/1.1\r\nhost: 127.0.0.1\r\n{auth}transfer-encoding: chunked\r\n\r\n"
        );
        let answer = exchange(&server, chunked.as_bytes(), false);
        assert_eq!(status(&answer), Some(401), "{what}, chunked: {answer}");
    }

    // With the token, the same head waits for its body (then times out).
    let mut stream = connect(&server);
    let head = submission_head(&format!("authorization: Bearer {token}\r\n"), 1000);
    stream.write_all(head.as_bytes()).unwrap();
    let answer = read_answer(&mut stream);
    assert_eq!(status(&answer), Some(408), "{answer}");
}

/// A connection that got one answer to a health check and stays open.
fn held(server: &ServeProcess) -> TcpStream {
    let mut stream = connect(server);
    stream.write_all(HEALTH).unwrap();
    assert_eq!(status(&read_answer(&mut stream)), Some(200));
    stream
}

const WORKFLOWS: &[u8] = b"GET /v1/workflows HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

#[test]
fn connections_past_the_cap_get_503_and_health_checks_still_answer() {
    let server = ServeProcess::unreachable(BODY_LIMIT, &["--max-connections", "3"]);
    let mut open: Vec<TcpStream> = (0..3).map(|_| held(&server)).collect();

    let answer = exchange(&server, WORKFLOWS, false);
    assert_eq!(status(&answer), Some(503), "{answer}");
    assert!(answer.contains("\"too_many_connections\""), "{answer}");
    assert!(
        answer.to_lowercase().contains("connection: close"),
        "{answer}"
    );
    for path in ["/healthz", "/readyz"] {
        let probe = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
        let answer = exchange(&server, probe.as_bytes(), false);
        assert_eq!(status(&answer), Some(200), "{path}: {answer}");
    }

    // One closes: its place is given to the next.
    drop(open.pop());
    let served = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        status(&exchange(&server, WORKFLOWS, false)) == Some(200)
    });
    assert!(served, "a freed place was never given to a new connection");

    // The refusals are counted, and the connections still held are open.
    let scrape = &mut open[0];
    scrape
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let metrics = read_answer(scrape);
    let figure = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} ")));
        let line = line.unwrap_or_else(|| panic!("{name} missing: {metrics}"));
        line[name.len() + 1..].trim().parse().unwrap()
    };
    assert!(
        figure("maestro_http_connections_refused_total") >= 3,
        "{metrics}"
    );
    let held = figure("maestro_http_connections_open");
    assert!((2..=3).contains(&held), "{held} open: {metrics}");
}

#[test]
fn a_cap_beyond_the_open_file_limit_is_lowered_and_health_checks_still_answer() {
    let launch = Launch {
        open_files: Some(300),
        ..Launch::default()
    };
    let args = [
        "--workflows",
        "tests/fixtures/unreachable.yaml",
        "--max-connections",
        "1000",
    ];
    let server = ServeProcess::try_spawn_with(&[], &args, &launch)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"));

    // More sockets than the process may open, all idle.
    let flood: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(server.addr).expect("connects"))
        .collect();
    let healthy = (0..100).any(|_| {
        let mut probe = connect(&server);
        let answered =
            probe.write_all(HEALTH).is_ok() && status(&read_answer(&mut probe)) == Some(200);
        answered || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(healthy, "/healthz never answered:\n{}", server.stderr());
    // The cap is full all the while: anything else is refused.
    let answer = exchange(&server, WORKFLOWS, false);
    assert!(
        matches!(status(&answer), Some(503) | None),
        "past the cap: {answer}"
    );
    // 300 files, less 128 kept and 64 for the overflow.
    let stderr = server.stderr();
    assert!(
        stderr.contains("does not fit the open-file limit")
            && stderr.contains("max_connections=108"),
        "{stderr}"
    );
    drop(flood);
}
