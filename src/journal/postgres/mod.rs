//! The PostgreSQL journal, for several `maestro serve` replicas sharing
//! runs. Each unfinished run has an owner and a lease the owner renews;
//! a run whose lease expired is claimed by another replica and resumed.
//! Every claim has an epoch and every event insert is fenced on owner and
//! epoch, so a replica that lost a run can no longer write to it; a lease
//! clock tells it, before each call, whether it still certainly holds it.

mod inbox;
mod leases;
mod list;
mod pipeline;
mod session;
mod statements;
mod ticks;
mod writer;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_postgres::Client;
use tracing::{error, warn};

use super::{
    Ack, BoxFuture, Epoch, Journal, JournalError, LastTick, Posted, PostedSignal, RunQuery, RunRow,
    ScheduleKey, StoredRun, TickClaim, Write, WriteQueue,
};
use leases::{CLAIM, Leases, from_db};
use session::{Session, answer_limit, connect, pg_error, redact};

/// Runs are re-claimable this long after their owner last renewed.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// Runs taken over per claim, so one replica does not grab a whole backlog.
const CLAIM_BATCH: i64 = 256;
/// How long a prune may take: a first one over a large journal deletes much.
const PRUNE_LIMIT: Duration = Duration::from_secs(600);

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
ALTER TABLE maestro_runs ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0;
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
CREATE TABLE IF NOT EXISTS maestro_signals (
    seq       bigserial PRIMARY KEY,
    run_id    text NOT NULL,
    name      text NOT NULL,
    id        text NOT NULL,
    payload   jsonb NOT NULL,
    posted_at timestamptz NOT NULL DEFAULT now()
);
";

/// A run that ended `compensation_failed`, claimed again to retry them.
const REOPEN: &str = "
UPDATE maestro_runs SET status = 'running', finished_at = NULL, owner = $2,
       lease_until = now() + make_interval(secs => $3), epoch = epoch + 1
WHERE run_id = $1 AND status = 'compensation_failed'
RETURNING epoch";

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
    leases: Arc<Leases>,
    place: String,
}

impl PostgresJournal {
    /// Connect, create the tables if need be, and start renewing leases.
    pub async fn connect(url: &str, lease: LeaseConfig) -> Result<Self, JournalError> {
        let place = redact(url);
        let limit = answer_limit(lease.ttl);
        let link = connect(url).await?;
        // Replicas starting together must not race on CREATE TABLE.
        let schema = format!(
            "BEGIN; SELECT pg_advisory_xact_lock(7214720841); {SCHEMA} {}; COMMIT",
            ticks::SCHEMA
        );
        let schema = link.client.batch_execute(&schema);
        session::within(limit, &link, async {
            schema.await.map_err(|e| JournalError::Open {
                place: place.clone(),
                message: pg_error(e),
            })
        })
        .await?;
        let leases = Arc::new(Leases::new(lease));
        let writer = writer::Writer::open(url, leases.clone()).await?;
        let reader = Arc::new(Session::with(url, limit, link));
        let (writes, rx) = WriteQueue::new();
        tokio::spawn(writer.run(rx));
        tokio::spawn(leases::renew_loop(Arc::downgrade(&reader), leases.clone()));
        Ok(Self {
            reader,
            writes,
            leases,
            place,
        })
    }

    /// Connect for reading only: no lease, no writes.
    pub async fn connect_reader(url: &str) -> Result<Self, JournalError> {
        let leases = Leases::new(LeaseConfig::default());
        let limit = answer_limit(leases.config.ttl);
        Ok(Self {
            reader: Arc::new(Session::open(url, limit).await?),
            writes: WriteQueue::read_only(),
            leases: Arc::new(leases),
            place: redact(url),
        })
    }

    pub fn owner(&self) -> &str {
        &self.leases.config.owner
    }

    async fn load_run(&self, run_id: &str) -> Result<Option<StoredRun>, JournalError> {
        self.reader
            .ask(async |client| list::read_run(&client, run_id).await)
            .await
    }

    async fn release_runs(&self, run_ids: &[String]) -> Result<(), JournalError> {
        let claims = self.leases.claims_of(run_ids);
        self.leases.release(&self.reader, claims).await
    }
}

impl Journal for PostgresJournal {
    fn write(&self, write: Write) -> Ack {
        if let Write::Begin(run) = &write {
            // Its row's lease counts from after now.
            self.leases.acquired(&run.run_id, 0, Instant::now());
        }
        self.writes.push(write)
    }

    fn claim(&self) -> BoxFuture<'_, Result<Vec<StoredRun>, JournalError>> {
        Box::pin(async move {
            let lease = &self.leases.config;
            let ttl = lease.ttl.as_secs_f64();
            let sent = Instant::now();
            let claimed: Vec<(String, Epoch)> = self
                .reader
                .ask(async |client| {
                    client
                        .query(CLAIM, &[&lease.owner, &ttl, &CLAIM_BATCH])
                        .await
                        .map_err(|e| JournalError::Write(pg_error(e)))
                })
                .await?
                .iter()
                .map(|row| (row.get(0), from_db(row.get(1))))
                .collect();
            for (id, epoch) in &claimed {
                self.leases.acquired(id, *epoch, sent);
            }
            let ids: Vec<String> = claimed.iter().map(|(id, _)| id.clone()).collect();
            let mut out = Vec::with_capacity(ids.len());
            for (id, epoch) in &claimed {
                match self.load_run(id).await {
                    Ok(Some(mut run)) => {
                        run.epoch = *epoch;
                        out.push(run);
                    }
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
            self.reader
                .ask(async |client| list::list_runs(&client, &query).await)
                .await
        })
    }

    fn prune(&self, before: SystemTime) -> BoxFuture<'_, Result<u64, JournalError>> {
        Box::pin(async move {
            self.reader
                .ask_within(PRUNE_LIMIT, async |client| prune(&client, before).await)
                .await
        })
    }

    fn release(&self, run_id: &str) -> BoxFuture<'_, Result<(), JournalError>> {
        let run_ids = vec![run_id.to_string()];
        Box::pin(async move { self.release_runs(&run_ids).await })
    }

    fn holds(&self, run_id: &str, epoch: Epoch) -> bool {
        self.leases.holds(run_id, epoch)
    }

    fn abandon(&self, run_id: &str, epoch: Epoch) {
        // Not renewed from now on, whatever becomes of the release.
        self.leases.forget(run_id, epoch);
        let (leases, reader) = (self.leases.clone(), self.reader.clone());
        let claim = vec![(run_id.to_string(), epoch)];
        // Let go at once, so the run goes on elsewhere (or here, claimed
        // anew) rather than after its lease runs out.
        tokio::spawn(async move {
            if let Err(e) = leases.release(&reader, claim).await {
                warn!(error = %e, "an abandoned run could not be let go; its lease will expire");
            }
        });
    }

    fn reopen(&self, run_id: &str) -> BoxFuture<'_, Result<Option<StoredRun>, JournalError>> {
        let run_id = run_id.to_string();
        Box::pin(async move {
            let lease = &self.leases.config;
            let ttl = lease.ttl.as_secs_f64();
            let sent = Instant::now();
            let row = self
                .reader
                .ask(async |client| {
                    client
                        .query_opt(REOPEN, &[&run_id, &lease.owner, &ttl])
                        .await
                        .map_err(|e| JournalError::Write(pg_error(e)))
                })
                .await?;
            let Some(row) = row else { return Ok(None) };
            let epoch = from_db(row.get(0));
            self.leases.acquired(&run_id, epoch, sent);
            let run = self.load_run(&run_id).await?;
            Ok(run.map(|run| StoredRun { epoch, ..run }))
        })
    }

    fn post_signal(&self, signal: PostedSignal) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(async move {
            self.reader
                .ask(async |c| inbox::post(&c, &signal).await)
                .await
        })
    }

    fn posted_signals(&self) -> BoxFuture<'_, Result<Vec<Posted>, JournalError>> {
        Box::pin(async move { self.reader.ask(async |c| inbox::posted(&c).await).await })
    }

    fn signals_taken(&self, keys: Vec<String>) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(async move {
            self.reader
                .ask(async |c| inbox::taken(&c, &keys).await)
                .await
        })
    }

    fn last_tick(
        &self,
        schedule: &ScheduleKey,
    ) -> BoxFuture<'_, Result<Option<LastTick>, JournalError>> {
        let schedule = schedule.clone();
        Box::pin(async move {
            self.reader
                .ask(async |c| ticks::last(&c, &schedule).await)
                .await
        })
    }

    fn claim_tick(
        &self,
        schedule: &ScheduleKey,
        tick: SystemTime,
    ) -> BoxFuture<'_, Result<TickClaim, JournalError>> {
        let schedule = schedule.clone();
        Box::pin(async move {
            self.reader
                .ask(async |c| ticks::claim(&c, &schedule, tick).await)
                .await
        })
    }

    fn record_tick_run(
        &self,
        schedule: &ScheduleKey,
        tick: SystemTime,
        run_id: &str,
    ) -> BoxFuture<'_, Result<(), JournalError>> {
        let (schedule, run_id) = (schedule.clone(), run_id.to_string());
        Box::pin(async move {
            self.reader
                .ask(async |c| ticks::record_run(&c, &schedule, tick, &run_id).await)
                .await
        })
    }

    fn describe(&self) -> String {
        format!("postgres {} (replica {})", self.place, self.owner())
    }
}

/// Delete the runs that finished before `before`, and what only they used.
async fn prune(client: &Client, before: SystemTime) -> Result<u64, JournalError> {
    let write = |e| JournalError::Write(pg_error(e));
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
}
