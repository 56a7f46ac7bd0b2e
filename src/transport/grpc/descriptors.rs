//! A service's message descriptors at run time: from `.proto` files
//! compiled at load (see [`crate::proto`]) or by server reflection on the
//! first call, with each method a step names resolved once.

use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

use http::uri::PathAndQuery;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use tonic::transport::Channel;

use super::plan::Plan;
use super::reflection;
use crate::proto::resolve_method;
use crate::transport::CallError;

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
    /// A std mutex: nothing awaits while it is held. Keyed by the method
    /// names steps give.
    methods: std::sync::Mutex<HashMap<String, Result<Resolved, String>>>,
}

/// A method a step names, and the path its calls are sent to.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub method: MethodDescriptor,
    /// `/{package.Service}/{Method}`, built once rather than per call.
    pub path: PathAndQuery,
    /// How its requests are written from JSON straight to the wire, when
    /// they can be.
    pub request_plan: Option<Arc<Plan>>,
    /// How its answers are read straight into JSON, when they can be.
    pub answer_plan: Option<Arc<Plan>>,
}

impl Resolved {
    fn new(method: MethodDescriptor) -> Result<Self, String> {
        let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
        let path = PathAndQuery::try_from(path.as_str())
            .map_err(|e| format!("invalid method path `{path}`: {e}"))?;
        Ok(Self {
            request_plan: Plan::of(&method.input()).map(Arc::new),
            answer_plan: Plan::of(&method.output()).map(Arc::new),
            method,
            path,
        })
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

    /// The method a step names, if the pool is loaded: no await.
    pub fn method_now(&self, spec: &str) -> Option<Result<Resolved, CallError>> {
        let loaded = self.loaded.get()?;
        Some(loaded.resolve(spec).map_err(CallError::permanent))
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
