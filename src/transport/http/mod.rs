//! HTTP transport over reqwest: JSON bodies for POST/PUT/PATCH, query strings
//! for GET/DELETE, status codes classified for retry and compensation.

mod body;
pub mod classify;
pub mod path;
pub mod query;

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Client, Method, Url};
use serde_json::Value;

use super::{
    CallError, CallFuture, CallRequest, CallResult, CallTarget, TransportError, timed_out,
};
use crate::telemetry::KeyValue;
use crate::workflow::{ByteSize, HttpService, redact_userinfo};

/// Idle keep-alive connections kept per host when the service declares no
/// `concurrency` (with one, that many). reqwest would keep every one it
/// ever opened (one per concurrent HTTP/1.1 request); a burst of parallel
/// steps should not leave hundreds of sockets open afterwards.
pub const DEFAULT_MAX_IDLE_PER_HOST: usize = 128;
/// How long an idle connection is kept: under the usual 60–120 s server
/// keep-alive, so we rarely reuse a connection the server is closing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(50);
/// Time to establish a connection. A refused or unreachable endpoint fails
/// fast and, since nothing was sent, retryably; the call's own timeout still
/// bounds everything after.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Headers every call carries, so a server can deduplicate retries and
/// trace a call to its run and step.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const RUN_ID: &str = "x-maestro-run-id";
pub const STEP_ID: &str = "x-maestro-step-id";
/// The W3C header naming the attempt's span, when traces are exported.
pub const TRACEPARENT: &str = "traceparent";

/// Bytes of an error response's body read for its message: the message
/// quotes the start of it only, so the rest is not worth holding.
const ERROR_BODY_BYTES: u64 = 16 * 1024;

/// Calls to one HTTP service. The client is a cheap handle on a shared
/// connection pool, cloned into each call's future.
#[derive(Debug)]
pub struct HttpTransport {
    service: Arc<str>,
    endpoint: Url,
    client: Client,
    limit: ByteSize,
    /// Idle connections kept: see [`DEFAULT_MAX_IDLE_PER_HOST`].
    max_idle: usize,
}

/// How many redirects a call follows, as reqwest's default policy.
const MAX_REDIRECTS: usize = 10;

/// Redirects of a service on plain HTTP: followed while they stay on
/// `http`; one to `https` would need the certificates such a client does
/// not load, so it stops with a message naming the endpoint to write.
fn plain_http_redirects(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    if attempt.url().scheme() != "http" {
        let to = redact_userinfo(attempt.url().as_str()).into_owned();
        return attempt.error(format!(
            "the service redirects to {to}; write its https endpoint in the workflow"
        ));
    }
    if attempt.previous().len() >= MAX_REDIRECTS {
        return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
    }
    attempt.follow()
}

impl HttpTransport {
    pub fn new(
        service: &str,
        config: &HttpService,
        limit: ByteSize,
        concurrency: Option<NonZeroU32>,
    ) -> Result<Self, TransportError> {
        // reqwest is built without a bundled crypto provider; ring is the
        // lighter one. Installing twice is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = Client::builder();
        if config.endpoint.scheme() == "http" {
            // The system's root certificates take milliseconds to load and
            // parse, per client: a service on plain HTTP never needs them,
            // and a redirect to https is refused with a message that says so.
            builder = builder
                .tls_certs_only([])
                .redirect(reqwest::redirect::Policy::custom(plain_http_redirects));
        }
        let max_idle = concurrency.map_or(DEFAULT_MAX_IDLE_PER_HOST, |n| n.get() as usize);
        let client = builder
            .pool_max_idle_per_host(max_idle)
            .pool_idle_timeout(DEFAULT_IDLE_TIMEOUT)
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .user_agent(concat!("maestro/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| TransportError::HttpClient {
                service: service.to_string(),
                source,
            })?;
        Ok(Self {
            service: Arc::from(service),
            endpoint: config.endpoint.clone(),
            client,
            limit,
            max_idle,
        })
    }

    /// Start one call; see [`crate::transport::Transport::call`].
    pub fn call(&mut self, req: CallRequest) -> CallFuture {
        let client = self.client.clone();
        let endpoint = self.endpoint.clone();
        let cap = Cap {
            limit: self.limit,
            service: Arc::clone(&self.service),
        };
        Box::pin(async move {
            let timeout = req.timeout;
            let span = super::client_span(&req, &cap.service, || {
                let verb = match &req.target {
                    CallTarget::Http { verb, .. } => verb.to_string(),
                    CallTarget::Grpc { .. } => String::new(),
                };
                vec![KeyValue::new("http.request.method", verb)]
            });
            let request = build_request(&client, &endpoint, req)?;
            let mut status = None;
            let result = tokio::time::timeout(timeout, send(&client, request, &cap, &mut status))
                .await
                .unwrap_or_else(|_| Err(timed_out(timeout)));
            if let Some(span) = span {
                let status = status.map(|s| KeyValue::new("http.response.status_code", s));
                span.end(status, super::span_error(&result));
            }
            result
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "http {} (up to {} idle connections)",
            redact_userinfo(self.endpoint.as_str()),
            self.max_idle
        )
    }

    pub fn pool_size(&self) -> usize {
        self.max_idle
    }

    pub fn service(&self) -> &str {
        &self.service
    }
}

fn build_request(
    client: &Client,
    endpoint: &Url,
    req: CallRequest,
) -> Result<reqwest::Request, CallError> {
    let CallTarget::Http { verb, path } = &req.target else {
        return Err(CallError::permanent(
            "a gRPC method cannot be called on an HTTP service",
        ));
    };
    let mut url = join(endpoint, path).map_err(CallError::permanent)?;
    let carries_body = matches!(*verb, Method::POST | Method::PUT | Method::PATCH);
    if !carries_body {
        let params = query::flatten(&req.body).map_err(CallError::permanent)?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
    }
    let mut builder = client
        .request(verb.clone(), url)
        .headers(headers(&req).map_err(CallError::permanent)?);
    if carries_body && !req.body.is_null() {
        builder = builder.json(&*req.body);
    }
    builder
        .build()
        .map_err(|e| CallError::permanent(format!("invalid request: {e}")))
}

/// The endpoint with the step's path appended: `http://h/api` and
/// `/orders/1` give `http://h/api/orders/1`. Only the path is parsed (the
/// endpoint was, once): this runs for every request.
fn join(endpoint: &Url, path: &str) -> Result<Url, String> {
    let base = endpoint.as_str().trim_end_matches('/');
    let path = path.trim_start_matches('/');
    if path.contains(['?', '#']) || endpoint.query().is_some() || endpoint.cannot_be_a_base() {
        return Url::parse(&format!("{base}/{path}"))
            .map_err(|e| format!("invalid URL for path `{path}`: {e}"));
    }
    let mut url = endpoint.clone();
    let prefix = endpoint.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}/{path}"));
    Ok(url)
}

/// Maestro's headers, then the request's own; a request header with the
/// same name (say, an `Idempotency-Key` built from the input) wins.
fn headers(req: &CallRequest) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in [
        (IDEMPOTENCY_KEY, &req.idempotency_key),
        (RUN_ID, &req.run_id),
        (STEP_ID, &req.step_id),
    ] {
        map.insert(HeaderName::from_static(name), header_value(name, value)?);
    }
    if let Some(trace) = &req.trace {
        let value = HeaderValue::try_from(trace.traceparent()).map_err(|e| e.to_string())?;
        map.insert(HeaderName::from_static(TRACEPARENT), value);
    }
    let mut seen = HashSet::new();
    for (name, value) in req.headers.iter() {
        let mut value = header_value(name.as_str(), value)?;
        // Kept out of the HTTP stack's own debug output: headers often
        // carry credentials.
        value.set_sensitive(true);
        if seen.insert(name) {
            map.insert(name.clone(), value);
        } else {
            map.append(name.clone(), value);
        }
    }
    Ok(map)
}

/// The value is not quoted in the message: it may hold a credential.
fn header_value(name: &str, value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value).map_err(|_| {
        format!("header `{name}` has a value that cannot be sent: it holds control characters")
    })
}

/// The service's limit on a response, and its name for the message.
struct Cap {
    limit: ByteSize,
    service: Arc<str>,
}

/// Send and read the answer; `seen` is given its status as soon as it comes.
async fn send(
    client: &Client,
    request: reqwest::Request,
    cap: &Cap,
    seen: &mut Option<i64>,
) -> CallResult {
    let mut response = client
        .execute(request)
        .await
        .map_err(|e| classify::classify_send_error(&e))?;
    let status = response.status();
    *seen = Some(i64::from(status.as_u16()));
    let headers = response.headers().clone();
    if status.is_success() {
        return match body::read_body(&mut response, cap.limit.bytes()).await {
            Ok(Some(body)) => Ok(output(&headers, &body)),
            Ok(None) => Err(super::too_large(cap.limit, &cap.service)),
            // The status line arrived, so the server has the request.
            Err(e) => Err(body_failed(status, &e)),
        };
    }
    // An error's body only gives the message its excerpt.
    let limit = cap.limit.bytes().min(ERROR_BODY_BYTES);
    let body = body::read_prefix(&mut response, limit)
        .await
        .map_err(|e| body_failed(status, &e))?;
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| classify::parse_retry_after(v, SystemTime::now()));
    Err(classify::classify_status(status, retry_after, &body))
}

fn body_failed(status: reqwest::StatusCode, e: &reqwest::Error) -> CallError {
    CallError::unknown(format!("HTTP {status}: reading the body failed: {e}"))
}

/// A 2xx body as the step's output: JSON as is, anything else as a string,
/// nothing as `null`. A body is read as JSON unless it declares another type.
pub fn output(headers: &HeaderMap, body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    let declared = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let may_be_json = declared.is_none_or(|t| {
        let t = t
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        t == "application/json" || t.ends_with("+json")
    });
    if may_be_json && let Ok(value) = serde_json::from_slice(body) {
        return value;
    }
    Value::String(String::from_utf8_lossy(body).into_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with_type(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    #[test]
    fn bodies_become_outputs() {
        let json_type = with_type("application/json; charset=utf-8");
        assert_eq!(output(&json_type, br#"{"id": 7}"#), json!({"id": 7}));
        assert_eq!(output(&HeaderMap::new(), b"[1,2]"), json!([1, 2]));
        assert_eq!(output(&json_type, b""), Value::Null);
        assert_eq!(output(&HeaderMap::new(), b" \n"), Value::Null);
        assert_eq!(output(&with_type("text/plain"), b"42"), json!("42"));
        assert_eq!(output(&json_type, b"not json"), json!("not json"));
        assert_eq!(
            output(&with_type("application/problem+json"), br#"{"a":1}"#),
            json!({"a": 1})
        );
    }

    #[test]
    fn a_header_value_cannot_add_a_header_and_is_not_echoed() {
        let err = header_value("authorization", "Bearer sk_live\r\nX-Admin: 1").unwrap_err();
        assert!(err.contains("`authorization`"), "{err}");
        assert!(
            !err.contains("sk_live") && !err.contains("X-Admin"),
            "{err}"
        );
    }

    #[test]
    fn paths_are_appended_to_the_endpoint() {
        let base = Url::parse("http://127.0.0.1:8080/api/").unwrap();
        assert_eq!(
            join(&base, "/orders/1").unwrap().as_str(),
            "http://127.0.0.1:8080/api/orders/1"
        );
        let root = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            join(&root, "orders?x=1").unwrap().as_str(),
            "http://127.0.0.1:8080/orders?x=1"
        );
    }

    #[test]
    fn appending_only_the_path_gives_what_parsing_the_whole_url_gives() {
        for endpoint in [
            "http://127.0.0.1:8080",
            "http://h:1/api",
            "http://h/api/v1/",
        ] {
            let base = Url::parse(endpoint).unwrap();
            for path in [
                "/a",
                "a/b",
                "/o rders/\u{e9}/1",
                "/%41/x y",
                "//twice",
                "/a/../b",
                "",
            ] {
                let whole = format!(
                    "{}/{}",
                    endpoint.trim_end_matches('/'),
                    path.trim_start_matches('/')
                );
                assert_eq!(
                    join(&base, path).unwrap(),
                    Url::parse(&whole).unwrap(),
                    "{endpoint} + {path}"
                );
            }
        }
    }
}
