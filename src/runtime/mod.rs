//! The actors that run workflows: a supervisor with one actor per service,
//! one workflow-run actor and one saga actor per run. A run's progress is an
//! append-only list of [`crate::run::RunEvent`]s; its report is derived from them,
//! and with a journal they make the run resumable in another process.

pub mod attempt;
pub mod dispatch;
pub mod handle;
pub mod inbox;
pub mod limit;
pub mod log;
pub mod render;
pub mod report;
pub mod run;
pub mod saga;
pub mod service;
mod start;
pub mod supervisor;
pub mod trace;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foldhash::HashMapExt;
use ractor::{Actor, ActorRef};
use tracing::warn;

use crate::error::ErrorClass;
use crate::journal::{Definition, Journal, JournalError};
use crate::transport::Dial;
use crate::workflow::{DescriptorSource, Service, ServiceKind, Workflow};

/// The run's events live beneath the runtime, where the journal reads them.
pub use crate::run::events;
pub use crate::run::{Recorded, RunEvent, RunStatus};
pub use dispatch::{AttemptError, ServiceHandle};
pub use handle::{RunCanceller, RunEnd, RunHandle, RunWatch};
pub use limit::LimitCounters;
pub use log::Observer;
pub use report::RunReport;
pub use service::TransitionCounts;
pub use supervisor::ServiceHealth;
use supervisor::{ActorSlot, ChildSpec, ServiceSupervisor, SupervisorArgs, SupervisorMsg};

/// Durations in messages are for people: milliseconds are precise enough.
pub(crate) fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// Options of one run.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Defaults to a fresh time-ordered id.
    pub run_id: Option<String>,
    /// Receives every event as it is recorded (a live timeline).
    pub observer: Option<Arc<dyn Observer>>,
    /// The run was journaled already by [`Runtime::admit`].
    pub admitted: bool,
    /// The run this one starts again, with its input.
    pub retry_of: Option<String>,
    /// The caller's trace, which the run continues.
    pub traceparent: Option<crate::telemetry::TraceParent>,
}

/// Why the runtime could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not start the service actors: {0}")]
    Start(String),
    #[error(
        "workflow `{workflow}` uses service `{service}`, which this runtime was not started with"
    )]
    UnknownService { workflow: String, service: String },
    #[error("the run actor could not start: {0}")]
    Run(String),
    #[error("the journaled definition of workflow `{workflow}` no longer loads: {error}")]
    Definition { workflow: String, error: String },
    #[error("run {run_id} cannot be resumed: {error}")]
    Resume { run_id: String, error: String },
    #[error("the run ended here without a report (its actor died, or another replica owns it now)")]
    Lost,
    #[error("the run waits, put aside in the journal: resume it when it is time")]
    Parked,
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl RuntimeError {
    pub fn class(&self) -> ErrorClass {
        match self {
            RuntimeError::UnknownService { .. }
            | RuntimeError::Definition { .. }
            | RuntimeError::Resume { .. } => ErrorClass::Invalid,
            RuntimeError::Lost | RuntimeError::Parked => ErrorClass::Conflict,
            RuntimeError::Journal(e) => e.class(),
            RuntimeError::Start(_) | RuntimeError::Run(_) => ErrorClass::Internal,
        }
    }
}

/// A workflow's services by name, resolved to this runtime's actors: looked
/// up on every step, by names the workflow gives.
pub type ServiceMap = Arc<foldhash::HashMap<String, ServiceHandle>>;

/// A workflow whose services are resolved to this runtime's actors, ready
/// to be run any number of times.
#[derive(Debug, Clone)]
pub struct BoundWorkflow {
    pub workflow: Arc<Workflow>,
    services: ServiceMap,
    /// What a journal keeps of the definition, hashed once.
    definition: Option<Arc<Definition>>,
    /// Whether a step at any depth waits for a signal: such runs take
    /// signals from the journal's inbox. Walked once, here.
    waits: bool,
}

impl BoundWorkflow {
    /// The content hash of the definition, when runs are journaled.
    pub fn definition_hash(&self) -> Option<&str> {
        self.definition.as_deref().map(|d| d.hash.as_str())
    }
}

impl BoundWorkflow {
    /// How this workflow's runs reach the actor of service `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceHandle> {
        self.services.get(name)
    }
}

/// What makes two service definitions one actor: the same service name at
/// the same endpoint, reached the same way (several workflows naming one
/// service). Pool and breaker settings come from the first definition.
fn actor_key(service: &Service) -> String {
    let name = &service.name;
    match &service.kind {
        ServiceKind::Http(http) => format!("{name}@http:{}", http.endpoint),
        ServiceKind::Grpc(grpc) => match &grpc.descriptors {
            DescriptorSource::Reflection => format!("{name}@grpc:{}", grpc.endpoint),
            DescriptorSource::Files { files, .. } => {
                let files: Vec<_> = files.iter().map(|f| f.display().to_string()).collect();
                format!("{name}@grpc:{}|proto:{}", grpc.endpoint, files.join(","))
            }
        },
    }
}

/// A set of supervised service actors, and the runs that use them.
pub struct Runtime {
    supervisor: ActorRef<SupervisorMsg>,
    /// Actor key of each service name (first definition wins for
    /// [`Runtime::service_actor`]).
    by_name: Mutex<HashMap<String, String>>,
    /// Where each service actor is published, by actor key.
    slots: Mutex<HashMap<String, ActorSlot>>,
    /// Where runs are made durable; `None` keeps them in memory.
    journal: Option<Arc<dyn Journal>>,
    /// Runs that take signals posted to the journal.
    inbox: inbox::Inbox,
    /// Whether a run left only sleeping or waiting stops its actor (with a
    /// journal only): see [`Runtime::park_waiting_runs`].
    parking: std::sync::atomic::AtomicBool,
    /// How service actors get their transport.
    dial: Dial,
}

static RUNTIMES: AtomicU64 = AtomicU64::new(0);

impl Runtime {
    /// Start one supervised actor per service. Definitions of one service
    /// (same name and endpoint) in several workflows share one actor, so its
    /// pool and breaker are shared too.
    pub async fn start(services: &[Arc<Service>]) -> Result<Self, RuntimeError> {
        Self::start_with(services, crate::transport::network()).await
    }

    /// [`Runtime::start`], each service actor getting its transport from
    /// `dial`: scripted answers for `maestro test`.
    pub async fn start_with(services: &[Arc<Service>], dial: Dial) -> Result<Self, RuntimeError> {
        let prefix = format!(
            "maestro-{}-{}",
            std::process::id(),
            RUNTIMES.fetch_add(1, Ordering::Relaxed)
        );
        let mut children: Vec<ChildSpec> = Vec::new();
        let mut by_name = HashMap::new();
        for service in services {
            let key = actor_key(service);
            match children.iter_mut().find(|c| c.key == key) {
                Some(child) => {
                    let first = &child.service;
                    if first.circuit_breaker != service.circuit_breaker
                        || pool_size(first) != pool_size(service)
                        || (first.concurrency, first.rate) != (service.concurrency, service.rate)
                    {
                        warn!(
                            service = %service.name,
                            endpoint = %service.endpoint_for_display(),
                            "service is defined again with other pool, circuit breaker or \
                             limit settings; the first definition's are used"
                        );
                    }
                }
                None => children.push(ChildSpec {
                    key: key.clone(),
                    service: service.clone(),
                    slot: ActorSlot::new(None),
                    dial: dial.clone(),
                }),
            }
            by_name.entry(service.name.clone()).or_insert(key);
        }
        let slots = children
            .iter()
            .map(|c| (c.key.clone(), c.slot.clone()))
            .collect();
        let (supervisor, _) = Actor::spawn(
            Some(format!("{prefix}/supervisor")),
            ServiceSupervisor,
            SupervisorArgs {
                prefix: prefix.clone(),
                children,
            },
        )
        .await
        .map_err(|e| RuntimeError::Start(e.to_string()))?;
        Ok(Self {
            supervisor,
            by_name: Mutex::new(by_name),
            slots: Mutex::new(slots),
            journal: None,
            inbox: inbox::Inbox::default(),
            parking: std::sync::atomic::AtomicBool::new(false),
            dial,
        })
    }

    /// Make every run started from now on durable in `journal`.
    pub fn with_journal(mut self, journal: Arc<dyn Journal>) -> Self {
        self.journal = Some(journal);
        self
    }

    pub fn journal(&self) -> Option<&Arc<dyn Journal>> {
        self.journal.as_ref()
    }

    /// From now on, with a journal, a run whose open steps all sleep or wait
    /// and that has nothing in flight stops its actor and ends its handle
    /// with [`RunEnd::Parked`]: it holds no memory but its journal until
    /// whoever parked it resumes it ([`Runtime::resume`]).
    pub fn park_waiting_runs(&self) {
        self.parking
            .store(self.journal.is_some(), std::sync::atomic::Ordering::Relaxed);
    }

    /// A signal for `run_id` was posted to the journal by this process.
    pub fn signal_posted(&self, run_id: &str) {
        self.inbox.posted(run_id);
    }

    /// Notified when a signal for parked run `run_id` is posted to the
    /// journal's inbox (by `maestro signal`, or another replica). Once.
    pub fn on_signal_posted(&self, run_id: &str) -> Arc<tokio::sync::Notify> {
        let notify = Arc::new(tokio::sync::Notify::new());
        if let Some(journal) = &self.journal {
            self.inbox.park(journal, run_id, notify.clone());
        }
        notify
    }

    /// Start actors for the services among `services` that this runtime
    /// has none for yet.
    pub async fn add_services(&self, services: &[Arc<Service>]) -> Result<(), RuntimeError> {
        for service in services {
            let key = actor_key(service);
            if lock(&self.slots).contains_key(&key) {
                continue;
            }
            let slot = ActorSlot::new(None);
            let spec = ChildSpec {
                key: key.clone(),
                service: service.clone(),
                slot: slot.clone(),
                dial: self.dial.clone(),
            };
            ractor::call_t!(self.supervisor, SupervisorMsg::Add, 5000, spec)
                .map_err(|e| RuntimeError::Start(e.to_string()))?
                .map_err(RuntimeError::Start)?;
            lock(&self.by_name)
                .entry(service.name.clone())
                .or_insert_with(|| key.clone());
            lock(&self.slots).insert(key, slot);
        }
        Ok(())
    }

    /// Resolve a workflow's services to this runtime's actors.
    pub fn bind(&self, workflow: Arc<Workflow>) -> Result<BoundWorkflow, RuntimeError> {
        let mut services = foldhash::HashMap::with_capacity(workflow.services.len());
        let slots = lock(&self.slots);
        for service in &workflow.services {
            let Some(slot) = slots.get(&actor_key(service)) else {
                return Err(RuntimeError::UnknownService {
                    workflow: workflow.name.clone(),
                    service: service.name.clone(),
                });
            };
            services.insert(
                service.name.clone(),
                ServiceHandle::new(&service.name, slot),
            );
        }
        drop(slots);
        let definition = self
            .journal
            .is_some()
            .then(|| Arc::new(Definition::of(&workflow)));
        Ok(BoundWorkflow {
            waits: workflow.waits(),
            workflow,
            services: Arc::new(services),
            definition,
        })
    }

    /// Bind a definition read back from the journal: parsed again from its
    /// text (endpoints' `${VAR}` read from the environment now), with actors
    /// started for services this runtime does not have yet.
    pub async fn bind_definition(
        &self,
        definition: &Definition,
    ) -> Result<BoundWorkflow, RuntimeError> {
        let env = |name: &str| std::env::var(name).ok();
        let workflow = crate::workflow::load_str(&definition.text, &definition.path, &env)
            .map_err(|e| RuntimeError::Definition {
                workflow: definition.name.clone(),
                error: e.to_string(),
            })?;
        self.add_services(&workflow.services).await?;
        self.bind(Arc::new(workflow))
    }

    /// The actor serving a service name (for fault injection).
    pub fn service_actor(&self, service: &str) -> Option<ractor::ActorCell> {
        let key = lock(&self.by_name).get(service)?.clone();
        let actor = lock(&self.slots).get(&key)?.borrow().clone()?;
        Some(actor.get_cell())
    }

    /// Health of every service actor.
    pub async fn health(&self) -> Vec<ServiceHealth> {
        ractor::call_t!(self.supervisor, SupervisorMsg::Status, 5000).unwrap_or_default()
    }

    /// Stop every actor; none is respawned.
    pub async fn shutdown(self) {
        let _ = ractor::call_t!(self.supervisor, SupervisorMsg::Shutdown, 5000);
        self.supervisor.stop(None);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn pool_size(service: &Service) -> usize {
    match &service.kind {
        ServiceKind::Grpc(grpc) => grpc.pool_size,
        ServiceKind::Http(_) => 0,
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Children are linked: stopping the supervisor stops them too.
        self.supervisor.stop(None);
    }
}
