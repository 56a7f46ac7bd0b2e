//! What an HTTP status or a client error means for retry and compensation,
//! and the server's `Retry-After` read as a delay.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

use crate::transport::CallError;

/// Characters of a response body quoted in an error message: enough to
/// show a server's error text, short enough for a log line.
pub const DEFAULT_EXCERPT_CHARS: usize = 200;

/// The error for a non-2xx response.
///
/// 408, 429, 502, 503 and 504 say the request was not processed and may be
/// tried again (honouring `Retry-After`); 500 and the other 5xx may have been
/// applied; every other status (4xx, and 3xx left after redirects) will not
/// change on retry.
pub fn classify_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> CallError {
    let message = status_message(status, body);
    match status.as_u16() {
        408 | 429 | 502 | 503 | 504 => CallError::retryable(message).with_retry_after(retry_after),
        500..=599 => CallError::unknown(message),
        _ => CallError::permanent(message),
    }
}

/// A failure of the client before a status arrived. A refused or unresolved
/// connection sent nothing and can be retried; anything later may have
/// reached the server.
pub fn classify_send_error(error: &reqwest::Error) -> CallError {
    let message = error_chain(error);
    if error.is_builder() {
        CallError::permanent(format!("invalid request: {message}"))
    } else if error.is_redirect() {
        // The service answered with a redirect Maestro does not follow.
        CallError::permanent(message)
    } else if error.is_connect() {
        CallError::retryable(format!("cannot connect: {message}"))
    } else {
        CallError::unknown(format!("request failed after sending: {message}"))
    }
}

/// `Retry-After` as a delay: whole seconds, or an HTTP date (a date in the
/// past means "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `HTTP 503 Service Unavailable: <start of the body>`.
fn status_message(status: StatusCode, body: &[u8]) -> String {
    let excerpt = excerpt(body);
    if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    }
}

/// The start of a body on one line, cut at a character boundary.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(DEFAULT_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// reqwest's top-level message hides the cause ("error sending request");
/// the chain names it ("Connection refused").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::FailureClass::{Permanent, Retryable, Unknown};

    fn class(code: u16) -> crate::transport::FailureClass {
        classify_status(StatusCode::from_u16(code).unwrap(), None, b"").class
    }

    #[test]
    fn statuses_are_classified() {
        for code in [408, 429, 502, 503, 504] {
            assert_eq!(class(code), Retryable, "{code}");
        }
        for code in [500, 501, 505, 507, 599] {
            assert_eq!(class(code), Unknown, "{code}");
        }
        for code in [400, 401, 403, 404, 409, 422, 304] {
            assert_eq!(class(code), Permanent, "{code}");
        }
    }

    #[test]
    fn retry_after_is_kept_only_where_it_means_something() {
        let wait = Some(Duration::from_secs(3));
        let e = classify_status(StatusCode::SERVICE_UNAVAILABLE, wait, b"");
        assert_eq!(e.retry_after, wait);
        let e = classify_status(StatusCode::BAD_REQUEST, wait, b"");
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn message_has_status_and_body_excerpt() {
        let e = classify_status(
            StatusCode::BAD_REQUEST,
            None,
            b"{\"error\":\n  \"bad sku\"}",
        );
        assert_eq!(e.message, "HTTP 400 Bad Request: {\"error\": \"bad sku\"}");
        let long = "é".repeat(500);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), DEFAULT_EXCERPT_CHARS + 1);
        assert_eq!(
            classify_status(StatusCode::BAD_GATEWAY, None, b"").message,
            "HTTP 502 Bad Gateway"
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
