//! The services a workflow calls, as validated: how each is reached, its
//! limits and its policies.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use prost_reflect::DescriptorPool;

use super::Header;
use crate::resilience::{BreakerConfig, Rate, RetryPolicy};

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub kind: ServiceKind,
    /// Per-attempt timeout of calls to this service.
    pub timeout: Option<Duration>,
    pub retry: RetryPolicy,
    pub circuit_breaker: BreakerConfig,
    /// Largest response accepted; a larger one fails the attempt, permanently.
    pub max_response_bytes: ByteSize,
    /// Calls in flight at once, across every run sharing the service's
    /// actor; the others wait their turn within their attempt's time.
    pub concurrency: Option<NonZeroU32>,
    /// Calls started per period, paced evenly by the service's actor.
    pub rate: Option<Rate>,
}

impl Service {
    /// The endpoint as configured, its user name and password hidden: the
    /// one form that logs, status and metrics show.
    pub fn endpoint_for_display(&self) -> String {
        let endpoint = match &self.kind {
            ServiceKind::Grpc(grpc) => grpc.endpoint.to_string(),
            ServiceKind::Http(http) => http.endpoint.to_string(),
        };
        redact_userinfo(&endpoint).into_owned()
    }
}

/// `scheme://user:password@host/...` (or `user:password@host:port`) with
/// the user information replaced by `***`; any other text as it is. Works
/// on text that does not parse, for messages about endpoints that do not.
pub fn redact_userinfo(text: &str) -> Cow<'_, str> {
    let authority_start = text.find("://").map_or(0, |end| end + 3);
    let rest = &text[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!("{}***{}", &text[..authority_start], &rest[at..])),
        None => Cow::Borrowed(text),
    }
}

/// A number of bytes, shown in the largest binary unit that divides it
/// (`4 MiB`, `512 KiB`, `1500 B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{} {unit}", self.0 / size);
            }
        }
        write!(f, "{} B", self.0)
    }
}

#[derive(Debug, Clone)]
pub enum ServiceKind {
    Grpc(GrpcService),
    Http(HttpService),
}

#[derive(Debug, Clone)]
pub struct GrpcService {
    /// `http://host:port` (a bare `host:port` in the file gets `http://`).
    pub endpoint: http::Uri,
    /// Distinct HTTP/2 connections, at least 1.
    pub pool_size: usize,
    pub descriptors: DescriptorSource,
}

/// Where a gRPC service's message types come from.
#[derive(Debug, Clone)]
pub enum DescriptorSource {
    /// Asked of the server (`grpc.reflection.v1`, then `v1alpha`).
    Reflection,
    /// Compiled from `proto:` files at load time.
    Files {
        files: Vec<PathBuf>,
        pool: DescriptorPool,
    },
}

#[derive(Debug, Clone)]
pub struct HttpService {
    /// Base URL; a step's path is appended to it.
    pub endpoint: reqwest::Url,
    pub headers: Vec<Header>,
}

#[cfg(test)]
mod tests {
    use super::super::{DEFAULT_MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES_CEILING};
    use super::*;

    #[test]
    fn user_information_is_hidden_from_shown_endpoints() {
        assert_eq!(
            redact_userinfo("http://user:pa:ss@h:80/p@q"),
            "http://***@h:80/p@q"
        );
        assert_eq!(redact_userinfo("https://token@h"), "https://***@h");
        assert_eq!(redact_userinfo("http://h:80/a@b"), "http://h:80/a@b");
        assert_eq!(redact_userinfo("localhost:50051"), "localhost:50051");
        assert_eq!(redact_userinfo("u:p@localhost:1"), "***@localhost:1");
        assert_eq!(redact_userinfo("http://u:p@[::1"), "http://***@[::1");
    }

    #[test]
    fn sizes_show_in_their_largest_whole_unit() {
        assert_eq!(DEFAULT_MAX_RESPONSE_BYTES.to_string(), "4 MiB");
        assert_eq!(ByteSize(512 * 1024).to_string(), "512 KiB");
        assert_eq!(ByteSize(1500).to_string(), "1500 B");
        assert_eq!(ByteSize(0).to_string(), "0 B");
        assert_eq!(MAX_RESPONSE_BYTES_CEILING.to_string(), "1 GiB");
    }
}
