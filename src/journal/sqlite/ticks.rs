//! Schedule ticks on SQLite: one process owns a state directory, so a
//! transaction on the reader connection orders claims.

use rusqlite::{Connection, OptionalExtension, params};

use super::read_error;
use crate::journal::{JournalError, LastTick, ScheduleKey, TickClaim, parse_timestamp, timestamp};
use std::time::SystemTime;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schedule_ticks (
    workflow TEXT NOT NULL,
    schedule INTEGER NOT NULL,
    tick     TEXT NOT NULL,
    run_id   TEXT,
    PRIMARY KEY (workflow, schedule)
);
";

fn write_error(e: rusqlite::Error) -> JournalError {
    JournalError::Write(e.to_string())
}

pub(super) fn last(conn: &Connection, key: &ScheduleKey) -> Result<Option<LastTick>, JournalError> {
    let row = conn
        .query_row(
            "SELECT tick, run_id FROM schedule_ticks WHERE workflow = ?1 AND schedule = ?2",
            params![key.workflow, key.index],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)),
        )
        .optional()
        .map_err(read_error)?;
    row.map(|(at, run_id)| {
        Ok(LastTick {
            at: parse_timestamp(&at)?,
            run_id,
        })
    })
    .transpose()
}

pub(super) fn claim(
    conn: &Connection,
    key: &ScheduleKey,
    tick: SystemTime,
) -> Result<TickClaim, JournalError> {
    let tx = conn.unchecked_transaction().map_err(write_error)?;
    let previous = last(&tx, key)?.and_then(|l| l.run_id);
    let won = tx
        .execute(
            "INSERT INTO schedule_ticks (workflow, schedule, tick) VALUES (?1, ?2, ?3)
             ON CONFLICT (workflow, schedule) DO UPDATE SET tick = excluded.tick, run_id = NULL
             WHERE schedule_ticks.tick < excluded.tick",
            params![key.workflow, key.index, timestamp(tick)],
        )
        .map_err(write_error)?;
    tx.commit().map_err(write_error)?;
    Ok(match won {
        0 => TickClaim::Taken,
        _ => TickClaim::Won {
            previous_run: previous,
        },
    })
}

pub(super) fn record_run(
    conn: &Connection,
    key: &ScheduleKey,
    tick: SystemTime,
    run_id: &str,
) -> Result<(), JournalError> {
    conn.execute(
        "UPDATE schedule_ticks SET run_id = ?4 WHERE workflow = ?1 AND schedule = ?2 AND tick = ?3",
        params![key.workflow, key.index, timestamp(tick), run_id],
    )
    .map_err(write_error)?;
    Ok(())
}
