//! The validated workflow: what the runtime executes. Every value here has
//! passed validation, so the runtime never re-checks it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prost_reflect::DescriptorPool;

use crate::resilience::{BreakerConfig, RetryPolicy};
use crate::template::{Condition, Template, ValueTemplate};

/// Default timeout of one call attempt when neither the step nor the service
/// sets one: long enough for a slow service, short enough that a blackholed
/// connection does not hold a run for ever.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default budget for replaying compensations after a failure; they run after
/// the workflow's own timeout has possibly expired, so they get their own.
pub const DEFAULT_COMPENSATION_TIMEOUT: Duration = Duration::from_secs(60);
/// gRPC connections per service (the seed's "5 persistent connections").
pub const DEFAULT_POOL_SIZE: usize = 5;

/// A loaded, validated workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: String,
    pub version: Option<String>,
    /// Whole-run budget: every attempt of every step; `None` is unbounded.
    pub timeout: Option<Duration>,
    /// Budget for the compensation phase.
    pub compensation_timeout: Duration,
    /// In the order the file lists them.
    pub services: Vec<Arc<Service>>,
    pub steps: Vec<Node>,
    /// The workflow's `output` block; `None` means "every named output".
    pub output: Option<ValueTemplate>,
    /// Where the definition came from, for messages and relative paths.
    pub source: PathBuf,
    /// The definition's text as loaded: a journal keeps it, so a run
    /// resumes under the definition it began with.
    pub text: Arc<str>,
}

impl Workflow {
    pub fn service(&self, name: &str) -> Option<&Arc<Service>> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Every step, parallel branches included, in file order.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().flat_map(|node| match node {
            Node::Step(step) => std::slice::from_ref(step).iter(),
            Node::Parallel(group) => group.branches.iter(),
        })
    }
}

/// One entry of `steps`: a step, or a group of steps run concurrently.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "a workflow holds a handful of nodes, built once; boxing would only add indirection"
)]
pub enum Node {
    Step(Step),
    Parallel(ParallelGroup),
}

/// `- parallel: [...]`: every branch starts at once, the group ends when all
/// have ended. Never empty.
#[derive(Debug, Clone)]
pub struct ParallelGroup {
    pub branches: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    /// Name of a service in [`Workflow::services`].
    pub service: String,
    pub call: Call,
    pub input: ValueTemplate,
    /// Name under which the step's result is stored for later templates.
    pub output: Option<String>,
    pub when: Option<Condition>,
    /// HTTP only; merged over the service's headers.
    pub headers: Vec<Header>,
    /// Per-attempt timeout for this step; the smallest of step, service and
    /// the workflow's remaining time applies.
    pub timeout: Option<Duration>,
    /// The step's effective policy (its own `retry`, else the service's).
    pub retry: RetryPolicy,
    pub compensate: Option<Compensation>,
}

/// How a step is undone.
#[derive(Debug, Clone)]
pub struct Compensation {
    /// Defaults to the step's service.
    pub service: String,
    pub call: Call,
    pub input: ValueTemplate,
    pub headers: Vec<Header>,
}

/// What a step's `method` means on its service's protocol.
#[derive(Debug, Clone)]
pub enum Call {
    /// `Process` or `pkg.Service/Method`, resolved against the service's
    /// descriptors when they are known.
    Grpc { method: String },
    /// `POST /orders/{{ .input.id }}`.
    Http { verb: http::Method, path: Template },
}

#[derive(Debug, Clone)]
pub struct Header {
    pub name: http::HeaderName,
    pub value: Template,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub kind: ServiceKind,
    /// Per-attempt timeout of calls to this service.
    pub timeout: Option<Duration>,
    pub retry: RetryPolicy,
    pub circuit_breaker: BreakerConfig,
}

impl Service {
    /// The endpoint as configured, for people.
    pub fn endpoint(&self) -> String {
        match &self.kind {
            ServiceKind::Grpc(grpc) => grpc.endpoint.to_string(),
            ServiceKind::Http(http) => http.endpoint.to_string(),
        }
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
