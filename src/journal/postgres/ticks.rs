//! Schedule ticks on PostgreSQL: a claim is one upsert that moves a
//! schedule's tick forward only. Replicas claiming the same tick queue on
//! the row's lock; the later one sees the tick taken and changes nothing.

use std::time::SystemTime;

use tokio_postgres::Client;

use super::pg_error;
use crate::journal::{JournalError, LastTick, ScheduleKey, TickClaim};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS maestro_schedule_ticks (
    workflow text NOT NULL,
    schedule integer NOT NULL,
    tick     timestamptz NOT NULL,
    run_id   text,
    PRIMARY KEY (workflow, schedule)
);
";

fn index(key: &ScheduleKey) -> i32 {
    i32::try_from(key.index).unwrap_or(i32::MAX)
}

pub(super) async fn last(
    client: &Client,
    key: &ScheduleKey,
) -> Result<Option<LastTick>, JournalError> {
    let row = client
        .query_opt(
            "SELECT tick, run_id FROM maestro_schedule_ticks WHERE workflow = $1 AND schedule = $2",
            &[&key.workflow, &index(key)],
        )
        .await
        .map_err(|e| JournalError::Read(pg_error(e)))?;
    Ok(row.map(|row| LastTick {
        at: row.get(0),
        run_id: row.get(1),
    }))
}

pub(super) async fn claim(
    client: &Client,
    key: &ScheduleKey,
    tick: SystemTime,
) -> Result<TickClaim, JournalError> {
    // `old` reads the row as it was before this statement: the previous
    // tick's run, for the winner's overlap rule.
    let row = client
        .query_one(
            "WITH old AS (
                 SELECT run_id FROM maestro_schedule_ticks WHERE workflow = $1 AND schedule = $2
             ), up AS (
                 INSERT INTO maestro_schedule_ticks (workflow, schedule, tick) VALUES ($1, $2, $3)
                 ON CONFLICT (workflow, schedule)
                 DO UPDATE SET tick = EXCLUDED.tick, run_id = NULL
                 WHERE maestro_schedule_ticks.tick < EXCLUDED.tick
                 RETURNING 1
             )
             SELECT (SELECT count(*) FROM up), (SELECT run_id FROM old)",
            &[&key.workflow, &index(key), &tick],
        )
        .await
        .map_err(|e| JournalError::Write(pg_error(e)))?;
    Ok(match row.get::<_, i64>(0) {
        0 => TickClaim::Taken,
        _ => TickClaim::Won {
            previous_run: row.get(1),
        },
    })
}

pub(super) async fn record_run(
    client: &Client,
    key: &ScheduleKey,
    tick: SystemTime,
    run_id: &str,
) -> Result<(), JournalError> {
    client
        .execute(
            "UPDATE maestro_schedule_ticks SET run_id = $4
             WHERE workflow = $1 AND schedule = $2 AND tick = $3",
            &[&key.workflow, &index(key), &tick, &run_id],
        )
        .await
        .map_err(|e| JournalError::Write(pg_error(e)))?;
    Ok(())
}
