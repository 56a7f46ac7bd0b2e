//! A server's life between loading its workflows and exiting: the runtime,
//! journal and API started, the journal's unfinished runs taken over, the
//! runs drained on stop, the service actors shut down.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::journal::{self, Journal};
use crate::runtime::Runtime;
use crate::workflow::{self, Workflow};

use super::api::AppState;
use super::api::LoadedWorkflow;
use super::events::{EVENT_BUFFER, Hub};
use super::listen::{self, ConnectionLimits};
use super::metrics::Metrics;
use super::runs::Runs;
use super::schedules::{self, Clock, Scheduled, Starter};
use super::{ServeConfig, ServeError, info_of, recovery, router};

/// Everything a server holds once its workflows are loaded and bound.
pub(super) struct Server {
    runtime: Arc<Runtime>,
    journal: Option<Arc<dyn Journal>>,
    pub(super) runs: Arc<Runs>,
    pub(super) metrics: Arc<Metrics>,
    /// Closed once the runs have drained: open event streams end then.
    events: Arc<Hub>,
    /// Handed to the journal's take-over once it starts.
    definitions: Option<recovery::Definitions>,
    pub(super) app: axum::Router,
    pub(super) connections: ConnectionLimits,
    /// The schedules' tasks start once the server listens.
    schedules: Option<(Vec<Arc<Scheduled>>, Starter)>,
}

impl Server {
    /// The runtime with its service actors and journal, the workflows bound
    /// to it, and the API over them; not yet listening.
    pub(super) async fn start(
        config: &ServeConfig,
        workflows: &[Arc<Workflow>],
    ) -> Result<Self, ServeError> {
        let services: Vec<_> = workflows.iter().flat_map(|w| w.services.clone()).collect();
        let mut runtime = Runtime::start(&services).await?;
        let journal = match &config.state {
            Some(spec) => {
                let journal = journal::open(spec).await?;
                info!(journal = %journal.describe(), "runs are journaled");
                runtime = runtime.with_journal(journal.clone());
                // The journal holds a waiting run: its actor steps aside.
                runtime.park_waiting_runs();
                Some(journal)
            }
            None => None,
        };
        let runtime = Arc::new(runtime);
        let mut loaded = BTreeMap::new();
        for workflow in workflows {
            let bound = runtime.bind(workflow.clone())?;
            let info = info_of(workflow);
            loaded.insert(workflow.name.clone(), LoadedWorkflow { bound, info });
        }
        let metrics = Arc::new(Metrics::default());
        let events = Hub::new(EVENT_BUFFER);
        let runs = Runs::new(
            runtime.clone(),
            metrics.clone(),
            events.clone(),
            config.limits,
        );
        let state = Arc::new(AppState {
            runs: runs.clone(),
            metrics: metrics.clone(),
            events: events.clone(),
            workflows: loaded,
            max_wait: config.max_wait,
            openapi: OnceLock::new(),
            idempotency: Default::default(),
            schedules: Scheduled::all(workflows),
        });
        let definitions = recovery::Definitions::new(state.workflows.values().map(|w| &w.bound));
        let bound = state
            .workflows
            .iter()
            .map(|(name, w)| (name.clone(), w.bound.clone()))
            .collect();
        let starter = Starter::new(runs.clone(), bound, journal.clone());
        let schedules = Some((state.schedules.clone(), starter));
        let connections = ConnectionLimits {
            max_connections: listen::fit_open_files(config.connections.max_connections)?,
            ..config.connections
        };
        let app = router(state, config);
        Ok(Server {
            runtime,
            journal,
            runs,
            metrics,
            events,
            definitions: Some(definitions),
            app,
            connections,
            schedules,
        })
    }

    /// Start each schedule's task: after the journal's runs were taken
    /// over, so a made-up tick sees the run it might overlap.
    pub(super) fn start_schedules(&mut self, stop: &CancellationToken) {
        if let Some((scheduled, starter)) = self.schedules.take()
            && !scheduled.is_empty()
        {
            info!(schedules = scheduled.len(), "schedules started");
            schedules::start(&scheduled, Arc::new(starter), Clock::System, stop);
        }
    }

    /// Take over the journal's unfinished runs, before the ready line (a
    /// client that sees it can read every run), then keep taking over and
    /// pruning until `stop`.
    pub(super) async fn take_over_journaled(
        &mut self,
        config: &ServeConfig,
        stop: &CancellationToken,
    ) {
        let (Some(journal), Some(mut definitions)) =
            (self.journal.clone(), self.definitions.take())
        else {
            return;
        };
        recovery::take_over(&self.runs, &journal, &mut definitions).await;
        tokio::spawn(recovery::prune(
            journal.clone(),
            config.retain,
            stop.clone(),
        ));
        let runs = self.runs.clone();
        tokio::spawn(recovery::keep_taking_over(
            runs,
            journal,
            definitions,
            stop.clone(),
        ));
    }

    /// No new runs; those in flight get the grace period, queued ones stay
    /// in the journal (see [`Runs::drain`]).
    pub(super) async fn stop(&self, config: &ServeConfig, workflows: &[Arc<Workflow>]) {
        let grace = humantime::format_duration(config.grace);
        info!(grace = %grace, "stopping: no new runs; waiting for those in flight");
        let budget = workflows
            .iter()
            .map(|w| w.compensation_timeout)
            .max()
            .unwrap_or(workflow::DEFAULT_COMPENSATION_TIMEOUT);
        let drained = self.runs.drain(config.grace, budget).await;
        let cancelled = drained.cancelled_running + drained.cancelled_queued;
        match drained.left {
            0 => info!(cancelled, "every run has ended"),
            left => info!(
                cancelled,
                "every run in flight has ended; {left} queued runs left for resume: \
                 never started, they stay in the journal for the next start"
            ),
        }
        self.events.close();
    }

    /// Stop the service actors once nothing else holds the runtime.
    pub(super) async fn shut_down(self) {
        let Server {
            runtime, runs, app, ..
        } = self;
        drop((runs, app));
        if let Ok(runtime) = Arc::try_unwrap(runtime) {
            runtime.shutdown().await;
        }
    }
}
