//! `execute --state-dir`: before the new run, finish the unfinished runs of
//! the same workflow that a crash or kill cut short. Other workflows' runs
//! are left to whoever runs those (`serve`, or `execute` of their file).

use crate::journal::Journal;
use crate::runtime::Runtime;

use super::say;

/// Resume and wait for each unfinished run of `workflow`, saying which on
/// stderr; let go of the others' and say how many were left.
pub async fn finish_unfinished(actors: &Runtime, journal: &dyn Journal, workflow: &str) {
    let claimed = match journal.claim().await {
        Ok(claimed) => claimed,
        Err(e) => {
            say::warn(&format!("cannot read unfinished runs: {e}"));
            return;
        }
    };
    let (ours, others): (Vec<_>, Vec<_>) = claimed
        .into_iter()
        .partition(|stored| stored.definition.name == workflow);
    for stored in &others {
        // On PostgreSQL another process may take it at once; a state
        // directory keeps it for the next start.
        if let Err(e) = journal.release(&stored.run_id).await {
            say::warn(&format!("cannot let go of run {}: {e}", stored.run_id));
        }
    }
    if !others.is_empty() {
        let ids: Vec<&str> = others.iter().map(|s| s.run_id.as_str()).collect();
        say::info(&format!(
            "left {} unfinished run{} of other workflows in the journal: {}",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" },
            ids.join(", ")
        ));
    }
    for stored in ours {
        let id = stored.run_id.clone();
        say::info(&format!("resuming unfinished run {id} ({workflow})"));
        let resumed = match actors.bind_definition(&stored.definition).await {
            Ok(bound) => match actors.resume(&bound, stored, None).await {
                Ok(handle) => handle.finished().await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match resumed {
            Ok(report) => say::info(&format!(
                "resumed run {id} ({}): {}",
                report.workflow,
                report.status.label()
            )),
            Err(e) => say::warn(&format!("run {id} was not resumed: {e}")),
        }
    }
}
