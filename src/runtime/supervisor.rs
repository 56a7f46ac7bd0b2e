//! The service supervisor: spawns one service actor per service,
//! restarts a dead one under the same name with the same configuration,
//! limits how fast it does so, and never respawns while shutting down.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::resilience::BreakerPhase;
use crate::transport::Dial;
use crate::workflow::{Service, redact_userinfo};

use super::limit::{LimitCounters, LimitHealth};
use super::service::{BreakerCounters, ServiceActor, ServiceArgs, ServiceMsg, TransitionCounts};

/// Restarts allowed within [`RESTART_WINDOW`] before the next restart is
/// delayed: a service actor that dies at once on every start must not spin.
pub const MAX_RESTARTS_IN_WINDOW: usize = 5;
pub const RESTART_WINDOW: Duration = Duration::from_secs(10);
/// Delay of a restart once the rate limit is hit.
pub const THROTTLED_RESTART_DELAY: Duration = Duration::from_secs(1);

pub struct ServiceSupervisor;

pub enum SupervisorMsg {
    /// Start (again) the actor with this key.
    Respawn(String),
    /// Supervise one more service actor (a resumed run's definition may
    /// name a service the runtime was not started with).
    Add(ChildSpec, RpcReplyPort<Result<(), String>>),
    /// Health of every service actor.
    Status(RpcReplyPort<Vec<ServiceHealth>>),
    /// Stop every service actor without respawning any.
    Shutdown(RpcReplyPort<()>),
}

/// One service actor as the supervisor sees it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ServiceHealth {
    /// The service's name in the workflows.
    pub name: String,
    /// As configured, its user name and password hidden.
    pub endpoint: String,
    pub alive: bool,
    /// Restarts since the runtime started.
    pub restarts: u32,
    /// `closed`, `open`, `half_open`; absent while the actor is down.
    pub breaker: Option<BreakerPhase>,
    pub in_flight: usize,
    pub pool_size: usize,
    /// Breaker transitions since the runtime started, restarts included.
    pub transitions: TransitionCounts,
    /// The service's `concurrency` and `rate`, and the calls waiting under
    /// them; absent when it declares neither.
    pub limits: Option<LimitHealth>,
}

/// One service actor to supervise.
pub struct ChildSpec {
    /// Unique among the runtime's actors; part of the registered name.
    pub key: String,
    /// The definition the actor is built from (the first one seen).
    pub service: Arc<Service>,
    /// Where the live actor is published: the handles of runs watch it.
    pub slot: ActorSlot,
    /// How the actor gets its transport.
    pub dial: Dial,
}

/// The service's live actor, or `None` between its death and its restart.
pub type ActorSlot = watch::Sender<Option<ActorRef<ServiceMsg>>>;

pub struct SupervisorArgs {
    /// Prefix of the registered actor names, unique per runtime.
    pub prefix: String,
    pub children: Vec<ChildSpec>,
}

pub struct SupervisorState {
    prefix: String,
    children: HashMap<String, Child>,
    shutting_down: bool,
}

struct Child {
    spec: ChildSpec,
    counters: Arc<BreakerCounters>,
    limit_counters: Arc<LimitCounters>,
    actor: Option<ActorRef<ServiceMsg>>,
    restarts: u32,
    recent: Vec<Instant>,
}

/// The registered name of a service actor. Names show in errors and debug
/// output, so an endpoint's user name and password are left out; a hash of
/// the whole key, keyed per process, keeps apart two keys that differ only
/// there.
pub fn actor_name(prefix: &str, key: &str) -> String {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    match redact_userinfo(key) {
        Cow::Borrowed(key) => format!("{prefix}/service/{key}"),
        Cow::Owned(shown) => {
            let hash = KEYS.get_or_init(RandomState::new).hash_one(key);
            format!("{prefix}/service/{shown}#{hash:016x}")
        }
    }
}

impl Actor for ServiceSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            prefix: args.prefix,
            children: HashMap::new(),
            shutting_down: false,
        };
        for spec in args.children {
            state.add(&myself, spec).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Respawn(key) if !state.shutting_down => {
                if let Err(e) = state.spawn(&myself, &key).await {
                    let service = state.display_name(&key);
                    error!(service, error = %e, "service actor failed to start; retrying");
                    myself.send_after(THROTTLED_RESTART_DELAY, move || SupervisorMsg::Respawn(key));
                }
            }
            SupervisorMsg::Respawn(_) => {}
            SupervisorMsg::Add(spec, reply) => {
                let added = match state.children.contains_key(&spec.key) {
                    true => Ok(()),
                    false => state.add(&myself, spec).await.map_err(|e| e.to_string()),
                };
                let _ = reply.send(added);
            }
            SupervisorMsg::Status(reply) => {
                let _ = reply.send(state.health().await);
            }
            SupervisorMsg::Shutdown(reply) => {
                state.shutting_down = true;
                for child in state.children.values_mut() {
                    child.spec.slot.send_replace(None);
                    if let Some(actor) = child.actor.take() {
                        actor.stop(Some("shutdown".into()));
                    }
                }
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!("terminated: {}", reason.unwrap_or_else(|| "stopped".into())),
            ),
            _ => return Ok(()),
        };
        state.on_child_exit(&myself, &cell, &reason);
        Ok(())
    }
}

impl SupervisorState {
    fn display_name(&self, key: &str) -> String {
        self.children
            .get(key)
            .map_or_else(|| actor_name("", key), |c| c.spec.service.name.clone())
    }

    async fn add(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        spec: ChildSpec,
    ) -> Result<(), ActorProcessingErr> {
        let key = spec.key.clone();
        let child = Child {
            spec,
            counters: Arc::default(),
            limit_counters: Arc::default(),
            actor: None,
            restarts: 0,
            recent: Vec::new(),
        };
        self.children.insert(key.clone(), child);
        self.spawn(myself, &key).await
    }

    async fn spawn(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        key: &str,
    ) -> Result<(), ActorProcessingErr> {
        let Some(child) = self.children.get_mut(key) else {
            return Ok(());
        };
        if child.actor.is_some() {
            return Ok(());
        }
        let registered = actor_name(&self.prefix, key);
        let args = ServiceArgs {
            service: child.spec.service.clone(),
            counters: child.counters.clone(),
            dial: child.spec.dial.clone(),
            limit_counters: child.limit_counters.clone(),
        };
        let (actor, _) =
            Actor::spawn_linked(Some(registered), ServiceActor, args, myself.get_cell()).await?;
        child.spec.slot.send_replace(Some(actor.clone()));
        child.actor = Some(actor);
        Ok(())
    }

    fn on_child_exit(&mut self, myself: &ActorRef<SupervisorMsg>, cell: &ActorCell, reason: &str) {
        let Some((key, child)) = self.children.iter_mut().find(|(_, c)| {
            c.actor
                .as_ref()
                .is_some_and(|a| a.get_id() == cell.get_id())
        }) else {
            return;
        };
        child.actor = None;
        child.spec.slot.send_replace(None);
        let service = &child.spec.service.name;
        if self.shutting_down {
            info!(service = %service, "service actor stopped");
            return;
        }
        let now = Instant::now();
        child
            .recent
            .retain(|t| now.duration_since(*t) < RESTART_WINDOW);
        child.recent.push(now);
        child.restarts += 1;
        let throttled = child.recent.len() > MAX_RESTARTS_IN_WINDOW;
        warn!(
            service = %service,
            reason,
            restarts = child.restarts,
            throttled,
            "service actor died; restarting"
        );
        let key = key.clone();
        if throttled {
            myself.send_after(THROTTLED_RESTART_DELAY, move || SupervisorMsg::Respawn(key));
        } else {
            let _ = myself.cast(SupervisorMsg::Respawn(key));
        }
    }

    async fn health(&self) -> Vec<ServiceHealth> {
        let mut out = Vec::with_capacity(self.children.len());
        for child in self.children.values() {
            let status = match &child.actor {
                Some(actor) => ractor::call_t!(actor, ServiceMsg::Status, 1000).ok(),
                None => None,
            };
            let service = &child.spec.service;
            out.push(ServiceHealth {
                name: service.name.clone(),
                endpoint: service.endpoint_for_display(),
                alive: status.is_some(),
                restarts: child.restarts,
                in_flight: status.as_ref().map_or(0, |s| s.in_flight),
                pool_size: status.as_ref().map_or(0, |s| s.pool_size),
                limits: LimitHealth::of(
                    service,
                    status.as_ref().map_or(0, |s| s.queued),
                    &child.limit_counters,
                ),
                breaker: status.map(|s| s.breaker),
                transitions: child.counters.snapshot(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.endpoint.cmp(&b.endpoint)));
        out
    }
}
