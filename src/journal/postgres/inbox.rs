//! The signal inbox on PostgreSQL: a table every replica reads, each
//! taking the signals of the runs it drives.

use tokio_postgres::Client;

use super::pg_error;
use crate::journal::JournalError;
use crate::journal::inbox::{INBOX_BATCH, MAX_SIGNAL_BYTES, Posted, PostedSignal, too_large};

pub(super) async fn post(client: &Client, signal: &PostedSignal) -> Result<(), JournalError> {
    let payload = signal.payload.to_string();
    let bytes = payload.len() + signal.name.len() + signal.id.len() + signal.run_id.len();
    if bytes > MAX_SIGNAL_BYTES {
        return Err(too_large(bytes));
    }
    client
        .execute(
            "INSERT INTO maestro_signals (run_id, name, id, payload)
             VALUES ($1, $2, $3, $4::text::jsonb)",
            &[&signal.run_id, &signal.name, &signal.id, &payload],
        )
        .await
        .map_err(|e| JournalError::Write(pg_error(e)))?;
    Ok(())
}

pub(super) async fn posted(client: &Client) -> Result<Vec<Posted>, JournalError> {
    let read = |e| JournalError::Read(pg_error(e));
    let rows = client
        .query(
            "SELECT seq, run_id, name, id, payload::text FROM maestro_signals
             ORDER BY seq LIMIT $1",
            &[&(INBOX_BATCH as i64)],
        )
        .await
        .map_err(read)?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.get(0);
            let payload: &str = row.get(4);
            let payload = serde_json::from_str(payload)
                .map_err(|e| JournalError::Corrupt(format!("a posted signal: {e}")))?;
            Ok(Posted {
                key: seq.to_string(),
                signal: PostedSignal {
                    run_id: row.get(1),
                    name: row.get(2),
                    id: row.get(3),
                    payload,
                },
            })
        })
        .collect()
}

pub(super) async fn taken(client: &Client, keys: &[String]) -> Result<(), JournalError> {
    let seqs: Vec<i64> = keys.iter().filter_map(|k| k.parse().ok()).collect();
    client
        .execute("DELETE FROM maestro_signals WHERE seq = ANY($1)", &[&seqs])
        .await
        .map_err(|e| JournalError::Write(pg_error(e)))?;
    Ok(())
}
