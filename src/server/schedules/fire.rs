//! A tick fired for real: claimed in the journal when there is one, then,
//! unless the schedule's previous run goes on and `overlap` says otherwise,
//! a run started with the schedule's input, like one submitted over HTTP.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Value;
use tracing::{debug, info, warn};

use crate::journal::{BoxFuture, Journal, ScheduleKey, TickClaim};
use crate::runtime::BoundWorkflow;
use crate::workflow::schedule::TickAction;

use super::super::runs::Runs;
use super::{Fire, Scheduled};

/// Starts the runs of schedules through the server's run registry.
pub struct Starter {
    runs: Arc<Runs>,
    workflows: BTreeMap<String, BoundWorkflow>,
    journal: Option<Arc<dyn Journal>>,
    /// The run each schedule last started here: without a journal, the one
    /// place the overlap rule learns of it.
    started: Mutex<HashMap<ScheduleKey, String>>,
}

impl Starter {
    pub fn new(
        runs: Arc<Runs>,
        workflows: BTreeMap<String, BoundWorkflow>,
        journal: Option<Arc<dyn Journal>>,
    ) -> Self {
        Starter {
            runs,
            workflows,
            journal,
            started: Mutex::default(),
        }
    }

    fn started(&self) -> std::sync::MutexGuard<'_, HashMap<ScheduleKey, String>> {
        self.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claim the tick: won (with the previous run to weigh), taken by
    /// another process, or not claimed at all (`Err`: the journal failed).
    async fn claim(&self, key: &ScheduleKey, tick: SystemTime) -> Result<TickClaim, ()> {
        let Some(journal) = &self.journal else {
            let previous_run = self.started().get(key).cloned();
            return Ok(TickClaim::Won { previous_run });
        };
        journal.claim_tick(key, tick).await.map_err(|e| {
            warn!(workflow = %key.workflow, schedule = key.index, error = %e,
                  "a tick could not be claimed; it is not fired");
        })
    }

    /// Whether `run_id` is queued or running, here or (per the journal)
    /// anywhere.
    async fn going(&self, run_id: &str) -> bool {
        if let Some(going) = self.runs.get(run_id).and_then(|e| e.is_going()) {
            return going;
        }
        match &self.journal {
            Some(journal) => match journal.load(run_id).await {
                Ok(run) => run.is_some_and(|r| !r.is_finished()),
                // Unknown counts as going: a skipped tick is the lesser harm.
                Err(_) => true,
            },
            None => false,
        }
    }

    async fn start(&self, scheduled: &Scheduled, tick: SystemTime) -> bool {
        let key = &scheduled.key;
        let Some(bound) = self.workflows.get(&key.workflow) else {
            return false;
        };
        let input = Value::Object(scheduled.schedule.input.clone());
        match self.runs.submit(bound.clone(), input, None, None).await {
            Ok(entry) => {
                info!(workflow = %key.workflow, schedule = key.index, run = %entry.id,
                      tick = %humantime::format_rfc3339_millis(tick), "scheduled run started");
                self.started().insert(key.clone(), entry.id.clone());
                if let Some(journal) = &self.journal
                    && let Err(e) = journal.record_tick_run(key, tick, &entry.id).await
                {
                    warn!(run = %entry.id, error = %e, "the tick's run could not be recorded");
                }
                true
            }
            Err(refused) => {
                warn!(workflow = %key.workflow, schedule = key.index, reason = %refused,
                      "a scheduled run was refused");
                false
            }
        }
    }
}

impl Fire for Starter {
    fn last_fired(&self, scheduled: &Scheduled) -> BoxFuture<'_, Option<SystemTime>> {
        let key = scheduled.key.clone();
        Box::pin(async move {
            let journal = self.journal.as_ref()?;
            match journal.last_tick(&key).await {
                Ok(last) => last.map(|l| l.at),
                Err(e) => {
                    warn!(workflow = %key.workflow, error = %e, "the last tick could not be read");
                    None
                }
            }
        })
    }

    fn fire<'a>(&'a self, scheduled: &'a Scheduled, tick: SystemTime) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let previous = match self.claim(&scheduled.key, tick).await {
                Ok(TickClaim::Won { previous_run }) => previous_run,
                Ok(TickClaim::Taken) => {
                    debug!(workflow = %scheduled.key.workflow, schedule = scheduled.key.index,
                           "tick claimed elsewhere");
                    return true;
                }
                Err(()) => return false,
            };
            let going = match &previous {
                Some(id) => self.going(id).await,
                None => false,
            };
            match scheduled.schedule.overlap.decide(going) {
                TickAction::Skip => {
                    info!(workflow = %scheduled.key.workflow, schedule = scheduled.key.index,
                          "tick skipped: the previous run goes on (overlap: skip)");
                    true
                }
                TickAction::Start => self.start(scheduled, tick).await,
                TickAction::CancelThenStart => {
                    if let Some(id) = &previous
                        && self.runs.cancel(id).is_err()
                    {
                        warn!(run = %id, "the previous run is not driven here and was not \
                              cancelled; the new one starts beside it");
                    }
                    self.start(scheduled, tick).await
                }
            }
        })
    }
}
