//! The listing of runs on SQLite: one page, newest first, after a cursor,
//! with the filters pushed into the query.

use rusqlite::Connection;

use super::read_error;
use crate::journal::{JournalError, RunQuery, RunRow, parse_status, parse_timestamp, timestamp};

/// A page of the listing: the cursor's place is a range of the
/// `runs_by_creation` index, so a deep page costs what the first does.
pub(super) fn list_runs(conn: &Connection, query: &RunQuery) -> Result<Vec<RunRow>, JournalError> {
    use rusqlite::types::Value as Param;
    let mut sql = String::from(
        "SELECT run_id, workflow, status, created_at, finished_at FROM runs WHERE 1 = 1",
    );
    let mut params: Vec<Param> = Vec::new();
    if let Some(after) = &query.after {
        let at = timestamp(after.created_at);
        sql.push_str(" AND created_at <= ? AND (created_at < ? OR run_id < ?)");
        params.extend([Param::Text(at.clone()), Param::Text(at)]);
        params.push(Param::Text(after.run_id.clone()));
    }
    if let Some(workflow) = &query.workflow {
        sql.push_str(" AND workflow = ?");
        params.push(Param::Text(workflow.clone()));
    }
    if let Some(status) = query.stored_status() {
        sql.push_str(" AND status = ?");
        params.push(Param::Text(status.to_string()));
    }
    if let Some(since) = query.since {
        sql.push_str(" AND created_at >= ?");
        params.push(Param::Text(timestamp(since)));
    }
    if let Some(until) = query.until {
        sql.push_str(" AND created_at < ?");
        params.push(Param::Text(timestamp(until)));
    }
    if let Some(prefix) = &query.id_prefix {
        // Not LIKE: it ignores the case of ASCII letters.
        sql.push_str(" AND substr(run_id, 1, length(?)) = ?");
        params.extend([Param::Text(prefix.clone()), Param::Text(prefix.clone())]);
    }
    sql.push_str(" ORDER BY created_at DESC, run_id DESC LIMIT ?");
    params.push(Param::Integer(
        i64::try_from(query.limit).unwrap_or(i64::MAX),
    ));
    let mut stmt = conn.prepare_cached(&sql).map_err(read_error)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(read_error)?;
    let mut out = Vec::new();
    for row in rows {
        let (run_id, workflow, status, created, finished) = row.map_err(read_error)?;
        out.push(RunRow::new(
            run_id,
            workflow,
            parse_status(&status)?,
            parse_timestamp(&created)?,
            finished.as_deref().map(parse_timestamp).transpose()?,
        ));
    }
    Ok(out)
}
