//! The ledger: a real HTTP service on 127.0.0.1 whose every request carries
//! the answers its attempts get, so a generated workflow scripts each call.
//! It logs every call and, like a careful service, applies an idempotency
//! key's effect at most once (a repeated key is answered from the record).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, serve};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How long a hanging call holds its answer: far beyond any step timeout
/// of the generated workflows, so the caller always gives up first.
const HANG: Duration = Duration::from_secs(5);

/// What one attempt gets. The last answer of a script repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// 200, the effect applied.
    Ok,
    /// 503: not applied, try again.
    Busy,
    /// 400: not applied, and never will be.
    Reject,
    /// The effect applied, then 500: the caller cannot tell.
    Crash,
    /// The effect applied, the answer held until the caller gave up.
    Hang,
    /// The effect applied, the connection dropped instead of an answer.
    Cut,
}

impl Answer {
    /// Whether the ledger applies the effect before answering.
    pub fn applies(self) -> bool {
        matches!(
            self,
            Answer::Ok | Answer::Crash | Answer::Hang | Answer::Cut
        )
    }
}

/// One request as the ledger saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub run_id: String,
    /// The step named by the path.
    pub step: String,
    /// `x-maestro-step-id`.
    pub step_header: String,
    pub key: String,
    /// A compensation (`/undo/...`) rather than a step (`/do/...`).
    pub undo: bool,
    /// 1 for the first call with this key.
    pub attempt: u32,
    /// This call applied the key's effect (a first application).
    pub applied: bool,
    pub body: Value,
    /// Ledger clock ticks when the call arrived and when it was answered.
    pub start: u64,
    pub end: Option<u64>,
}

#[derive(Default)]
struct Book {
    calls: Vec<Call>,
    /// Calls seen per idempotency key.
    attempts: HashMap<String, u32>,
    /// Keys whose effect is applied, with the answer given.
    effects: HashMap<String, Value>,
    clock: u64,
}

impl Book {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

#[derive(Clone, Default)]
pub struct Ledger {
    book: Arc<Mutex<Book>>,
}

impl Ledger {
    /// Serve on a free port until the test's tokio runtime ends; the
    /// endpoint is returned.
    pub async fn start() -> (Ledger, String) {
        let ledger = Ledger::default();
        let app = Router::new()
            .route("/{kind}/{step}", post(handle))
            .with_state(ledger.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("bound");
        tokio::spawn(async move { serve(listener, app).await.expect("the ledger serves") });
        (ledger, format!("http://{addr}"))
    }

    /// The calls of one run, in the order they arrived.
    pub fn calls_of(&self, run_id: &str) -> Vec<Call> {
        let book = self.book.lock().unwrap();
        book.calls
            .iter()
            .filter(|c| c.run_id == run_id)
            .cloned()
            .collect()
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn handle(
    State(ledger): State<Ledger>,
    Path((kind, step)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let key = header(&headers, "idempotency-key");
    let answers: Vec<Answer> =
        serde_json::from_value(body["answers"].clone()).unwrap_or_else(|_| vec![Answer::Ok]);
    let (index, answer, reply) = {
        let mut book = ledger.book.lock().unwrap();
        let seen = book.attempts.entry(key.clone()).or_default();
        *seen += 1;
        let attempt = *seen;
        let answer = answers[(attempt as usize - 1).min(answers.len() - 1)];
        let mut applied = false;
        if answer.applies() && !book.effects.contains_key(&key) {
            applied = true;
            let reply = json!({"id": format!("effect:{key}"), "step": step});
            book.effects.insert(key.clone(), reply);
        }
        let reply = book.effects.get(&key).cloned();
        let start = book.tick();
        book.calls.push(Call {
            run_id: header(&headers, "x-maestro-run-id"),
            step: step.clone(),
            step_header: header(&headers, "x-maestro-step-id"),
            key,
            undo: kind == "undo",
            attempt,
            applied,
            body,
            start,
            end: None,
        });
        (book.calls.len() - 1, answer, reply)
    };
    if answer == Answer::Hang {
        tokio::time::sleep(HANG).await;
    }
    {
        let mut book = ledger.book.lock().unwrap();
        let end = book.tick();
        book.calls[index].end = Some(end);
    }
    match answer {
        Answer::Ok | Answer::Hang => Json(reply.unwrap_or(Value::Null)).into_response(),
        Answer::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy, try again").into_response(),
        Answer::Reject => (StatusCode::BAD_REQUEST, "refused").into_response(),
        Answer::Crash => {
            (StatusCode::INTERNAL_SERVER_ERROR, "crashed after writing").into_response()
        }
        // A body that fails makes the server drop the connection unanswered.
        Answer::Cut => Body::from_stream(tokio_stream::once(Err::<Vec<u8>, _>(
            std::io::Error::other("connection cut"),
        )))
        .into_response(),
    }
}
