//! Runs taken over from the journal: every unfinished run resumes when the
//! server starts, and, on PostgreSQL, runs whose owner's lease expired are
//! claimed as the server goes. Finished runs past retention are pruned.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::journal::Journal;
use crate::runtime::{BoundWorkflow, RunReport};

use super::runs::{RunView, Runs};

/// How often expired leases are looked for: a cheap indexed query.
pub const TAKEOVER_EVERY: Duration = Duration::from_secs(2);

/// Definitions already bound, by content hash: the server's own workflows
/// first, then any older definition a resumed run started with.
pub struct Definitions(HashMap<String, BoundWorkflow>);

impl Definitions {
    pub fn new<'a>(known: impl IntoIterator<Item = &'a BoundWorkflow>) -> Self {
        Definitions(
            known
                .into_iter()
                .filter_map(|b| Some((b.definition_hash()?.to_string(), b.clone())))
                .collect(),
        )
    }
}

/// Claim what the journal offers and resume it; returns how many runs.
pub async fn take_over(
    runs: &Arc<Runs>,
    journal: &Arc<dyn Journal>,
    definitions: &mut Definitions,
) -> usize {
    let mut claimed = match journal.claim().await {
        Ok(claimed) => claimed,
        Err(e) => {
            warn!(error = %e, "cannot read unfinished runs from the journal");
            return 0;
        }
    };
    // Runs that started go first: their effects at services (a reservation,
    // a charge) wait on them, and they queue for slots in this order. The
    // sort is stable: oldest first within each kind.
    claimed.sort_by_key(|run| run.events.is_empty());
    let mut resumed = 0;
    for stored in claimed {
        let hash = stored.definition.hash.clone();
        let bound = match definitions.0.get(&hash) {
            Some(bound) => bound.clone(),
            None => match runs.runtime().bind_definition(&stored.definition).await {
                Ok(bound) => definitions.0.entry(hash).or_insert(bound).clone(),
                Err(e) => {
                    error!(run = %stored.run_id, error = %e, "run cannot be resumed; left in the journal");
                    continue;
                }
            },
        };
        runs.resume(bound, stored);
        resumed += 1;
    }
    if resumed > 0 {
        info!(runs = resumed, "unfinished runs resumed from the journal");
    }
    resumed
}

/// Keep claiming runs whose owner went away, until `stop`.
pub async fn keep_taking_over(
    runs: Arc<Runs>,
    journal: Arc<dyn Journal>,
    mut definitions: Definitions,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(TAKEOVER_EVERY) => {}
            () = stop.cancelled() => return,
        }
        if runs.is_closed() {
            return;
        }
        take_over(&runs, &journal, &mut definitions).await;
    }
}

/// Delete finished runs older than `retain`, now and then, until `stop`.
pub async fn prune(journal: Arc<dyn Journal>, retain: Duration, stop: CancellationToken) {
    let every = (retain / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        let before = SystemTime::now()
            .checked_sub(retain)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        match journal.prune(before).await {
            Ok(0) => {}
            Ok(runs) => info!(runs, "finished runs pruned from the journal"),
            Err(e) => warn!(error = %e, "cannot prune the journal"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// A run as the journal holds it, for a run this process does not hold in
/// memory. `None` when the journal has no such run or cannot tell.
pub async fn stored_view(journal: &dyn Journal, run_id: &str) -> Option<RunView> {
    let stored = match journal.load(run_id).await {
        Ok(stored) => stored?,
        Err(e) => {
            warn!(run = %run_id, error = %e, "cannot read the run from the journal");
            return None;
        }
    };
    let definition = &stored.definition;
    let env = |name: &str| std::env::var(name).ok();
    let workflow = crate::workflow::load_str(&definition.text, &definition.path, &env).ok()?;
    let mut report = RunReport::from_events(&workflow, &stored.events, None);
    report.run_id = stored.run_id;
    Some(RunView {
        report,
        submitted_at: humantime::format_rfc3339_millis(stored.created_at).to_string(),
    })
}
