//! The actors that run workflows: a supervisor with one actor per service,
//! one workflow-run actor and one saga actor per run. A run's progress is an
//! append-only list of [`events::RunEvent`]s; its report is derived from them.

pub mod attempt;
pub mod events;
pub mod log;
pub mod render;
pub mod report;
pub mod run;
pub mod saga;
pub mod service;
pub mod supervisor;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::rpc::CallResult as RpcResult;
use ractor::{Actor, ActorRef};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::transport::{CallError, CallRequest, FailureClass};
use crate::workflow::{Service, Workflow};

pub use events::{Recorded, RunEvent, RunStatus};
pub use report::RunReport;
use run::{RunActor, RunArgs};
use service::ServiceMsg;
pub use supervisor::ServiceHealth;
use supervisor::{ServiceSupervisor, SupervisorArgs, SupervisorMsg};

/// Extra time the caller of a service actor waits beyond the attempt's own
/// timeout, so the transport's timeout (with its precise error) fires first.
const REPLY_GRACE: Duration = Duration::from_secs(1);

/// How long an attempt waits for a dead service actor's restart before it
/// fails as not sent; restarts take milliseconds, unless throttled.
const RESTART_PATIENCE: Duration = supervisor::THROTTLED_RESTART_DELAY;
/// How often the registry is asked whether the restarted actor is there.
const RESTART_POLL: Duration = Duration::from_millis(5);

/// Durations in messages are for people: milliseconds are precise enough.
pub(crate) fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// One attempt's failure as the runtime sees it: the transport's error, or
/// something about the service actor itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttemptError {
    #[error(transparent)]
    Call(CallError),
    #[error("{service}: circuit open, next probe in {}", humantime::format_duration(round_ms(*retry_in)))]
    CircuitOpen { service: String, retry_in: Duration },
    #[error("{service}: service actor restarted{}", if *sent { " during the call" } else { "" })]
    ActorRestarted { service: String, sent: bool },
}

impl AttemptError {
    pub fn class(&self) -> FailureClass {
        match self {
            AttemptError::Call(e) => e.class,
            AttemptError::CircuitOpen { .. } => FailureClass::Retryable,
            AttemptError::ActorRestarted { sent: true, .. } => FailureClass::Unknown,
            AttemptError::ActorRestarted { sent: false, .. } => FailureClass::Retryable,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AttemptError::Call(e) => e.retry_after,
            _ => None,
        }
    }
}

/// How a run reaches a service: by the registered name of its actor, looked
/// up per attempt, because a restarted actor is a new actor.
#[derive(Debug, Clone)]
pub struct ServiceHandle {
    service: Arc<str>,
    registered: Arc<str>,
}

impl ServiceHandle {
    pub fn name(&self) -> &str {
        &self.service
    }

    /// The service's actor. A dead actor's name is unregistered until the
    /// supervisor has respawned it; an attempt made in that window (a
    /// compensation right after the kill that failed its step) waits for
    /// the restart instead of failing without having been sent.
    async fn actor(&self, patience: Duration) -> Option<ActorRef<ServiceMsg>> {
        let give_up = tokio::time::Instant::now() + patience;
        loop {
            if let Some(cell) = ractor::registry::where_is(&self.registered) {
                return Some(cell.into());
            }
            if tokio::time::Instant::now() >= give_up {
                return None;
            }
            tokio::time::sleep(RESTART_POLL).await;
        }
    }

    /// Make one attempt through the service's actor.
    pub async fn attempt(
        &self,
        request: CallRequest,
        cancel: CancellationToken,
    ) -> Result<Value, AttemptError> {
        let restarted = |sent| AttemptError::ActorRestarted {
            service: self.service.to_string(),
            sent,
        };
        let Some(actor) = self.actor(request.timeout.min(RESTART_PATIENCE)).await else {
            return Err(restarted(false));
        };
        let wait = request.timeout + REPLY_GRACE;
        let call = actor.call(
            |reply| ServiceMsg::Attempt {
                request,
                cancel,
                reply,
            },
            Some(wait),
        );
        match call.await {
            Ok(RpcResult::Success(result)) => result,
            Ok(RpcResult::Timeout) => Err(AttemptError::Call(CallError::new(
                FailureClass::Unknown,
                format!(
                    "{}: no answer within {}",
                    self.service,
                    humantime::format_duration(round_ms(wait))
                ),
            ))),
            // The actor died holding our request: it may have gone out.
            Ok(RpcResult::SenderError) => Err(restarted(true)),
            Err(_) => Err(restarted(false)),
        }
    }
}

/// Options of one run.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Defaults to a fresh time-ordered id.
    pub run_id: Option<String>,
    /// Receives every event as it is recorded (a live timeline).
    pub observer: Option<mpsc::UnboundedSender<Recorded>>,
}

/// Why the runtime could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not start the service actors: {0}")]
    Start(String),
    #[error("the run actor could not start: {0}")]
    Run(String),
    #[error("the run actor stopped without a report")]
    Lost,
}

/// A set of supervised service actors, and the runs that use them.
pub struct Runtime {
    prefix: String,
    supervisor: ActorRef<SupervisorMsg>,
    services: Arc<HashMap<String, ServiceHandle>>,
}

static RUNTIMES: AtomicU64 = AtomicU64::new(0);

impl Runtime {
    /// Start one supervised actor per service.
    pub async fn start(services: &[Arc<Service>]) -> Result<Self, RuntimeError> {
        let prefix = format!(
            "maestro-{}-{}",
            std::process::id(),
            RUNTIMES.fetch_add(1, Ordering::Relaxed)
        );
        let handles = services
            .iter()
            .map(|s| {
                let handle = ServiceHandle {
                    service: Arc::from(s.name.as_str()),
                    registered: Arc::from(supervisor::actor_name(&prefix, &s.name)),
                };
                (s.name.clone(), handle)
            })
            .collect();
        let (supervisor, _) = Actor::spawn(
            Some(format!("{prefix}/supervisor")),
            ServiceSupervisor,
            SupervisorArgs {
                prefix: prefix.clone(),
                services: services.to_vec(),
            },
        )
        .await
        .map_err(|e| RuntimeError::Start(e.to_string()))?;
        Ok(Self {
            prefix,
            supervisor,
            services: Arc::new(handles),
        })
    }

    /// Run a workflow to its end and report what happened.
    pub async fn execute(
        &self,
        workflow: Arc<Workflow>,
        input: Value,
        options: RunOptions,
    ) -> Result<RunReport, RuntimeError> {
        let run_id = options
            .run_id
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let log = match options.observer {
            Some(tx) => log::RunLog::with_observer(tx),
            None => log::RunLog::default(),
        };
        let (done, report) = oneshot::channel();
        let args = RunArgs {
            run_id: run_id.clone(),
            workflow,
            input,
            services: self.services.clone(),
            log,
            done,
        };
        let (_actor, handle) = Actor::spawn(
            Some(format!("{}/run/{run_id}", self.prefix)),
            RunActor,
            args,
        )
        .await
        .map_err(|e| RuntimeError::Run(e.to_string()))?;
        let report = report.await.map_err(|_| RuntimeError::Lost);
        let _ = handle.await;
        report
    }

    /// The registered actor name of a service (for fault injection).
    pub fn service_actor(&self, service: &str) -> Option<ractor::ActorCell> {
        ractor::registry::where_is(supervisor::actor_name(&self.prefix, service))
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

impl Drop for Runtime {
    fn drop(&mut self) {
        // Children are linked: stopping the supervisor stops them too.
        self.supervisor.stop(None);
    }
}
