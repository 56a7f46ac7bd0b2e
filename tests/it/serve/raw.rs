//! Requests no HTTP client library sends, written on a plain socket to a real
//! `maestro serve`: a chunked body past the limit, a body shorter than its
//! Content-Length, a request line that is not HTTP, a flood of headers. Each
//! gets a 4xx or a closed connection, never a hang, and the server stays up;
//! a connection whose body no route read stays usable.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use super::process::ServeProcess;

/// The server's `--max-body-bytes`.
const BODY_LIMIT: usize = 256 * 1024;
/// No answer may take longer: a hang fails the test.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

pub(super) fn connect(server: &ServeProcess) -> TcpStream {
    let stream = TcpStream::connect(server.addr).expect("connects");
    stream.set_read_timeout(Some(ANSWER_LIMIT)).unwrap();
    stream
}

/// Write `request` on a new connection (then half-close if `close`), read
/// the answer.
pub(super) fn exchange(server: &ServeProcess, request: &[u8], close: bool) -> String {
    let mut stream = connect(server);
    // The server may stop reading early and reset: what it answered first
    // is what counts.
    let _ = stream.write_all(request);
    if close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    read_answer(&mut stream)
}

/// One answer, or what came before the server closed.
pub(super) fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("no answer within {ANSWER_LIMIT:?}; so far: {answer:?}")
            }
            Err(_) => break,
        }
        // One answer is enough: the connection may be kept alive.
        if let Some(end) = find(&answer, b"\r\n\r\n")
            && answer.len() >= end + 4 + content_length(&answer[..end])
        {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// The status of an answer, `None` when the server closed without one.
pub(super) fn status(answer: &str) -> Option<u16> {
    answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[test]
fn requests_no_client_sends_get_a_4xx_or_a_closed_connection() {
    let mut server = ServeProcess::unreachable(BODY_LIMIT, &[]);
    let path = "/v1/workflows/unreachable/runs";

    let mut chunked = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..(BODY_LIMIT / 1000 + 2) {
        chunked.extend_from_slice(format!("3e8\r\n{}\r\n", "x".repeat(1000)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = exchange(&server, &chunked, false);
    println!("chunked body over the limit: {:?}", status(&answer));
    assert_eq!(status(&answer), Some(413), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    assert!(
        answer.to_lowercase().contains("connection: close"),
        "{answer}"
    );

    let short = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: 100\r\n\r\n{{\"input\":{{}}}}"
    );
    let answer = exchange(&server, short.as_bytes(), true);
    println!("body shorter than its length: {:?}", status(&answer));
    assert!(
        matches!(status(&answer), None | Some(400..=499)),
        "{answer}"
    );

    let answer = exchange(&server, b"\x00\x01 NOT HTTP AT ALL\r\n\r\n", true);
    println!("not HTTP: {:?}", status(&answer));
    assert!(
        matches!(status(&answer), None | Some(400..=499)),
        "{answer}"
    );

    let mut flood = String::from("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for n in 0..2000 {
        flood.push_str(&format!("x-flood-{n}: {}\r\n", "y".repeat(64)));
    }
    flood.push_str("\r\n");
    let answer = exchange(&server, flood.as_bytes(), true);
    println!("2000 headers: {:?}", status(&answer));
    assert!(
        matches!(status(&answer), None | Some(400..=499)),
        "{answer}"
    );

    // A body no route reads (here, of an unknown route) is read anyway, so
    // the connection stays usable for the next request.
    let mut stream = connect(&server);
    let unread = format!(
        "POST /nowhere HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {0}\r\n\r\n{1}",
        BODY_LIMIT - 1,
        "z".repeat(BODY_LIMIT - 1)
    );
    stream.write_all(unread.as_bytes()).unwrap();
    let answer = read_answer(&mut stream);
    assert_eq!(status(&answer), Some(404), "{answer}");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .expect("the connection is still open");
    let healthy = read_answer(&mut stream);
    assert_eq!(status(&healthy), Some(200), "{healthy}");
    assert!(server.alive(), "the server died:\n{}", server.stderr());
}
