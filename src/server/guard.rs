//! What every request passes before its route, cheapest first: a
//! connection past the cap gets 503 (health checks excepted), then the token
//! or, without one, the Host is checked, and only then is the body read,
//! whole, within its size and time limits. A refused body is never read.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_stream::StreamExt;

use super::auth::{Token, loopback_host};
use super::bodies::Failure;
use super::listen::OverCapacity;

/// What the guard checks against.
#[derive(Debug)]
pub struct Gate {
    pub token: Option<Token>,
    /// The address the server listens on: a Host naming it is loopback.
    pub bound: IpAddr,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
}

/// Why a body was not read whole.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyRefused {
    TooLarge(usize),
    TimedOut(Duration),
    Broken(String),
}

fn is_health(request: &Request) -> bool {
    matches!(request.uri().path(), "/healthz" | "/readyz")
}

/// The middleware: every check, then the route with the body in memory.
/// Every admitted body is read whole before routing, whatever the route
/// does with it: one left unread (a 404, a GET with a body) makes the HTTP
/// layer close the connection after answering without saying so, and a
/// client that sends its next request on it gets a broken pipe.
pub async fn admit(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    if request.extensions().get::<OverCapacity>().is_some() && !is_health(&request) {
        return closing(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            "too many connections are open; try again later",
        ));
    }
    if let Err(refusal) = authorize(&gate, &request) {
        return closing(refusal);
    }
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = gate.max_body_bytes;
    let read = if declared.is_some_and(|n| n > limit as u64) {
        Err(BodyRefused::TooLarge(limit))
    } else {
        read_body(body, limit, gate.body_timeout).await
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(refused) => return closing(body_failure(refused)),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// With a token, every endpoint but the health checks and the console's
/// pages (which hold no data) wants `Authorization: Bearer TOKEN`; without
/// one, the request must name a loopback host.
fn authorize(gate: &Gate, request: &Request) -> Result<(), Failure> {
    if let Some(token) = &gate.token {
        if is_health(request) || super::console::is_public(request.uri().path()) {
            return Ok(());
        }
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if token.matches(given) {
            return Ok(());
        }
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        ));
    }
    let named = [
        request.headers().get(header::HOST).map(HeaderValue::to_str),
        request.uri().authority().map(|a| Ok(a.as_str())),
    ];
    for host in named.into_iter().flatten() {
        match host {
            Ok(host) if loopback_host(host, gate.bound) => {}
            _ => {
                return Err(Failure::new(
                    StatusCode::FORBIDDEN,
                    "host_not_allowed",
                    "without a token this server answers only requests for localhost, \
                     127.0.0.1 or [::1] (pass --token-file to serve other host names)",
                ));
            }
        }
    }
    Ok(())
}

/// Read a body whole: at most `limit` bytes, within `timeout` in all (a
/// client sending a byte now and then is cut at the same time as one that
/// sends nothing).
pub async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, BodyRefused> {
    let read = async {
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| BodyRefused::Broken(e.to_string()))?;
            if bytes.len() + chunk.len() > limit {
                return Err(BodyRefused::TooLarge(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(bytes))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyRefused::TimedOut(timeout)))
}

fn body_failure(refused: BodyRefused) -> Failure {
    match refused {
        BodyRefused::TooLarge(limit) => Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        ),
        BodyRefused::TimedOut(timeout) => Failure::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {}",
                humantime::format_duration(timeout)
            ),
        ),
        BodyRefused::Broken(e) => Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the request body could not be read: {e}"),
        ),
    }
}

/// A refusal that leaves the body unread closes the connection, and says
/// so: the next request on it would otherwise start mid-body.
fn closing(failure: Failure) -> Response {
    let status = failure.status();
    let mut response = failure.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Write the guard's refusals into every operation of the OpenAPI document,
/// so a client generated from it knows them: the body's limits everywhere,
/// the token (or, without one, the Host rule), and the connection cap
/// everywhere but the health checks.
pub fn document_refusals(doc: &mut utoipa::openapi::OpenApi, with_token: bool) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

    let refusal = |description: &str| {
        let json = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ApiError")))
            .build();
        ResponseBuilder::new()
            .description(description)
            .content("application/json", json)
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let health = matches!(path.as_str(), "/healthz" | "/readyz");
        let mut refusals = vec![
            ("400", "bad_request: the request body could not be read"),
            (
                "408",
                "body_timeout: the body did not arrive within --body-timeout",
            ),
            ("413", "body_too_large: the body is over --max-body-bytes"),
        ];
        if with_token && !health {
            refusals.push(("401", "unauthorized: missing or wrong bearer token"));
        }
        if !with_token {
            refusals.push((
                "403",
                "host_not_allowed: a Host that is not loopback, without a token",
            ));
        }
        if !health {
            refusals.push(("503", "too_many_connections: past --max-connections"));
        }
        let operations = [&mut item.get, &mut item.post, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            for (status, description) in &refusals {
                operation
                    .responses
                    .responses
                    .entry((*status).to_string())
                    .or_insert_with(|| refusal(description).into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that sends `chunks` pieces, one every `every`, then stalls.
    fn trickle(chunks: usize, every: Duration) -> Body {
        let stream = async_stream(chunks, every);
        Body::from_stream(stream)
    }

    fn async_stream(
        chunks: usize,
        every: Duration,
    ) -> impl tokio_stream::Stream<Item = Result<Bytes, std::io::Error>> {
        let ticks = tokio_stream::iter(0..chunks).then(move |_| async move {
            tokio::time::sleep(every).await;
            Ok(Bytes::from_static(b"x"))
        });
        ticks.chain(tokio_stream::pending())
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_or_trickles_is_cut_at_the_timeout() {
        let timeout = Duration::from_millis(200);
        let stalled = read_body(trickle(1, Duration::ZERO), 1024, timeout).await;
        assert_eq!(stalled, Err(BodyRefused::TimedOut(timeout)));
        // A byte every 50 ms never stalls, and is cut all the same.
        let trickled = read_body(trickle(1000, Duration::from_millis(50)), 1 << 20, timeout).await;
        assert_eq!(trickled, Err(BodyRefused::TimedOut(timeout)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_in_time_and_size_is_read_whole() {
        let body = Body::from_stream(async_stream(3, Duration::from_millis(10)).take(3));
        let read = read_body(body, 3, Duration::from_secs(1)).await;
        assert_eq!(read, Ok(Bytes::from_static(b"xxx")));
        let over = read_body(trickle(4, Duration::ZERO), 3, Duration::from_secs(1)).await;
        assert_eq!(over, Err(BodyRefused::TooLarge(3)));
    }
}
