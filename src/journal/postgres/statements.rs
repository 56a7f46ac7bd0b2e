//! The PostgreSQL writer's statements: a group's writes go in as arrays,
//! one statement per kind, prepared once per connection.

use std::time::Duration;

use tokio_postgres::{Client, Statement};

use super::pg_error;
use crate::journal::JournalError;

const INSERT_DEFINITIONS: &str = "
INSERT INTO maestro_definitions (hash, name, path, text)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING";

const INSERT_RUNS: &str = "
INSERT INTO maestro_runs (run_id, workflow, definition, input, created_at, owner, lease_until)
SELECT r.run_id, r.workflow, r.definition, r.input::jsonb, r.created_at, $6,
       now() + make_interval(secs => $7)
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
     AS r(run_id, workflow, definition, input, created_at)";

/// Locks the runs of the group's events `FOR KEY SHARE` until commit, so a
/// claim (`FOR UPDATE`) waits out this transaction and the new owner reads
/// what it commits; writes only the events of runs `$7` holds under the
/// write's claim; returns each locked run's holder, from which the writer
/// tells which events were refused and why.
const WRITE_EVENTS: &str = "
WITH held AS (
    SELECT run_id, owner, epoch FROM maestro_runs
    WHERE run_id = ANY($1::text[]) FOR KEY SHARE),
written AS (
    INSERT INTO maestro_events (run_id, seq, at, kind, body)
    SELECT e.run_id, e.seq, e.at, e.kind, e.body::jsonb
    FROM unnest($1::text[], $2::int8[], $3::timestamptz[], $4::text[], $5::text[], $6::int8[])
         AS e(run_id, seq, at, kind, body, epoch)
    JOIN held h ON h.run_id = e.run_id AND h.owner = $7 AND h.epoch = e.epoch)
SELECT run_id, owner, epoch FROM held";

/// Fenced like the events: a run ends only under its owner's claim.
const FINISH_RUNS: &str = "
UPDATE maestro_runs r SET status = d.status, finished_at = d.at, lease_until = NULL
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int8[]) AS d(run_id, status, at, epoch)
WHERE r.run_id = d.run_id AND r.owner = $5 AND r.epoch = d.epoch";

/// The writer's statements, prepared on its connection.
pub(super) struct Statements {
    pub definitions: Statement,
    pub runs: Statement,
    pub events: Statement,
    pub finish: Statement,
}

/// Set the session up and prepare the writer's statements.
pub(super) async fn prepare(client: &Client, limit: Duration) -> Result<Statements, JournalError> {
    // A transaction of the writer never waits between statements, unless
    // the process froze: its row locks would then keep other replicas from
    // claiming the runs until it woke up. The database ends such a session
    // after the limit of an answer (a lease), and the locks with it.
    //
    // A generic plan is made once, from the tables' size then: made on a
    // new database it scans whole tables (`maestro_runs`, for the finish),
    // and keeps doing so as they grow, until they are analyzed. A plan for
    // each execution costs little beside a commit, and follows the tables.
    client
        .batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = {};
             SET plan_cache_mode = force_custom_plan",
            limit.as_millis()
        ))
        .await
        .map_err(write_error)?;
    let prepare = async |sql: &str| client.prepare(sql).await.map_err(write_error);
    Ok(Statements {
        definitions: prepare(INSERT_DEFINITIONS).await?,
        runs: prepare(INSERT_RUNS).await?,
        events: prepare(WRITE_EVENTS).await?,
        finish: prepare(FINISH_RUNS).await?,
    })
}

pub(super) fn write_error(e: tokio_postgres::Error) -> JournalError {
    JournalError::Write(pg_error(e))
}
