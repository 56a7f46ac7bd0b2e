//! The HTTP API of a real `maestro serve` under fuzzing: random, malformed,
//! mistyped, deeply nested and oversized bodies, odd content types and
//! headers, junk in paths and queries, unknown routes and wrong methods, on
//! every operation of /openapi.json. Every error is JSON and a 4xx
//! (a 5xx only where the document lists it for the operation), the server
//! stays up and its memory bounded. `PROPTEST_CASES=N` sends N requests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Value, json};

use super::process::ServeProcess;
use crate::props::{config, json, text};

/// The server's `--max-body-bytes`.
const BODY_LIMIT: usize = 64 * 1024;
/// How much the server's resident memory may grow over the whole session.
const RSS_GROWTH_LIMIT_KIB: u64 = 256 * 1024;

const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "FUZZ",
];
const SEGMENTS: [&str; 9] = ["%2F", "..", "%00", "%20", "💥", "a%", "%zz", "-", "~"];
const QUERIES: [&str; 12] = [
    "wait=true",
    "wait=maybe",
    "wait=true&wait=false",
    "limit=3",
    "limit=99999999999999999999999",
    "limit=-1",
    "status=running",
    "status=sleeping",
    "workflow=unreachable",
    "%zz=1",
    "a=%ff%fe",
    "&&==&",
];
const CONTENT_TYPES: [&str; 8] = [
    "application/json",
    "application/json; charset=utf-8",
    "application/merge-patch+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin1",
    "*/*",
];
const HEADERS: [(&str, &str); 7] = [
    ("accept", "application/xml"),
    ("accept", "text/html;q=0.1, */*;q=0"),
    ("content-encoding", "gzip"),
    ("authorization", "Bearer not-a-token"),
    ("x-forwarded-for", "999.999.999.999, junk"),
    ("accept-charset", "ebcdic"),
    ("x-maestro-run-id", "../../etc/passwd"),
];
/// Bodies that once tripped JSON parsers somewhere.
const ODD_BODIES: [&str; 9] = [
    r#"{"input":{},"input":{}}"#,
    r#"{"input":1e400}"#,
    "\u{feff}{}",
    r#"{"input":{"a":"\ud800"}}"#,
    "null",
    "[]",
    r#"{"input":null}"#,
    r#"{"input":"\u0000"}"#,
    r#"{"input":{"a":1}} trailing"#,
];

/// One documented operation.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    path: String,
    statuses: Vec<u16>,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let mut statuses: Vec<u16> = op["responses"]
                .as_object()
                .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
                .unwrap_or_default();
            if path.ends_with("/runs") && method == "post" {
                // Documented for a server shutting down, which this is not.
                statuses.retain(|s| *s != 503);
            }
            out.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                statuses,
            });
        }
    }
    out
}

#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    Text(String),
    Bytes(Vec<u8>),
    /// `{"input": ` then `depth` times `open`, a 1, and the closers.
    Nested {
        depth: usize,
        open: &'static str,
    },
    /// A valid submission of about this many bytes.
    Filler(usize),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Filler(n) => write!(f, "Filler({n} bytes)"),
            Body::Nested { depth, open } => write!(f, "Nested({depth} x {open})"),
            other => write!(f, "{}", String::from_utf8_lossy(&other.bytes())),
        }
    }
}

impl Body {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Body::None => Vec::new(),
            Body::Json(v) => v.to_string().into_bytes(),
            Body::Text(t) => t.clone().into_bytes(),
            Body::Bytes(b) => b.clone(),
            Body::Nested { depth, open } => {
                let close = if *open == "[" { "]" } else { "}" };
                format!(
                    "{{\"input\":{}1{}}}",
                    open.repeat(*depth),
                    close.repeat(*depth)
                )
                .into_bytes()
            }
            Body::Filler(n) => {
                let blob = "x".repeat(n.saturating_sub(24));
                json!({"input": {"blob": blob}}).to_string().into_bytes()
            }
        }
    }
}

/// One request, and the statuses its operation documents (none off-route).
#[derive(Debug, Clone)]
struct Probe {
    method: String,
    path: String,
    query: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, &'static str)>,
    body: Body,
    documented: Vec<u16>,
}

fn body() -> impl Strategy<Value = Body> {
    let truncated = (json(), any::<prop::sample::Index>()).prop_map(|(input, at)| {
        let mut bytes = json!({ "input": input }).to_string().into_bytes();
        bytes.truncate(at.index(bytes.len()));
        Body::Bytes(bytes)
    });
    prop_oneof![
        2 => Just(Body::None),
        3 => prop::collection::vec(("[a-z_]{1,6}", json()), 0..4).prop_map(|fields| {
            let input: serde_json::Map<String, Value> = fields.into_iter().collect();
            Body::Json(json!({ "input": input }))
        }),
        2 => json().prop_map(|input| Body::Json(json!({ "input": input }))),
        2 => json().prop_map(Body::Json),
        1 => (json(), json()).prop_map(|(a, b)| Body::Json(json!({"input": a, "extra": b}))),
        2 => text().prop_map(Body::Text),
        2 => truncated,
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Body::Bytes),
        1 => (
            prop::sample::select(vec![16usize, 127, 128, 129, 1_000, 10_000, 40_000]),
            prop::sample::select(vec!["[", "{\"a\":"]),
        )
            .prop_map(|(depth, open)| Body::Nested { depth, open }),
        1 => prop::sample::select(vec![BODY_LIMIT - 64, BODY_LIMIT + 1, 4 * BODY_LIMIT, 16 * BODY_LIMIT])
            .prop_map(Body::Filler),
        1 => prop::sample::select(ODD_BODIES.to_vec()).prop_map(|b| Body::Text(b.into())),
    ]
}

fn content_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        3 => Just("application/json"),
        2 => prop::sample::select(CONTENT_TYPES.to_vec()),
    ]
}

/// A path segment: a name the server knows, or junk.
fn segment(known: Vec<String>) -> impl Strategy<Value = String> {
    let encoded = prop::collection::vec(any::<u8>(), 1..8).prop_map(|bytes| {
        bytes
            .iter()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    });
    prop_oneof![
        4 => prop::sample::select(known),
        2 => "[a-zA-Z0-9_.~-]{1,16}",
        2 => encoded,
        1 => Just("x".repeat(4096)),
        1 => prop::sample::select(SEGMENTS.to_vec()).prop_map(String::from),
    ]
}

fn probe(ops: Vec<Operation>, known: Vec<String>) -> impl Strategy<Value = Probe> {
    // Submissions are what reads bodies: they get a share of their own.
    let submit = ops
        .iter()
        .find(|op| op.method == "POST" && op.path.ends_with("/runs"))
        .expect("the submit operation")
        .clone();
    let submission = prop_oneof![
        3 => Just("unreachable".to_string()),
        1 => segment(known.clone()),
    ]
    .prop_map(move |name| (Some(submit.clone()), submit.path.replace("{name}", &name)));
    let path = prop_oneof![
        3 => submission,
        5 => (prop::sample::select(ops), segment(known.clone()), segment(known.clone()))
            .prop_map(|(op, a, b)| {
                let path = op.path.replacen("{name}", &a, 1).replacen("{id}", &b, 1);
                (Some(op), path)
            }),
        1 => prop::collection::vec(segment(known), 0..4)
            .prop_map(|segments| (None, format!("/{}", segments.join("/")))),
    ];
    let method =
        prop_oneof![3 => Just(None), 1 => prop::sample::select(METHODS.to_vec()).prop_map(Some)];
    (
        path,
        method,
        prop_oneof![
            2 => Just(Vec::new()),
            1 => prop::collection::vec(prop::sample::select(QUERIES.to_vec()), 1..3),
        ],
        prop::option::weighted(0.8, content_type()),
        prop::collection::vec(prop::sample::select(HEADERS.to_vec()), 0..3),
        body(),
    )
        .prop_map(|((op, path), method, query, content_type, headers, body)| {
            let method = method.map(String::from);
            let (method, documented) = match (&op, method) {
                (Some(op), None) => (op.method.clone(), op.statuses.clone()),
                // HEAD is served by the GET handler.
                (Some(op), Some(m)) if m == op.method || (m == "HEAD" && op.method == "GET") => {
                    (m, op.statuses.clone())
                }
                (_, m) => (m.unwrap_or_else(|| "GET".into()), Vec::new()),
            };
            Probe {
                method,
                path,
                query: query.join("&"),
                content_type,
                headers,
                body,
                documented,
            }
        })
}

/// Send one probe: its status, `None` for a body over the limit whose
/// answer was lost; `Err` for an answer that breaks the rules.
async fn send(server: &ServeProcess, probe: &Probe) -> Result<Option<u16>, String> {
    let mut url = server.url(&probe.path);
    if !probe.query.is_empty() {
        url = format!("{url}?{}", probe.query);
    }
    let method = reqwest::Method::from_bytes(probe.method.as_bytes()).expect("a method");
    let bytes = probe.body.bytes();
    let oversized = bytes.len() > BODY_LIMIT;
    let mut request = server.client.request(method, &url).body(bytes);
    if let Some(ct) = probe.content_type {
        request = request.header("content-type", ct);
    }
    for (name, value) in &probe.headers {
        request = request.header(*name, *value);
    }
    let response = match request.send().await {
        Ok(response) => response,
        // Refused unread: the answer can be lost to the connection's reset
        // while the client is still sending.
        Err(_) if oversized => return Ok(None),
        Err(e) => return Err(format!("no answer: {e:?}")),
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // An event stream stays open: its status and type are the answer.
    if status < 300 && content_type.starts_with("text/event-stream") {
        return Ok(Some(status));
    }
    let text = response
        .text()
        .await
        .map_err(|e| format!("{status}: body: {e}"))?;
    if status >= 500 && !probe.documented.contains(&status) {
        return Err(format!("{status}, not documented: {text}"));
    }
    if oversized && status != 413 {
        return Err(format!("{status} for a body over the limit: {text}"));
    }
    // Successes that are not JSON say so: metrics, an SVG graph, a page.
    let other = !content_type.starts_with("application/json");
    if probe.method == "HEAD" || (status < 400 && (probe.path == "/metrics" || other)) {
        return Ok(Some(status));
    }
    let body: Value = serde_json::from_str(&text)
        .map_err(|_| format!("{status} with a body that is not JSON ({content_type}): {text}"))?;
    if status >= 400 && !status_is_health(probe, status) {
        let code = body["error"]["code"].as_str().unwrap_or_default();
        if code.is_empty() || !body["error"]["message"].is_string() {
            return Err(format!("{status} without a JSON error: {text}"));
        }
    }
    Ok(Some(status))
}

/// `/readyz` answers 503 with its own `{"status": ...}` body (documented).
fn status_is_health(probe: &Probe, status: u16) -> bool {
    probe.path == "/readyz" && status == 503
}

#[test]
fn fuzzed_requests_get_json_answers_and_the_server_stays_up() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut server = ServeProcess::unreachable(BODY_LIMIT, &["--enable-fault-injection"]);
    let (doc, known) = tokio.block_on(async {
        let (_, doc) = server.get("/openapi.json").await;
        let run = server.submit("unreachable", &json!({})).await;
        let names = vec!["unreachable".into(), "nowhere".into(), run];
        (doc, names)
    });
    let ops = operations(&doc);
    let rss_before = server.rss_kib();
    let statuses = Mutex::new(BTreeMap::<String, u32>::new());
    let mut runner_config = config(300);
    runner_config.source_file = Some(file!());
    let result = TestRunner::new(runner_config).run(&probe(ops, known), |probe| {
        let status = tokio
            .block_on(send(&server, &probe))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{probe:?}")))?;
        let key = status.map_or("reset".into(), |s| s.to_string());
        *statuses.lock().unwrap().entry(key).or_default() += 1;
        Ok(())
    });
    let rss_after = server.rss_kib();
    let statuses = statuses.into_inner().unwrap();
    println!(
        "serve fuzz: {} requests, by status {statuses:?}; VmRSS {rss_before:?} -> {rss_after:?} KiB",
        statuses.values().sum::<u32>()
    );
    if let Err(e) = result {
        panic!("{e}\nserver stderr (end):\n{}", tail(&server.stderr()));
    }
    assert!(
        server.alive(),
        "the server died:\n{}",
        tail(&server.stderr())
    );
    let (status, _) = tokio.block_on(server.get("/healthz"));
    assert_eq!(status, 200);
    assert!(
        !server.stderr().contains("panicked"),
        "{}",
        tail(&server.stderr())
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        assert!(
            after < before + RSS_GROWTH_LIMIT_KIB,
            "resident memory grew from {before} to {after} KiB"
        );
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
