//! Message descriptors: from `.proto` files (see [`super::compile`]) or
//! server reflection, and a step's `method` resolved against what a server
//! offers.

use std::collections::HashMap;

use http::uri::PathAndQuery;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use tonic::transport::Channel;

pub use super::compile::{ProtoError, compile_files, compile_within};
use super::reflection;
use crate::transport::CallError;

/// Find the method a step names: `pkg.Service/Method` exactly, or a bare
/// `Method` offered by exactly one service in the pool.
pub fn resolve_method(pool: &DescriptorPool, spec: &str) -> Result<MethodDescriptor, String> {
    if let Some((service, method)) = spec.split_once('/') {
        let svc = pool.get_service_by_name(service).ok_or_else(|| {
            format!(
                "no service `{service}`; the server offers {}",
                offered(pool)
            )
        })?;
        return svc.methods().find(|m| m.name() == method).ok_or_else(|| {
            format!(
                "service `{service}` has no method `{method}`; it offers {}",
                offered(pool)
            )
        });
    }
    let found: Vec<MethodDescriptor> = pool
        .services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .filter(|m| m.name() == spec)
        .collect();
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one method")),
        0 => Err(format!(
            "no service offers method `{spec}`; the server offers {}",
            offered(pool)
        )),
        _ => Err(format!(
            "method `{spec}` is ambiguous: {}; write `Service/{spec}` with the full service name",
            found
                .iter()
                .map(|m| m.full_name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `pkg.Svc/A, pkg.Svc/B` for messages, without the reflection service itself.
fn offered(pool: &DescriptorPool) -> String {
    let all: Vec<String> = pool
        .services()
        .filter(|s| !s.full_name().starts_with("grpc.reflection."))
        .flat_map(|s| {
            s.methods()
                .map(|m| format!("{}/{}", s.full_name(), m.name()))
                .collect::<Vec<_>>()
        })
        .collect();
    if all.is_empty() {
        "nothing".into()
    } else {
        all.join(", ")
    }
}

/// A service's descriptors, shared by its in-flight calls: the pool, loaded
/// once (from files at once, by reflection on first call), and every method
/// name resolved against it.
#[derive(Debug)]
pub struct Descriptors {
    /// A failed load leaves the cell empty, so a server that was down is
    /// asked again on the next call.
    loaded: tokio::sync::OnceCell<Loaded>,
    from_reflection: bool,
}

#[derive(Debug)]
struct Loaded {
    pool: DescriptorPool,
    /// A std mutex: nothing awaits while it is held.
    methods: std::sync::Mutex<HashMap<String, Result<Resolved, String>>>,
}

/// A method a step names, and the path its calls are sent to.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub method: MethodDescriptor,
    /// `/{package.Service}/{Method}`, built once rather than per call.
    pub path: PathAndQuery,
}

impl Resolved {
    fn new(method: MethodDescriptor) -> Result<Self, String> {
        let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
        let path = PathAndQuery::try_from(path.as_str())
            .map_err(|e| format!("invalid method path `{path}`: {e}"))?;
        Ok(Self { method, path })
    }
}

impl Descriptors {
    pub fn from_pool(pool: DescriptorPool) -> Self {
        Self {
            loaded: tokio::sync::OnceCell::new_with(Some(Loaded::new(pool))),
            from_reflection: false,
        }
    }

    pub fn by_reflection() -> Self {
        Self {
            loaded: tokio::sync::OnceCell::new(),
            from_reflection: true,
        }
    }

    pub fn from_reflection(&self) -> bool {
        self.from_reflection
    }

    /// The method a step names, loading the pool through `channel` first if
    /// it is not known yet. An unknown method is permanent.
    pub async fn method(&self, channel: &Channel, spec: &str) -> Result<Resolved, CallError> {
        let loaded = self
            .loaded
            .get_or_try_init(|| async { reflection::load(channel.clone()).await.map(Loaded::new) })
            .await?;
        loaded.resolve(spec).map_err(CallError::permanent)
    }

    /// The pool, if it is loaded.
    pub fn pool(&self) -> Option<&DescriptorPool> {
        self.loaded.get().map(|l| &l.pool)
    }
}

impl Loaded {
    fn new(pool: DescriptorPool) -> Self {
        Self {
            pool,
            methods: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn resolve(&self, spec: &str) -> Result<Resolved, String> {
        let mut methods = self.methods.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up before inserting, so the hot path allocates nothing.
        if let Some(found) = methods.get(spec) {
            return found.clone();
        }
        let found = resolve_method(&self.pool, spec).and_then(Resolved::new);
        methods.insert(spec.to_string(), found.clone());
        found
    }
}
