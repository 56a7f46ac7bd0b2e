//! Starting runs on a runtime: a fresh run journaled before it starts, a
//! run taken up again from its journal, and the run actor spawned for each.

use std::sync::Arc;

use ractor::Actor;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::journal::{Ack, Epoch, NewRun, StoredRun, Write};
use crate::run::{Machine, RunEvent, RunStatus};
use crate::telemetry::{self, RunTrace, TraceParent};
use crate::workflow::Workflow;

use super::log::{Observer, RunLog};
use super::run::{Begin, RunActor, RunArgs};
use super::trace::{SpanFold, TraceObserver};
use super::{
    BoundWorkflow, Recorded, RunCanceller, RunHandle, RunOptions, RunReport, RunWatch, Runtime,
    RuntimeError,
};

/// Where a run's actor starts from.
struct Start {
    run_id: String,
    /// The claim the run is held under (0: this process began it).
    epoch: Epoch,
    /// How its actor takes it up.
    begin: Begin,
    /// Its journaled events, when resumed.
    events: Vec<Recorded>,
    /// Its state, folded from those events.
    machine: Machine,
    /// The caller's trace, given now or recorded when the run started.
    traceparent: Option<TraceParent>,
}

impl Runtime {
    /// Start a run and return at once with a handle on it. With a journal,
    /// the run is durable when this returns.
    pub async fn spawn_run(
        &self,
        bound: &BoundWorkflow,
        input: Value,
        options: RunOptions,
    ) -> Result<RunHandle, RuntimeError> {
        let run_id = options
            .run_id
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        if !options.admitted {
            // Not awaited: the run's first event, queued after it, is.
            drop(self.admit(bound, &run_id, &input, std::time::SystemTime::now()));
        }
        let start = Start {
            run_id,
            epoch: 0,
            begin: Begin::Fresh {
                input,
                retry_of: options.retry_of,
            },
            events: Vec::new(),
            machine: Machine::new(bound.workflow.clone()),
            traceparent: options.traceparent,
        };
        self.spawn_actor(bound, start, options.observer).await
    }

    /// Journal a run before it starts (a server accepting it before a run
    /// slot is free): the returned [`Ack`] resolves once it is durable.
    pub fn admit(
        &self,
        bound: &BoundWorkflow,
        run_id: &str,
        input: &Value,
        created_at: std::time::SystemTime,
    ) -> Ack {
        match (&self.journal, &bound.definition) {
            (Some(journal), Some(definition)) => journal.write(Write::Begin(NewRun {
                run_id: Arc::from(run_id),
                definition: definition.clone(),
                input: input.clone(),
                created_at,
            })),
            _ => Ack::done(),
        }
    }

    /// Go on with a run read back from the journal, from where it stood.
    pub async fn resume(
        &self,
        bound: &BoundWorkflow,
        stored: StoredRun,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<RunHandle, RuntimeError> {
        if stored.events.is_empty() {
            // Accepted, never started: start it now.
            let start = Start {
                run_id: stored.run_id,
                epoch: stored.epoch,
                begin: Begin::Fresh {
                    input: stored.input,
                    retry_of: None,
                },
                events: Vec::new(),
                machine: Machine::new(bound.workflow.clone()),
                traceparent: None,
            };
            return self.spawn_actor(bound, start, observer).await;
        }
        let refused = |error: String| RuntimeError::Resume {
            run_id: stored.run_id.clone(),
            error,
        };
        let machine = Machine::resume(bound.workflow.clone(), &stored.events)
            .map_err(|e| refused(e.to_string()))?;
        if machine.is_finished() {
            return Err(refused("the journal says it has finished".into()));
        }
        let start = Start {
            run_id: stored.run_id,
            epoch: stored.epoch,
            begin: Begin::Resumed,
            traceparent: journaled_trace(&stored.events),
            events: stored.events,
            machine,
        };
        self.spawn_actor(bound, start, observer).await
    }

    /// Take up a run that ended `compensation_failed` (and that the
    /// journal, if any, reopened): its failed compensations are tried
    /// again, newest first, with the same idempotency keys.
    pub async fn retry_compensations(
        &self,
        bound: &BoundWorkflow,
        stored: StoredRun,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<RunHandle, RuntimeError> {
        let refused = |error: String| RuntimeError::Resume {
            run_id: stored.run_id.clone(),
            error,
        };
        let machine = Machine::resume(bound.workflow.clone(), &stored.events)
            .map_err(|e| refused(e.to_string()))?;
        let status = machine.state().finished.as_ref().map(|f| f.status);
        if status != Some(RunStatus::CompensationFailed) {
            let now = status.map_or("running", RunStatus::label);
            return Err(refused(format!("it is {now}, not compensation_failed")));
        }
        let start = Start {
            run_id: stored.run_id,
            epoch: stored.epoch,
            begin: Begin::RetryCompensations,
            traceparent: journaled_trace(&stored.events),
            events: stored.events,
            machine,
        };
        self.spawn_actor(bound, start, observer).await
    }

    async fn spawn_actor(
        &self,
        bound: &BoundWorkflow,
        start: Start,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<RunHandle, RuntimeError> {
        let Start {
            run_id,
            epoch,
            begin,
            events,
            machine,
            traceparent,
        } = start;
        let journal = self.journal.clone().map(|j| (j, run_id.as_str(), epoch));
        let trace = telemetry::enabled().then(|| RunTrace::new(&run_id, traceparent.as_ref()));
        let observer = match &trace {
            Some(trace) if trace.sampled => {
                let fold = SpanFold::new(trace.clone(), &bound.workflow.name, &run_id);
                Some(Arc::new(TraceObserver::new(fold, &events, observer)) as Arc<dyn Observer>)
            }
            _ => observer,
        };
        let log = RunLog::new(events, observer, journal, trace);
        let (done, report) = oneshot::channel();
        let args = RunArgs {
            run_id: run_id.clone(),
            workflow: bound.workflow.clone(),
            begin,
            services: bound.services.clone(),
            log: log.clone(),
            done,
            machine,
            traceparent: traceparent.map(|t| t.header()),
            park: (self.journal.is_some()
                && self.parking.load(std::sync::atomic::Ordering::Relaxed))
            .then(|| self.inbox.pending()),
        };
        // Boxed: starting the actors is a large future, and whoever awaits
        // this one (a server's task per run) would otherwise keep room for
        // it for the run's whole life.
        // Unnamed: a run is reached through its handle, never looked up.
        let (actor, _) = Box::pin(Actor::spawn(None, RunActor, args))
            .await
            .map_err(|e| RuntimeError::Run(e.to_string()))?;
        let canceller = RunCanceller::new(actor);
        if let Some(journal) = &self.journal
            && bound.waits
        {
            self.inbox.register(journal, &run_id, canceller.clone());
        }
        Ok(RunHandle::new(
            run_id,
            RunWatch::new(bound.workflow.clone(), log),
            canceller,
            report,
        ))
    }

    /// Run a workflow to its end and report what happened.
    pub async fn execute(
        &self,
        workflow: Arc<Workflow>,
        input: Value,
        options: RunOptions,
    ) -> Result<RunReport, RuntimeError> {
        let bound = self.bind(workflow)?;
        self.spawn_run(&bound, input, options)
            .await?
            .finished()
            .await
    }
}

/// The caller's trace a run recorded when it started, if any.
fn journaled_trace(events: &[Recorded]) -> Option<TraceParent> {
    events.first().and_then(|first| match &first.event {
        RunEvent::RunStarted { traceparent, .. } => TraceParent::parse(traceparent.as_deref()?),
        _ => None,
    })
}
