//! The `services:` block: protocol, endpoint, timeouts, retry, circuit
//! breaker, limits (concurrency and rate), gRPC pool and `.proto` files,
//! HTTP headers.

use std::num::NonZeroU32;
use std::sync::Arc;

use prost_reflect::DescriptorPool;

use super::dataflow::{Scope, Use};
use super::policy::{breaker, retry};
use super::{Cx, Fields, endpoint, headers, join, proto, scalar};
use crate::resilience::{BreakerConfig, Rate, RateError, RetryPolicy};
use crate::workflow::model::{
    ByteSize, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_POOL_SIZE, DescriptorSource, GrpcService,
    HttpService, MAX_CONCURRENCY, MAX_RESPONSE_BYTES_CEILING, Service, ServiceKind,
};
use crate::workflow::suggest;
use crate::workflow::yaml::{Key, Kind, Node};

pub(crate) const POOL_FIELDS: &[&str] = &["size"];

pub(crate) const SERVICE_FIELDS: &[&str] = &[
    "type",
    "endpoint",
    "timeout",
    "retry",
    "circuit_breaker",
    "pool",
    "proto",
    "import_paths",
    "headers",
    "max_response_bytes",
    "concurrency",
    "rate",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    Http,
}

/// A service as far as it decoded: steps are checked against what is known
/// of it even when another of its fields is wrong.
#[derive(Debug)]
pub struct Declared {
    pub name: String,
    pub protocol: Option<Protocol>,
    /// Present when `proto:` files compiled, to check methods against.
    pub pool: Option<DescriptorPool>,
    /// The service's policy, which a step's `retry` is merged over.
    pub retry: RetryPolicy,
    /// `None` when any of its fields is wrong.
    pub built: Option<Arc<Service>>,
}

/// Every service the file declares, in file order.
#[derive(Debug, Default)]
pub struct Services {
    list: Vec<Declared>,
    /// Data read by service headers, checked with the other templates.
    pub header_uses: Vec<Use>,
}

impl Services {
    pub fn get(&self, name: &str) -> Option<&Declared> {
        self.list.iter().find(|d| d.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.list.iter().map(|d| d.name.as_str())
    }

    /// The model's services, if every one of them decoded.
    pub fn built(&self) -> Option<Vec<Arc<Service>>> {
        self.list.iter().map(|d| d.built.clone()).collect()
    }
}

pub fn decode_all(cx: &mut Cx<'_>, entry: Option<(&Key, &Node)>) -> Services {
    let mut services = Services::default();
    let Some((_, node)) = entry else {
        return services;
    };
    let entries = match &node.kind {
        Kind::Map(entries) => entries,
        // `services:` with nothing under it: no services, which the steps'
        // "unknown service" reports then explain.
        Kind::Null => return services,
        other => {
            let found = other.describe();
            cx.report(
                node.pos(),
                "services",
                format!("expected a mapping of service names to services, found {found}"),
                Some("write `services:` then one `name:` block per service".into()),
            );
            return services;
        }
    };
    for (key, value) in entries {
        let declared = decode_one(cx, key, value, &mut services.header_uses);
        services.list.push(declared);
    }
    services
}

fn decode_one(cx: &mut Cx<'_>, key: &Key, node: &Node, header_uses: &mut Vec<Use>) -> Declared {
    let path = join("services", &key.name);
    let before = cx.count();
    let mut declared = Declared {
        name: key.name.clone(),
        protocol: None,
        pool: None,
        retry: RetryPolicy::default(),
        built: None,
    };
    let Some(f) = Fields::open(cx, node, &path, "a service", SERVICE_FIELDS) else {
        return declared;
    };
    let protocol = f
        .required(cx, "type", Some("`type: grpc` or `type: http`".into()))
        .and_then(|n| protocol(cx, n, &f.path("type")));
    declared.protocol = protocol;
    let endpoint = f.required(
        cx,
        "endpoint",
        Some("where the service listens: `localhost:50051` for gRPC, `http://localhost:8080` for HTTP".into()),
    );
    let timeout = f
        .get("timeout")
        .and_then(|n| scalar::positive_duration(cx, n, &f.path("timeout")));
    if let Some(n) = f.get("retry") {
        declared.retry =
            retry(cx, n, &f.path("retry"), &RetryPolicy::default()).unwrap_or_default();
    }
    let circuit_breaker = match f.get("circuit_breaker") {
        Some(n) => breaker(cx, n, &f.path("circuit_breaker")).unwrap_or_default(),
        None => BreakerConfig::default(),
    };
    let max_response_bytes = response_limit(cx, &f);
    let concurrency = f
        .get("concurrency")
        .and_then(|n| concurrency(cx, n, &f.path("concurrency")));
    let rate = f.get("rate").and_then(|n| rate(cx, n, &f.path("rate")));
    let kind = match protocol {
        Some(Protocol::Grpc) => grpc(cx, &f, endpoint, &mut declared.pool),
        Some(Protocol::Http) => http(cx, &f, endpoint, header_uses),
        None => None,
    };
    if cx.count() == before {
        declared.built = kind.map(|kind| {
            Arc::new(Service {
                name: key.name.clone(),
                kind,
                timeout,
                retry: declared.retry.clone(),
                circuit_breaker,
                max_response_bytes,
                concurrency,
                rate,
            })
        });
    }
    declared
}

/// `max_response_bytes`, or the default.
fn response_limit(cx: &mut Cx<'_>, f: &Fields<'_>) -> ByteSize {
    let path = f.path("max_response_bytes");
    f.get("max_response_bytes")
        .and_then(|n| scalar::byte_size(cx, n, &path, MAX_RESPONSE_BYTES_CEILING))
        .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES)
}

/// `concurrency: N`: calls in flight at once, 1 to [`MAX_CONCURRENCY`].
fn concurrency(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<NonZeroU32> {
    let why = "calls in flight at once; leave `concurrency` out for no limit";
    let n = scalar::count(cx, node, path, 1, why)?;
    if n > MAX_CONCURRENCY {
        cx.report(
            node.pos(),
            path,
            format!("must be at most {MAX_CONCURRENCY}, got {n}"),
            Some("leave `concurrency` out for no limit".into()),
        );
        return None;
    }
    NonZeroU32::new(n)
}

/// `rate: 100/s`: calls started per second, minute (`m`) or hour (`h`).
fn rate(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Rate> {
    let example = "calls per period: `100/s`, `600/m` or `1000/h`";
    let text = match &node.kind {
        Kind::Str(text) => text,
        Kind::Number(n) => {
            let message = format!("expected a rate such as `100/s`, found the number {n}");
            let hint = format!("add a period: `{n}/s`, `{n}/m` or `{n}/h`");
            cx.report(node.pos(), path, message, Some(hint));
            return None;
        }
        _ => {
            let found = node.found();
            let message = format!("expected a rate such as `100/s`, found {found}");
            cx.report(node.pos(), path, message, Some(example.into()));
            return None;
        }
    };
    text.parse()
        .map_err(|e: RateError| {
            let hint = match &e {
                RateError::Zero(_) => "leave `rate` out for no limit".to_string(),
                RateError::Period { .. } => "the period is `s`, `m` or `h`".to_string(),
                RateError::Shape(_) | RateError::TooMany { .. } => example.to_string(),
            };
            cx.report(node.pos(), path, e.to_string(), Some(hint));
        })
        .ok()
}

fn protocol(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Protocol> {
    match scalar::string(cx, node, path)? {
        "grpc" => Some(Protocol::Grpc),
        "http" => Some(Protocol::Http),
        other => {
            let hint = suggest::did_you_mean(other, ["grpc", "http"])
                .unwrap_or_else(|| "a service is `grpc` or `http`".into());
            cx.report(
                node.pos(),
                path,
                format!("unknown service type `{other}`"),
                Some(hint),
            );
            None
        }
    }
}

/// Fields that only one protocol understands, reported on the other.
fn refuse(cx: &mut Cx<'_>, f: &Fields<'_>, fields: &[&str], only: &str) {
    for field in fields {
        if let Some((key, _)) = f.entry(field) {
            cx.error(
                key.pos(),
                &f.path(field),
                format!("`{field}` applies to {only} services only"),
            );
        }
    }
}

fn grpc(
    cx: &mut Cx<'_>,
    f: &Fields<'_>,
    endpoint: Option<&Node>,
    pool_out: &mut Option<DescriptorPool>,
) -> Option<ServiceKind> {
    refuse(cx, f, &["headers"], "http");
    let endpoint = endpoint.and_then(|n| endpoint::grpc(cx, n, &f.path("endpoint")));
    let pool_size = match f.get("pool") {
        Some(n) => pool_size(cx, n, &f.path("pool")),
        None => Some(DEFAULT_POOL_SIZE),
    };
    let descriptors = proto::descriptors(cx, f);
    if let Some(DescriptorSource::Files { pool, .. }) = &descriptors {
        *pool_out = Some(pool.clone());
    }
    Some(ServiceKind::Grpc(GrpcService {
        endpoint: endpoint?,
        pool_size: pool_size?,
        descriptors: descriptors?,
    }))
}

fn pool_size(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<usize> {
    let f = Fields::open(cx, node, path, "a pool", POOL_FIELDS)?;
    let size = f.required(
        cx,
        "size",
        Some(format!(
            "connections to keep open; {DEFAULT_POOL_SIZE} when `pool` is left out"
        )),
    )?;
    scalar::count(
        cx,
        size,
        &f.path("size"),
        1,
        "a pool needs at least one connection",
    )
    .map(|n| n as usize)
}

fn http(
    cx: &mut Cx<'_>,
    f: &Fields<'_>,
    endpoint: Option<&Node>,
    header_uses: &mut Vec<Use>,
) -> Option<ServiceKind> {
    refuse(cx, f, &["pool", "proto", "import_paths"], "grpc");
    let endpoint = endpoint.and_then(|n| endpoint::http(cx, n, &f.path("endpoint")));
    let headers = match f.get("headers") {
        Some(n) => {
            let (headers, reads) = headers::decode(cx, n, &f.path("headers"))?;
            header_uses.extend(reads.into_iter().map(|r| r.at_scope(Scope::ServiceHeaders)));
            headers
        }
        None => Vec::new(),
    };
    Some(ServiceKind::Http(HttpService {
        endpoint: endpoint?,
        headers,
    }))
}
