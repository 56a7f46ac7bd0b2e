//! The validated workflow: what the runtime executes. Every value here has
//! passed validation, so the runtime never re-checks it.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::resilience::RetryPolicy;
use crate::template::{Condition, Template, ValueTemplate};

mod service;

pub use super::header::HeaderTemplate;
pub use super::input_schema::{InputRejected, InputSchema};
pub use service::*;

/// Default timeout of one call attempt when neither the step nor the service
/// sets one: long enough for a slow service, short enough that a blackholed
/// connection does not hold a run for ever.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default budget for replaying compensations after a failure; they run after
/// the workflow's own timeout has possibly expired, so they get their own.
pub const DEFAULT_COMPENSATION_TIMEOUT: Duration = Duration::from_secs(60);
/// gRPC connections per service (the seed's "5 persistent connections").
pub const DEFAULT_POOL_SIZE: usize = 5;
/// Largest response a service may answer with when it does not set
/// `max_response_bytes`: far above what a step's output usually holds, low
/// enough that a greedy service cannot fill memory or the journal, since an
/// output is held, rendered into later steps and journaled.
pub const DEFAULT_MAX_RESPONSE_BYTES: ByteSize = ByteSize(4 * 1024 * 1024);
/// The highest `max_response_bytes` accepted.
pub const MAX_RESPONSE_BYTES_CEILING: ByteSize = ByteSize(1024 * 1024 * 1024);
/// The highest `concurrency` a service may declare: far more calls than one
/// process holds at once, so a value above it is a slip of the keyboard.
pub const MAX_CONCURRENCY: u32 = 100_000;

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
    /// When `maestro serve` starts runs by itself, in file order.
    pub schedules: Vec<super::schedule::Schedule>,
    /// What a run's input must look like, and its defaults; `None` takes
    /// any JSON object as it is.
    pub input_schema: Option<InputSchema>,
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

    /// Whether a step waits for a signal.
    pub fn waits(&self) -> bool {
        self.deep_steps()
            .iter()
            .any(|s| matches!(s.action, Action::Wait(_)))
    }

    /// A run's input as the first step sees it: `input_schema`'s defaults
    /// filled in, then checked against it. Unchanged without a schema.
    pub fn check_input(
        &self,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, InputRejected> {
        match &self.input_schema {
            Some(schema) => schema.apply(input),
            None => Ok(input),
        }
    }

    /// Every step of `steps`, parallel branches included, in file order;
    /// not the steps of a foreach's body or of a child workflow.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        block_steps(&self.steps)
    }

    /// Every step at any depth: in `steps`, in each foreach's body and in
    /// each child workflow, depth first in file order.
    pub fn deep_steps(&self) -> Vec<&Step> {
        let mut out = Vec::new();
        collect_deep(&self.steps, &mut out);
        out
    }
}

/// The steps of a list of nodes, parallel branches included, in order.
pub fn block_steps(nodes: &[Node]) -> impl Iterator<Item = &Step> {
    nodes
        .iter()
        .flat_map(|node| node.steps().iter().map(|s| &**s))
}

fn collect_deep<'w>(nodes: &'w [Node], out: &mut Vec<&'w Step>) {
    for step in block_steps(nodes) {
        out.push(step);
        if let Some(body) = step.body() {
            collect_deep(body, out);
        }
    }
}

/// One entry of `steps`: a step, or a group of steps run concurrently.
#[derive(Debug, Clone)]
pub enum Node {
    /// Shared: a run's state points at the definition of each step it
    /// holds, at any depth, without a path back into the tree.
    Step(Arc<Step>),
    Parallel(ParallelGroup),
}

impl Node {
    /// The node's steps: one, or a group's branches.
    pub fn steps(&self) -> &[Arc<Step>] {
        match self {
            Node::Step(step) => std::slice::from_ref(step),
            Node::Parallel(group) => &group.branches,
        }
    }
}

/// `- parallel: [...]`: every branch starts at once, the group ends when all
/// have ended. Never empty.
#[derive(Debug, Clone)]
pub struct ParallelGroup {
    pub branches: Vec<Arc<Step>>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    /// Name under which the step's result is stored for later templates.
    pub output: Option<String>,
    pub when: Option<Condition>,
    /// What the step's final failure does to the run.
    pub on_failure: OnFailure,
    /// What the step does.
    pub action: Action,
}

impl Step {
    /// The service call the step makes, if it makes one.
    pub fn call(&self) -> Option<&CallStep> {
        match &self.action {
            Action::Call(call) => Some(call),
            _ => None,
        }
    }

    /// The steps a foreach runs per element, or a child workflow's steps.
    pub fn body(&self) -> Option<&[Node]> {
        match &self.action {
            Action::Foreach(each) => Some(&each.body),
            Action::Workflow(child) => Some(&child.workflow.steps),
            _ => None,
        }
    }

    /// How the step is undone, if it has an effect to undo.
    pub fn compensation(&self) -> Option<&Compensation> {
        self.call().and_then(|c| c.compensate.as_ref())
    }

    /// The service the step calls, or `""` for a step that calls none.
    pub fn service_name(&self) -> &str {
        self.call().map_or("", |c| c.service.as_str())
    }

    /// What the step does, as written: `POST /orders`, `sleep 10m`,
    /// `wait approval`.
    pub fn label(&self) -> String {
        match &self.action {
            Action::Call(step) => step.call.label(),
            Action::Sleep(Sleep::For(d)) => format!("sleep {}", humantime::format_duration(*d)),
            Action::Sleep(Sleep::Until(t)) => format!("sleep until {}", t.source()),
            Action::Wait(wait) => format!("wait {}", wait.signal),
            Action::Foreach(each) => format!("foreach {}", each.items.source()),
            Action::Workflow(child) => format!("workflow {}", child.path),
        }
    }
}

/// What a step does: call a service, sleep, or wait for a signal.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "a workflow holds a handful of steps, built once; boxing would only add indirection"
)]
pub enum Action {
    Call(CallStep),
    /// `sleep: 10m` or `sleep_until: "{{ .input.ship_at }}"`: the wake-up
    /// time is journaled when the step starts.
    Sleep(Sleep),
    /// `wait: name`: the step ends with the payload of the first signal of
    /// that name sent to the run.
    Wait(Wait),
    /// `foreach: "{{ .input.items }}"`: its body once per element.
    Foreach(Foreach),
    /// `workflow: payment.yaml`: another workflow's steps, inside this run.
    Workflow(SubWorkflow),
}

/// Most elements a foreach takes: past it the step fails, since every
/// element's steps are held and journaled by the one run.
pub const MAX_FOREACH_ITEMS: usize = 10_000;
/// Most elements of a foreach in flight at once.
pub const MAX_FOREACH_CONCURRENCY: u32 = 1_000;
/// The name a foreach's element reads under when `as` is not given.
pub const DEFAULT_FOREACH_AS: &str = "item";

/// A `foreach` step: `body` once per element of the list `items` renders
/// to, at most `concurrency` elements at once; its output is the list of
/// each element's named outputs, in the list's order.
#[derive(Debug, Clone)]
pub struct Foreach {
    /// Renders to a JSON array when the step starts.
    pub items: Template,
    /// The element reads as `.{as}`, its position as `.{as}_index`.
    pub alias: String,
    pub concurrency: NonZeroU32,
    pub body: Vec<Node>,
}

impl Foreach {
    /// The name an element's position reads under: `item_index`.
    pub fn index_name(&self) -> String {
        format!("{}_index", self.alias)
    }
}

/// A `workflow` step: a child workflow run inside the parent's run.
#[derive(Debug, Clone)]
pub struct SubWorkflow {
    /// As written in the file, relative to it.
    pub path: String,
    /// Loaded and validated with the parent; its services are the
    /// parent's too.
    pub workflow: Arc<Workflow>,
    /// The child's `.input`, rendered when the step starts.
    pub input: ValueTemplate,
}

/// A step that calls a service.
#[derive(Debug, Clone)]
pub struct CallStep {
    /// Name of a service in [`Workflow::services`].
    pub service: String,
    pub call: Call,
    pub input: ValueTemplate,
    /// HTTP only; merged over the service's headers.
    pub headers: Vec<Header>,
    /// Per-attempt timeout for this step; the smallest of step, service and
    /// the workflow's remaining time applies.
    pub timeout: Option<Duration>,
    /// The step's effective policy (its own `retry`, else the service's).
    pub retry: RetryPolicy,
    pub compensate: Option<Compensation>,
}

/// How long a `sleep` step sleeps.
#[derive(Debug, Clone)]
pub enum Sleep {
    For(Duration),
    /// An RFC 3339 time, rendered when the step starts.
    Until(Template),
}

/// Longest signal name: it is a part of a URL.
pub const MAX_SIGNAL_NAME: usize = 128;

/// Whether `name` can name a signal: 1 to [`MAX_SIGNAL_NAME`] letters,
/// digits, `_`, `-` and `.`, so that it sits in a URL as it is.
pub fn is_signal_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    !name.is_empty() && name.len() <= MAX_SIGNAL_NAME && name.chars().all(allowed)
}

/// A `wait` step: the signal it waits for, and for how long at most.
#[derive(Debug, Clone)]
pub struct Wait {
    pub signal: String,
    /// Past it, the step fails (and the run compensates, unless the step
    /// goes on after failing).
    pub timeout: Option<Duration>,
}

/// What a step's final failure (its retries spent) does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// The run halts and undoes what it did.
    #[default]
    Compensate,
    /// The failure is recorded, the step's output reads as null, and the
    /// run goes on.
    Continue,
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

impl Call {
    /// `POST /path` or the gRPC method, as written in the workflow.
    pub fn label(&self) -> String {
        match self {
            Call::Grpc { method } => method.clone(),
            Call::Http { verb, path } => format!("{verb} {}", path.source()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Header {
    pub name: http::HeaderName,
    /// `{{ }}` templates and values of `${NAME}` read when the file loaded.
    pub value: HeaderTemplate,
}
