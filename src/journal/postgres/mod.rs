//! The PostgreSQL journal, for several `maestro serve` replicas sharing
//! runs. Each unfinished run has an owner and a lease the owner renews;
//! a run whose lease expired is claimed by another replica and resumed.
//! Every event insert is fenced on ownership, so a replica that lost a run
//! can no longer write to it.

mod list;
mod writer;

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};
use tracing::{debug, error, warn};

use super::{
    Ack, BoxFuture, Definition, Journal, JournalError, RunQuery, RunRow, StoredRun, Write,
    WriteQueue, parse_event, parse_status,
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
CREATE INDEX IF NOT EXISTS maestro_runs_owned ON maestro_runs(owner) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS maestro_runs_created ON maestro_runs(created_at);
CREATE INDEX IF NOT EXISTS maestro_runs_finished ON maestro_runs(finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS maestro_events (
    run_id text NOT NULL,
    seq    bigint NOT NULL,
    at     timestamptz NOT NULL,
    kind   text NOT NULL,
    body   jsonb NOT NULL,
    PRIMARY KEY (run_id, seq)
);
";

/// Takes runs whose lease expired, never this replica's own (it renews
/// those). `FOR UPDATE` matters: the writer holds `FOR KEY SHARE` on the
/// runs it writes to, so a run is never taken while its owner's write is
/// in flight, and the taker reads every write its owner was told is durable.
/// Runs that started (they have events) come first: a batch takes them
/// before a backlog of runs that never started.
const CLAIM: &str = "
WITH expired AS (
    SELECT run_id FROM maestro_runs
    WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now())
      AND owner IS DISTINCT FROM $1
    ORDER BY NOT EXISTS (SELECT 1 FROM maestro_events e WHERE e.run_id = maestro_runs.run_id),
             run_id
    LIMIT $3 FOR UPDATE SKIP LOCKED)
UPDATE maestro_runs r
SET owner = $1, lease_until = now() + make_interval(secs => $2)
FROM expired WHERE r.run_id = expired.run_id
RETURNING r.run_id";

/// Rows being finished or claimed right now are skipped rather than
/// waited for: two updates of many rows in different orders could deadlock.
const RENEW: &str = "
UPDATE maestro_runs SET lease_until = now() + make_interval(secs => $2)
WHERE run_id IN (
    SELECT run_id FROM maestro_runs WHERE owner = $1 AND status = 'running'
    FOR NO KEY UPDATE SKIP LOCKED)";

const RELEASE: &str = "
UPDATE maestro_runs SET owner = NULL, lease_until = NULL
WHERE run_id = ANY($1) AND owner = $2 AND status = 'running'";

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
    reader: Arc<Session>,
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

async fn connect(url: &str) -> Result<Client, JournalError> {
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

/// A connection opened again once it is lost (the server restarted, the
/// session was terminated), so a replica outlives its database's hiccups.
struct Session {
    url: String,
    client: Mutex<Arc<Client>>,
}

impl Session {
    async fn client(&self) -> Result<Arc<Client>, JournalError> {
        let mut client = self.client.lock().await;
        if client.is_closed() {
            warn!("journal connection lost; opening it again");
            *client = Arc::new(connect(&self.url).await?);
        }
        Ok(client.clone())
    }
}

impl PostgresJournal {
    /// Connect, create the tables if need be, and start renewing leases.
    pub async fn connect(url: &str, lease: LeaseConfig) -> Result<Self, JournalError> {
        let place = redact(url);
        let open = |e| JournalError::Open {
            place: place.clone(),
            message: pg_error(e),
        };
        let mut client = connect(url).await?;
        // Replicas starting together must not race on CREATE TABLE.
        let tx = client.transaction().await.map_err(open)?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock(7214720841); {SCHEMA}"
        ))
        .await
        .map_err(open)?;
        tx.commit().await.map_err(open)?;
        let writer = writer::Writer::open(url, lease.clone()).await?;
        let reader = Arc::new(Session {
            url: url.to_string(),
            client: Mutex::new(Arc::new(client)),
        });
        let (writes, rx) = WriteQueue::new();
        tokio::spawn(writer.run(rx));
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
            reader: Arc::new(Session {
                url: url.to_string(),
                client: Mutex::new(Arc::new(connect(url).await?)),
            }),
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
        let client = self.reader.client().await?;
        let Some(row) = client
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
        }))
    }

    async fn release_runs(&self, run_ids: &[String]) -> Result<(), JournalError> {
        self.reader
            .client()
            .await?
            .execute(RELEASE, &[&run_ids, &self.lease.owner])
            .await
            .map_err(|e| JournalError::Write(pg_error(e)))?;
        Ok(())
    }
}

impl Journal for PostgresJournal {
    fn write(&self, write: Write) -> Ack {
        self.writes.push(write)
    }

    fn claim(&self) -> BoxFuture<'_, Result<Vec<StoredRun>, JournalError>> {
        Box::pin(async move {
            let ttl = self.lease.ttl.as_secs_f64();
            let ids: Vec<String> = self
                .reader
                .client()
                .await?
                .query(CLAIM, &[&self.lease.owner, &ttl, &CLAIM_BATCH])
                .await
                .map_err(|e| JournalError::Write(pg_error(e)))?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                match self.load_run(id).await {
                    Ok(Some(run)) => out.push(run),
                    Ok(None) => {}
                    // Handing it on would only make every replica fail on
                    // it in turn: it stays here, unresumed, for a person.
                    Err(JournalError::Corrupt(e)) => {
                        error!(run = %id, error = %e, "run cannot be read back; left unresumed");
                    }
                    Err(e) => {
                        // Claimed runs this replica will not drive must not
                        // stay with it, renewed and never resumed.
                        if let Err(release) = self.release_runs(&ids).await {
                            warn!(error = %release, "claimed runs could not be let go");
                        }
                        return Err(e);
                    }
                }
            }
            Ok(out)
        })
    }

    fn load(&self, run_id: &str) -> BoxFuture<'_, Result<Option<StoredRun>, JournalError>> {
        let run_id = run_id.to_string();
        Box::pin(async move { self.load_run(&run_id).await })
    }

    fn list(&self, query: RunQuery) -> BoxFuture<'_, Result<Vec<RunRow>, JournalError>> {
        Box::pin(async move {
            let client = self.reader.client().await?;
            list::list_runs(&client, &query).await
        })
    }

    fn prune(&self, before: SystemTime) -> BoxFuture<'_, Result<u64, JournalError>> {
        Box::pin(async move {
            let write = |e| JournalError::Write(pg_error(e));
            let client = self.reader.client().await?;
            client
                .execute(
                    "DELETE FROM maestro_events e USING maestro_runs r
                     WHERE e.run_id = r.run_id AND r.finished_at < $1",
                    &[&before],
                )
                .await
                .map_err(write)?;
            let runs = client
                .execute(
                    "DELETE FROM maestro_runs WHERE finished_at < $1",
                    &[&before],
                )
                .await
                .map_err(write)?;
            client
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
        let run_ids = vec![run_id.to_string()];
        Box::pin(async move { self.release_runs(&run_ids).await })
    }

    fn describe(&self) -> String {
        format!("postgres {} (replica {})", self.place, self.lease.owner)
    }
}

/// Keep this replica's claims alive until the journal is dropped.
async fn renew_loop(session: Weak<Session>, lease: LeaseConfig) {
    let mut tick = tokio::time::interval(lease.ttl / 3);
    loop {
        tick.tick().await;
        let Some(session) = session.upgrade() else {
            return;
        };
        let renewed = match session.client().await {
            Ok(client) => client
                .execute(RENEW, &[&lease.owner, &lease.ttl.as_secs_f64()])
                .await
                .map_err(|e| JournalError::Write(pg_error(e))),
            Err(e) => Err(e),
        };
        match renewed {
            Ok(n) => debug!(runs = n, "leases renewed"),
            Err(e) => warn!(error = %e, "leases could not be renewed"),
        }
    }
}
