//! Reading runs on PostgreSQL: one run with its events, and the listing,
//! one page, newest first, after a cursor, with the filters pushed into the
//! query.

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::leases::from_db;
use super::pg_error;
use crate::journal::{
    Definition, JournalError, RunQuery, RunRow, StoredRun, parse_event, parse_status,
};

/// A page of the listing. Run ids compare byte by byte (`COLLATE "C"`), as
/// the cursor orders them, whatever the database's collation; the cursor's
/// place is a range of the `created_at` index.
pub(super) async fn list_runs(
    client: &Client,
    query: &RunQuery,
) -> Result<Vec<RunRow>, JournalError> {
    let mut sql = String::from(
        "SELECT run_id, workflow, status, created_at, finished_at, owner FROM maestro_runs \
         WHERE true",
    );
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let status = query.stored_status();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    if let Some(after) = &query.after {
        params.push(&after.created_at);
        params.push(&after.run_id);
        let (at, id) = (params.len() - 1, params.len());
        sql.push_str(&format!(
            " AND created_at <= ${at} AND (created_at < ${at} OR run_id COLLATE \"C\" < ${id})"
        ));
    }
    if let Some(workflow) = &query.workflow {
        params.push(workflow);
        sql.push_str(&format!(" AND workflow = ${}", params.len()));
    }
    if let Some(status) = &status {
        params.push(status);
        sql.push_str(&format!(" AND status = ${}", params.len()));
    }
    if let Some(since) = &query.since {
        params.push(since);
        sql.push_str(&format!(" AND created_at >= ${}", params.len()));
    }
    if let Some(until) = &query.until {
        params.push(until);
        sql.push_str(&format!(" AND created_at < ${}", params.len()));
    }
    if let Some(prefix) = &query.id_prefix {
        params.push(prefix);
        sql.push_str(&format!(" AND starts_with(run_id, ${})", params.len()));
    }
    params.push(&limit);
    sql.push_str(&format!(
        " ORDER BY created_at DESC, run_id COLLATE \"C\" DESC LIMIT ${}",
        params.len()
    ));
    let rows = client
        .query(&sql, &params)
        .await
        .map_err(|e| JournalError::Read(pg_error(e)))?;
    rows.iter()
        .map(|r| {
            let mut row = RunRow::new(
                r.get(0),
                r.get(1),
                parse_status(r.get(2))?,
                r.get(3),
                r.get(4),
            );
            row.owner = r.get(5);
            Ok(row)
        })
        .collect()
}

/// A run as stored: its row, its definition and its events in order.
pub(super) async fn read_run(
    client: &Client,
    run_id: &str,
) -> Result<Option<StoredRun>, JournalError> {
    let read = |e| JournalError::Read(pg_error(e));
    let Some(row) = client
        .query_opt(
            "SELECT r.status, r.created_at, d.hash, d.name, d.path, d.text, r.input::text,
                    r.epoch
             FROM maestro_runs r JOIN maestro_definitions d ON d.hash = r.definition
             WHERE r.run_id = $1",
            &[&run_id],
        )
        .await
        .map_err(read)?
    else {
        return Ok(None);
    };
    let events = client
        .query(
            "SELECT body::text FROM maestro_events WHERE run_id = $1 ORDER BY seq",
            &[&run_id],
        )
        .await
        .map_err(read)?
        .iter()
        .map(|r| parse_event(r.get(0)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(StoredRun {
        run_id: run_id.to_string(),
        definition: Definition {
            hash: row.get(2),
            name: row.get(3),
            path: row.get(4),
            text: row.get::<_, String>(5).into(),
        },
        status: parse_status(row.get(0))?,
        created_at: row.get(1),
        input: serde_json::from_str(row.get(6))
            .map_err(|e| JournalError::Corrupt(e.to_string()))?,
        events,
        epoch: from_db(row.get(7)),
    }))
}
