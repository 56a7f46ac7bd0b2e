//! The PostgreSQL journal, for several `maestro serve` replicas sharing
//! runs. Each unfinished run has an owner and a lease the owner renews;
//! a run whose lease expired is claimed by another replica and resumed.
//! Every event insert is fenced on ownership, so a replica that lost a run
//! can no longer write to it.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls};
use tracing::{debug, error, warn};

use super::{
    Ack, BoxFuture, Definition, Journal, JournalError, Queued, RunRow, StoredRun, Waiters, Write,
    WriteQueue, group, parse_event, parse_status,
};

/// Runs are re-claimable this long after their owner last renewed.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// Runs taken over per claim, so one replica does not grab a whole backlog.
const CLAIM_BATCH: i64 = 256;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS maestro_definitions (
    hash text PRIMARY KEY,
    name text NOT NULL,
    path text NOT NULL,
    text text NOT NULL
);
CREATE TABLE IF NOT EXISTS maestro_runs (
    run_id      text PRIMARY KEY,
    workflow    text NOT NULL,
    definition  text NOT NULL REFERENCES maestro_definitions(hash),
    status      text NOT NULL DEFAULT 'running',
    input       jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    finished_at timestamptz,
    owner       text,
    lease_until timestamptz
);
CREATE INDEX IF NOT EXISTS maestro_runs_unfinished ON maestro_runs(lease_until) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS maestro_events (
    run_id text NOT NULL,
    seq    bigint NOT NULL,
    at     timestamptz NOT NULL,
    kind   text NOT NULL,
    body   jsonb NOT NULL,
    PRIMARY KEY (run_id, seq)
);
";

/// Who this replica is, and how long its claims last without renewal.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub owner: String,
    pub ttl: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            owner: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7()),
            ttl: DEFAULT_LEASE,
        }
    }
}

pub struct PostgresJournal {
    reader: Arc<Client>,
    writes: WriteQueue,
    lease: LeaseConfig,
    place: String,
}

fn pg_error(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

async fn client(url: &str) -> Result<Client, JournalError> {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| JournalError::Open {
                place: redact(url),
                message: pg_error(e),
            })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            error!(error = %pg_error(e), "journal connection lost");
        }
    });
    Ok(client)
}

impl PostgresJournal {
    /// Connect, create the tables if need be, and start renewing leases.
    pub async fn connect(url: &str, lease: LeaseConfig) -> Result<Self, JournalError> {
        let place = redact(url);
        let mut writer = client(url).await?;
        // Replicas starting together must not race on CREATE TABLE.
        let tx = writer.transaction().await.map_err(|e| JournalError::Open {
            place: place.clone(),
            message: pg_error(e),
        })?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock(7214720841); {SCHEMA}"
        ))
        .await
        .and(Ok(()))
        .map_err(|e| JournalError::Open {
            place: place.clone(),
            message: pg_error(e),
        })?;
        tx.commit().await.map_err(|e| JournalError::Open {
            place: place.clone(),
            message: pg_error(e),
        })?;
        let reader = Arc::new(client(url).await?);
        let (writes, rx) = WriteQueue::new();
        tokio::spawn(write_loop(writer, rx, lease.clone()));
        tokio::spawn(renew_loop(Arc::downgrade(&reader), lease.clone()));
        Ok(Self {
            reader,
            writes,
            lease,
            place,
        })
    }

    /// Connect for reading only: no lease, no writes.
    pub async fn connect_reader(url: &str) -> Result<Self, JournalError> {
        Ok(Self {
            reader: Arc::new(client(url).await?),
            writes: WriteQueue::read_only(),
            lease: LeaseConfig::default(),
            place: redact(url),
        })
    }

    pub fn owner(&self) -> &str {
        &self.lease.owner
    }

    async fn load_run(&self, run_id: &str) -> Result<Option<StoredRun>, JournalError> {
        let read = |e| JournalError::Read(pg_error(e));
        let Some(row) = self
            .reader
            .query_opt(
                "SELECT r.status, r.created_at, d.hash, d.name, d.path, d.text, r.input::text
                 FROM maestro_runs r JOIN maestro_definitions d ON d.hash = r.definition
                 WHERE r.run_id = $1",
                &[&run_id],
            )
            .await
            .map_err(read)?
        else {
            return Ok(None);
        };
        let events = self
            .reader
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
        }))
    }
}

impl Journal for PostgresJournal {
    fn write(&self, write: Write) -> Ack {
        self.writes.push(write)
    }

    fn claim(&self) -> BoxFuture<'_, Result<Vec<StoredRun>, JournalError>> {
        Box::pin(async move {
            let rows = self
                .reader
                .query(
                    "WITH expired AS (
                         SELECT run_id FROM maestro_runs
                         WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now())
                         ORDER BY run_id LIMIT $3 FOR UPDATE SKIP LOCKED)
                     UPDATE maestro_runs r
                     SET owner = $1, lease_until = now() + make_interval(secs => $2)
                     FROM expired WHERE r.run_id = expired.run_id
                     RETURNING r.run_id",
                    &[
                        &self.lease.owner,
                        &self.lease.ttl.as_secs_f64(),
                        &CLAIM_BATCH,
                    ],
                )
                .await
                .map_err(|e| JournalError::Write(pg_error(e)))?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let id: String = row.get(0);
                if let Some(run) = self.load_run(&id).await? {
                    out.push(run);
                }
            }
            Ok(out)
        })
    }

    fn load(&self, run_id: &str) -> BoxFuture<'_, Result<Option<StoredRun>, JournalError>> {
        let run_id = run_id.to_string();
        Box::pin(async move { self.load_run(&run_id).await })
    }

    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<RunRow>, JournalError>> {
        Box::pin(async move {
            let rows = self
                .reader
                .query(
                    "SELECT run_id, workflow, status, created_at, finished_at, owner
                     FROM maestro_runs ORDER BY created_at DESC, run_id DESC LIMIT $1",
                    &[&(limit as i64)],
                )
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
        })
    }

    fn prune(&self, before: SystemTime) -> BoxFuture<'_, Result<u64, JournalError>> {
        Box::pin(async move {
            let write = |e| JournalError::Write(pg_error(e));
            self.reader
                .execute(
                    "DELETE FROM maestro_events e USING maestro_runs r
                     WHERE e.run_id = r.run_id AND r.finished_at < $1",
                    &[&before],
                )
                .await
                .map_err(write)?;
            let runs = self
                .reader
                .execute(
                    "DELETE FROM maestro_runs WHERE finished_at < $1",
                    &[&before],
                )
                .await
                .map_err(write)?;
            self.reader
                .execute(
                    "DELETE FROM maestro_definitions d WHERE NOT EXISTS
                     (SELECT 1 FROM maestro_runs r WHERE r.definition = d.hash)",
                    &[],
                )
                .await
                .map_err(write)?;
            Ok(runs)
        })
    }

    fn release(&self, run_id: &str) -> BoxFuture<'_, Result<(), JournalError>> {
        let run_id = run_id.to_string();
        Box::pin(async move {
            self.reader
                .execute(
                    "UPDATE maestro_runs SET owner = NULL, lease_until = NULL
                     WHERE run_id = $1 AND owner = $2 AND status = 'running'",
                    &[&run_id, &self.lease.owner],
                )
                .await
                .map_err(|e| JournalError::Write(pg_error(e)))?;
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("postgres {} (replica {})", self.place, self.lease.owner)
    }
}

/// Keep this replica's claims alive until the journal is dropped.
async fn renew_loop(client: Weak<Client>, lease: LeaseConfig) {
    let mut tick = tokio::time::interval(lease.ttl / 3);
    loop {
        tick.tick().await;
        let Some(client) = client.upgrade() else {
            return;
        };
        let renewed = client
            .execute(
                "UPDATE maestro_runs SET lease_until = now() + make_interval(secs => $2)
                 WHERE owner = $1 AND status = 'running'",
                &[&lease.owner, &lease.ttl.as_secs_f64()],
            )
            .await;
        match renewed {
            Ok(n) => debug!(runs = n, "leases renewed"),
            Err(e) => warn!(error = %pg_error(e), "leases could not be renewed"),
        }
    }
}

/// The writer task: commit every write queued so far in one transaction.
async fn write_loop(
    mut client: Client,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    lease: LeaseConfig,
) {
    while let Some(first) = rx.recv().await {
        let group = group(first, &mut rx);
        let writes: Vec<&Write> = group.iter().map(|(w, _)| w).collect();
        match commit(&mut client, &writes, &lease).await {
            Ok(fenced) => {
                debug!(writes = group.len(), "journal group committed");
                let mut waiters = Waiters::default();
                for (write, tx) in group {
                    match write {
                        Write::Event { run_id, seq, .. }
                            if fenced.contains(&(run_id.to_string(), seq as i64)) =>
                        {
                            let _ = tx.send(Err(JournalError::LeaseLost {
                                run_id: run_id.to_string(),
                            }));
                        }
                        _ => waiters.push(tx),
                    }
                }
                waiters.resolve(&Ok(()));
            }
            // One bad write must not fail its neighbours: commit each alone.
            Err(_) => {
                for (write, tx) in group {
                    let result = match commit(&mut client, &[&write], &lease).await {
                        Ok(fenced) if fenced.is_empty() => Ok(()),
                        Ok(_) => Err(lease_lost(&write)),
                        Err(e) => {
                            error!(error = %e, "journal write failed");
                            Err(e)
                        }
                    };
                    let _ = tx.send(result);
                }
            }
        }
    }
}

fn lease_lost(write: &Write) -> JournalError {
    let run_id = match write {
        Write::Begin(run) => run.run_id.to_string(),
        Write::Event { run_id, .. } => run_id.to_string(),
    };
    JournalError::LeaseLost { run_id }
}

/// Commit one group; returns the events refused because this replica no
/// longer owns their run.
async fn commit(
    client: &mut Client,
    writes: &[&Write],
    lease: &LeaseConfig,
) -> Result<HashSet<(String, i64)>, JournalError> {
    let write_error = |e| JournalError::Write(pg_error(e));
    let tx = client.transaction().await.map_err(write_error)?;
    let (mut ids, mut seqs, mut ats, mut kinds, mut bodies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut done_ids, mut done_status, mut done_at) = (Vec::new(), Vec::new(), Vec::new());
    for write in writes {
        match write {
            Write::Begin(run) => {
                let d = &run.definition;
                tx.execute(
                    "INSERT INTO maestro_definitions (hash, name, path, text)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&d.hash, &d.name, &d.path, &&*d.text],
                )
                .await
                .map_err(write_error)?;
                tx.execute(
                    "INSERT INTO maestro_runs
                         (run_id, workflow, definition, input, created_at, owner, lease_until)
                     VALUES ($1, $2, $3, $7::text::jsonb, $4, $5, now() + make_interval(secs => $6))",
                    &[
                        &&*run.run_id,
                        &d.name,
                        &d.hash,
                        &run.created_at,
                        &lease.owner,
                        &lease.ttl.as_secs_f64(),
                        &run.input.to_string(),
                    ],
                )
                .await
                .map_err(write_error)?;
            }
            Write::Event {
                run_id,
                seq,
                at,
                kind,
                body,
                finished,
            } => {
                ids.push(run_id.to_string());
                seqs.push(*seq as i64);
                ats.push(*at);
                kinds.push(kind.to_string());
                bodies.push(body.clone());
                if let Some(status) = finished {
                    done_ids.push(run_id.to_string());
                    done_status.push(status.label().to_string());
                    done_at.push(*at);
                }
            }
        }
    }
    let mut fenced: HashSet<(String, i64)> = HashSet::new();
    if !ids.is_empty() {
        let inserted = tx
            .query(
                "INSERT INTO maestro_events (run_id, seq, at, kind, body)
                 SELECT e.run_id, e.seq, e.at, e.kind, e.body::jsonb
                 FROM unnest($1::text[], $2::int8[], $3::timestamptz[], $4::text[], $5::text[])
                      AS e(run_id, seq, at, kind, body)
                 JOIN maestro_runs r ON r.run_id = e.run_id AND r.owner = $6
                 RETURNING run_id, seq",
                &[&ids, &seqs, &ats, &kinds, &bodies, &lease.owner],
            )
            .await
            .map_err(write_error)?;
        fenced = ids.into_iter().zip(seqs).collect();
        for row in inserted {
            fenced.remove(&(row.get::<_, String>(0), row.get::<_, i64>(1)));
        }
    }
    if !done_ids.is_empty() {
        tx.execute(
            "UPDATE maestro_runs r SET status = d.status, finished_at = d.at, lease_until = NULL
             FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS d(run_id, status, at)
             WHERE r.run_id = d.run_id AND r.owner = $4",
            &[&done_ids, &done_status, &done_at, &lease.owner],
        )
        .await
        .map_err(write_error)?;
    }
    tx.commit().await.map_err(write_error)?;
    Ok(fenced)
}
