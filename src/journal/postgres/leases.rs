//! The leases of one replica: the statements that claim, renew and let go
//! of runs, each conditional on the run's claim (its epoch), and the
//! [`LeaseClock`] that tells, without asking the database, whether a run is
//! still certainly held here.

use std::sync::{Arc, Mutex, Weak};

use tokio::time::Instant;
use tracing::{debug, warn};

use super::{LeaseConfig, Session, pg_error};
use crate::journal::{Epoch, JournalError, LeaseClock};

/// Takes runs whose lease expired, with a new claim each. `FOR UPDATE`
/// matters: the writer holds `FOR KEY SHARE` on the runs it writes to, so a
/// run is never taken while its owner's write is in flight, and the taker
/// reads every write its owner was told is durable. A replica's own runs
/// are taken too once expired: it renews every run it drives, so an
/// expired one is a run it let go of, and the new claim fences the old.
/// Runs that started (they have events) come first: a batch takes them
/// before a backlog of runs that never started.
pub(super) const CLAIM: &str = "
WITH expired AS (
    SELECT run_id FROM maestro_runs
    WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now())
    ORDER BY NOT EXISTS (SELECT 1 FROM maestro_events e WHERE e.run_id = maestro_runs.run_id),
             run_id
    LIMIT $3 FOR UPDATE SKIP LOCKED)
UPDATE maestro_runs r
SET owner = $1, lease_until = now() + make_interval(secs => $2), epoch = r.epoch + 1
FROM expired WHERE r.run_id = expired.run_id
RETURNING r.run_id, r.epoch";

/// Renews the runs this replica drives, each under its claim; returns those
/// renewed. Rows being finished or claimed right now are skipped rather
/// than waited for: two updates of many rows in different orders could
/// deadlock.
const RENEW: &str = "
UPDATE maestro_runs SET lease_until = now() + make_interval(secs => $2)
WHERE run_id IN (
    SELECT r.run_id FROM maestro_runs r
    JOIN unnest($3::text[], $4::int8[]) AS h(run_id, epoch)
      ON r.run_id = h.run_id AND r.epoch = h.epoch
    WHERE r.owner = $1 AND r.status = 'running'
    FOR NO KEY UPDATE OF r SKIP LOCKED)
RETURNING run_id, epoch";

const RELEASE: &str = "
UPDATE maestro_runs r SET owner = NULL, lease_until = NULL
FROM unnest($1::text[], $2::int8[]) AS h(run_id, epoch)
WHERE r.run_id = h.run_id AND r.epoch = h.epoch AND r.owner = $3 AND r.status = 'running'";

/// Epochs are `bigint` in the database and never negative.
pub(super) fn to_db(epoch: Epoch) -> i64 {
    i64::try_from(epoch).unwrap_or(i64::MAX)
}

pub(super) fn from_db(epoch: i64) -> Epoch {
    Epoch::try_from(epoch).unwrap_or(0)
}

/// Who this replica is, and which runs it holds until when.
pub(super) struct Leases {
    pub config: LeaseConfig,
    // A std Mutex, not a tokio one: nothing awaits while it is held.
    clock: Mutex<LeaseClock>,
}

impl Leases {
    pub fn new(config: LeaseConfig) -> Self {
        let clock = Mutex::new(LeaseClock::new(config.ttl));
        Leases { config, clock }
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, LeaseClock> {
        self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn acquired(&self, run_id: &str, epoch: Epoch, sent: Instant) {
        self.clock().acquired(run_id, epoch, sent);
    }

    pub fn forget(&self, run_id: &str, epoch: Epoch) {
        self.clock().forget(run_id, epoch);
    }

    pub fn holds(&self, run_id: &str, epoch: Epoch) -> bool {
        self.clock().holds(run_id, epoch, Instant::now())
    }

    /// The claims this replica holds `run_ids` under, as far as it knows.
    pub fn claims_of(&self, run_ids: &[String]) -> Vec<(String, Epoch)> {
        let clock = self.clock();
        run_ids
            .iter()
            .filter_map(|id| Some((id.clone(), clock.epoch(id)?)))
            .collect()
    }

    /// Let go of each run if the database still gives it to this replica
    /// under that claim; a run another replica took meanwhile, or that this
    /// one claimed anew, is left alone.
    pub async fn release(
        &self,
        session: &Session,
        claims: Vec<(String, Epoch)>,
    ) -> Result<(), JournalError> {
        for (id, epoch) in &claims {
            self.forget(id, *epoch);
        }
        if claims.is_empty() {
            return Ok(());
        }
        let (ids, epochs): (Vec<String>, Vec<i64>) =
            claims.into_iter().map(|(id, e)| (id, to_db(e))).unzip();
        session
            .ask(async |client| {
                client
                    .execute(RELEASE, &[&ids, &epochs, &self.config.owner])
                    .await
                    .map_err(|e| JournalError::Write(pg_error(e)))
            })
            .await?;
        Ok(())
    }

    /// Renew every run held here once; returns how many were renewed.
    async fn renew(&self, session: &Session) -> Result<usize, JournalError> {
        let (ids, epochs): (Vec<String>, Vec<i64>) = self
            .clock()
            .to_renew()
            .into_iter()
            .map(|(id, e)| (id, to_db(e)))
            .unzip();
        if ids.is_empty() {
            return Ok(0);
        }
        // Counted from before the statement leaves: a process that freezes
        // while it waits for the answer must not count the frozen time.
        let sent = Instant::now();
        let ttl = self.config.ttl.as_secs_f64();
        let rows = session
            .ask(async |client| {
                client
                    .query(RENEW, &[&self.config.owner, &ttl, &ids, &epochs])
                    .await
                    .map_err(|e| JournalError::Write(pg_error(e)))
            })
            .await?;
        let renewed: Vec<(String, Epoch)> = rows
            .iter()
            .map(|r| (r.get::<_, String>(0), from_db(r.get(1))))
            .collect();
        self.clock()
            .renewed(renewed.iter().map(|(id, e)| (id.as_str(), *e)), sent);
        Ok(renewed.len())
    }
}

/// Keep this replica's claims alive until the journal is dropped.
pub(super) async fn renew_loop(session: Weak<Session>, leases: Arc<Leases>) {
    let mut tick = tokio::time::interval(leases.config.ttl / 3);
    loop {
        tick.tick().await;
        let Some(session) = session.upgrade() else {
            return;
        };
        match leases.renew(&session).await {
            Ok(n) => debug!(runs = n, "leases renewed"),
            Err(e) => warn!(error = %e, "leases could not be renewed"),
        }
    }
}
