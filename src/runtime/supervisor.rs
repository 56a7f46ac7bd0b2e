//! The service supervisor: spawns one service actor per service, restarts a
//! dead one under the same name with the same configuration, limits how fast
//! it does so, and never respawns while shutting down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::workflow::Service;

use super::service::{ServiceActor, ServiceMsg, ServiceStatus};

/// Restarts allowed within [`RESTART_WINDOW`] before the next restart is
/// delayed: a service actor that dies at once on every start must not spin.
pub const MAX_RESTARTS_IN_WINDOW: usize = 5;
pub const RESTART_WINDOW: Duration = Duration::from_secs(10);
/// Delay of a restart once the rate limit is hit.
pub const THROTTLED_RESTART_DELAY: Duration = Duration::from_secs(1);

pub struct ServiceSupervisor;

pub enum SupervisorMsg {
    /// Start (again) the actor of the service registered as `key`.
    Respawn(String),
    /// Health of every service actor.
    Status(RpcReplyPort<Vec<ServiceHealth>>),
    /// Stop every service actor without respawning any.
    Shutdown(RpcReplyPort<()>),
}

/// One service actor as the supervisor sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceHealth {
    pub service: String,
    pub alive: bool,
    pub restarts: u32,
    pub status: Option<ServiceStatus>,
}

pub struct SupervisorArgs {
    /// Prefix of the registered actor names, unique per runtime.
    pub prefix: String,
    pub services: Vec<Arc<Service>>,
}

pub struct SupervisorState {
    prefix: String,
    children: HashMap<String, Child>,
    shutting_down: bool,
}

struct Child {
    service: Arc<Service>,
    actor: Option<ActorRef<ServiceMsg>>,
    restarts: u32,
    recent: Vec<Instant>,
}

/// The registered name of a service's actor.
pub fn actor_name(prefix: &str, service: &str) -> String {
    format!("{prefix}/service/{service}")
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
        for service in args.services {
            let child = Child {
                service: service.clone(),
                actor: None,
                restarts: 0,
                recent: Vec::new(),
            };
            state.children.insert(service.name.clone(), child);
            state.spawn(&myself, &service.name).await?;
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
            SupervisorMsg::Respawn(name) if !state.shutting_down => {
                if let Err(e) = state.spawn(&myself, &name).await {
                    error!(service = %name, error = %e, "service actor failed to start; retrying");
                    myself.send_after(THROTTLED_RESTART_DELAY, move || {
                        SupervisorMsg::Respawn(name)
                    });
                }
            }
            SupervisorMsg::Respawn(_) => {}
            SupervisorMsg::Status(reply) => {
                let _ = reply.send(state.health().await);
            }
            SupervisorMsg::Shutdown(reply) => {
                state.shutting_down = true;
                for child in state.children.values_mut() {
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
    async fn spawn(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        name: &str,
    ) -> Result<(), ActorProcessingErr> {
        let Some(child) = self.children.get_mut(name) else {
            return Ok(());
        };
        if child.actor.is_some() {
            return Ok(());
        }
        let registered = actor_name(&self.prefix, name);
        let (actor, _) = Actor::spawn_linked(
            Some(registered),
            ServiceActor,
            child.service.clone(),
            myself.get_cell(),
        )
        .await?;
        child.actor = Some(actor);
        Ok(())
    }

    fn on_child_exit(&mut self, myself: &ActorRef<SupervisorMsg>, cell: &ActorCell, reason: &str) {
        let Some((name, child)) = self.children.iter_mut().find(|(_, c)| {
            c.actor
                .as_ref()
                .is_some_and(|a| a.get_id() == cell.get_id())
        }) else {
            return;
        };
        child.actor = None;
        if self.shutting_down {
            info!(service = %name, "service actor stopped");
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
            service = %name,
            reason,
            restarts = child.restarts,
            throttled,
            "service actor died; restarting"
        );
        let name = name.clone();
        if throttled {
            myself.send_after(THROTTLED_RESTART_DELAY, move || {
                SupervisorMsg::Respawn(name)
            });
        } else {
            let _ = myself.cast(SupervisorMsg::Respawn(name));
        }
    }

    async fn health(&self) -> Vec<ServiceHealth> {
        let mut out = Vec::with_capacity(self.children.len());
        for (name, child) in &self.children {
            let status = match &child.actor {
                Some(actor) => ractor::call_t!(actor, ServiceMsg::Status, 1000).ok(),
                None => None,
            };
            out.push(ServiceHealth {
                service: name.clone(),
                alive: status.is_some(),
                restarts: child.restarts,
                status,
            });
        }
        out.sort_by(|a, b| a.service.cmp(&b.service));
        out
    }
}
