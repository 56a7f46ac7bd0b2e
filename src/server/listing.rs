//! `GET /v1/runs`: a page of runs, newest first, from the runs in memory
//! and, with a journal, the journal's, so a restarted server lists what it
//! ran before. A run held in memory is newer than its journal row.

use std::collections::HashSet;

use crate::journal::{Cursor, JournalError, RunQuery, RunRow};
use crate::runtime::RunStatus;

use super::runs::{RunSummary, Runs};

/// One page, and where the next one starts (`None` on the last).
#[derive(Debug, Clone)]
pub struct Page {
    pub runs: Vec<RunSummary>,
    pub next: Option<Cursor>,
}

/// The page `query` asks for.
pub async fn page(runs: &Runs, query: RunQuery) -> Result<Page, JournalError> {
    let mut memory = runs.snapshot(query.after.as_ref(), query.workflow.as_deref());
    memory.retain(|(at, summary)| query.admits(at.created_at, &summary.run_id));
    let stored = match runs.runtime().journal() {
        Some(journal) => {
            // One row more than the page: whether the journal holds more.
            let ask = RunQuery {
                limit: query.limit.saturating_add(1),
                ..query.clone()
            };
            Some(journal.list(ask).await?)
        }
        None => None,
    };
    Ok(merge(memory, stored, query.status, query.limit))
}

/// Merge the runs in memory (every one after the cursor, any status) with
/// the journal's next `limit + 1` rows (filtered by the journal), keep those
/// of `status`, and cut the page.
///
/// When the journal returned `limit + 1` rows, rows older than its last are
/// not known yet: the page stops there, so nothing is skipped, even if the
/// runs in memory replaced some rows and the page is short. Only the absence
/// of a next cursor means the end.
pub fn merge(
    memory: Vec<(Cursor, RunSummary)>,
    stored: Option<Vec<RunRow>>,
    status: Option<RunStatus>,
    limit: usize,
) -> Page {
    let stored = stored.unwrap_or_default();
    let floor = (stored.len() > limit)
        .then(|| stored.last().map(RunRow::cursor))
        .flatten();
    let held: HashSet<String> = memory.iter().map(|(_, s)| s.run_id.clone()).collect();
    let mut all: Vec<(Cursor, RunSummary)> = memory;
    all.extend(
        stored
            .iter()
            .filter(|row| !held.contains(&row.run_id))
            .map(|row| (row.cursor(), summary_of(row))),
    );
    all.retain(|(at, summary)| {
        status.is_none_or(|s| summary.status == s) && floor.as_ref().is_none_or(|f| at >= f)
    });
    all.sort_by(|a, b| b.0.cmp(&a.0));
    let next = if all.len() > limit {
        all.truncate(limit);
        all.last().map(|(at, _)| at.clone())
    } else {
        floor
    };
    Page {
        runs: all.into_iter().map(|(_, summary)| summary).collect(),
        next,
    }
}

fn summary_of(row: &RunRow) -> RunSummary {
    RunSummary {
        run_id: row.run_id.clone(),
        workflow: row.workflow.clone(),
        status: row.status,
        submitted_at: row.created_at.clone(),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    fn row(id: &str, ms: u64, status: RunStatus) -> RunRow {
        RunRow::new(id.into(), "wf".into(), status, at(ms), None)
    }

    /// The journal as a backend answers a query: newest first, after the
    /// cursor, of the status asked (queued and running both mean unfinished).
    fn journal_page(rows: &[RunRow], query: &RunQuery) -> Vec<RunRow> {
        let mut out: Vec<RunRow> = rows
            .iter()
            .filter(|r| query.after.as_ref().is_none_or(|a| r.cursor() < *a))
            .filter(|r| query.stored_status().is_none_or(|s| r.status.label() == s))
            .cloned()
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.cursor()));
        out.truncate(query.limit);
        out
    }

    /// Walk every page; the ids in the order listed.
    fn walk(
        journal: Option<&[RunRow]>,
        memory: &[(Cursor, RunSummary)],
        status: Option<RunStatus>,
        limit: usize,
    ) -> Vec<String> {
        let (mut seen, mut after) = (Vec::new(), None::<Cursor>);
        for _ in 0..100 {
            let query = RunQuery {
                limit,
                after: after.clone(),
                status,
                ..RunQuery::default()
            };
            let held = memory
                .iter()
                .filter(|(at, _)| after.as_ref().is_none_or(|a| at < a))
                .cloned()
                .collect();
            let stored = journal.map(|rows| {
                let ask = RunQuery {
                    limit: limit + 1,
                    ..query.clone()
                };
                journal_page(rows, &ask)
            });
            let page = merge(held, stored, status, limit);
            assert!(page.runs.len() <= limit);
            seen.extend(page.runs.into_iter().map(|s| s.run_id));
            match page.next {
                Some(next) => after = Some(next),
                None => return seen,
            }
        }
        panic!("the pages never ended: {seen:?}");
    }

    fn held(id: &str, ms: u64, status: RunStatus) -> (Cursor, RunSummary) {
        let r = row(id, ms, status);
        (r.cursor(), summary_of(&r))
    }

    #[test]
    fn pages_walk_journal_and_memory_once_each_newest_first() {
        // Ties on the time are ordered by id; runs in memory replace their
        // journal rows (`c` and `e` are running here, unfinished there).
        let journal: Vec<RunRow> = [
            ("a", 1, RunStatus::Succeeded),
            ("b", 2, RunStatus::Compensated),
            ("c", 2, RunStatus::Running),
            ("d", 2, RunStatus::Cancelled),
            ("e", 5, RunStatus::Running),
            ("f", 6, RunStatus::Succeeded),
        ]
        .iter()
        .map(|(id, ms, st)| row(id, *ms, *st))
        .collect();
        let memory = vec![
            held("c", 2, RunStatus::Queued),
            held("e", 5, RunStatus::Succeeded),
            held("g", 7, RunStatus::Queued),
        ];
        for limit in 1..=8 {
            assert_eq!(
                walk(Some(&journal), &memory, None, limit),
                ["g", "f", "e", "d", "c", "b", "a"],
                "limit {limit}"
            );
            // The status of the run in memory wins over its journal row.
            assert_eq!(
                walk(Some(&journal), &memory, Some(RunStatus::Succeeded), limit),
                ["f", "e", "a"],
                "limit {limit}"
            );
            assert_eq!(
                walk(Some(&journal), &memory, Some(RunStatus::Queued), limit),
                ["g", "c"],
                "limit {limit}"
            );
            assert_eq!(
                walk(None, &memory, None, limit),
                ["g", "e", "c"],
                "limit {limit}"
            );
        }
    }

    #[test]
    fn the_last_page_has_no_cursor_and_an_empty_listing_one_page() {
        let memory = vec![held("a", 1, RunStatus::Queued)];
        let page = merge(memory.clone(), Some(Vec::new()), None, 1);
        assert_eq!(page.runs.len(), 1);
        assert!(page.next.is_none());
        let page = merge(Vec::new(), Some(Vec::new()), None, 5);
        assert!(page.runs.is_empty() && page.next.is_none());
        let page = merge(memory, None, None, 5);
        assert!(page.next.is_none());
    }
}
