//! The writer task of the PostgreSQL journal: every write queued so far
//! goes into one transaction (a group commit), sent in one round trip, so
//! durability costs one commit per group, not per write. Events are fenced
//! on owner and claim, and the connection is opened again when it was lost.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use tracing::{debug, error, warn};

use super::leases::{Leases, from_db, to_db};
use super::pipeline::{Reply, transact};
use super::session::{Link, answer_limit, connect, within};
use super::statements::{Statements, prepare, write_error};
use crate::journal::{Epoch, JournalError, Queued, Write};

/// Writes committed in one transaction at most.
const MAX_GROUP: usize = 2048;
/// Times the writer yields to let more writes join a group, while they come.
const GATHER_ROUNDS: usize = 8;

struct Live {
    link: Link,
    statements: Statements,
}

/// The writer's connection, its prepared statements, and who it writes as.
pub(super) struct Writer {
    url: String,
    leases: Arc<Leases>,
    live: Option<Live>,
}

impl Writer {
    pub async fn open(url: &str, leases: Arc<Leases>) -> Result<Self, JournalError> {
        let mut writer = Writer {
            url: url.to_string(),
            leases,
            live: None,
        };
        writer.live().await?;
        Ok(writer)
    }

    async fn live(&mut self) -> Result<&mut Live, JournalError> {
        if self.live.as_ref().is_some_and(|l| l.link.is_closed()) {
            warn!("journal writer connection lost; opening it again");
            self.live = None;
        }
        if self.live.is_none() {
            let link = connect(&self.url).await?;
            let limit = answer_limit(self.leases.config.ttl);
            let statements = within(limit, &link, prepare(&link.client, limit)).await?;
            self.live = Some(Live { link, statements });
        }
        Ok(self.live.as_mut().expect("opened above"))
    }

    /// Commit what is queued, group by group, until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Queued>) {
        while let Some(first) = rx.recv().await {
            let mut group = vec![first];
            // The runs acknowledged by the last commit queue their next
            // writes a moment later: yielding lets them join this group
            // instead of waiting a whole commit for the next one.
            for _ in 0..GATHER_ROUNDS {
                tokio::task::yield_now().await;
                let before = group.len();
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(queued) => group.push(queued),
                        Err(_) => break,
                    }
                }
                if group.len() == before || group.len() == MAX_GROUP {
                    break;
                }
            }
            let writes: Vec<&Write> = group.iter().map(|(w, _)| w).collect();
            match self.commit(&writes).await {
                Ok(results) => {
                    debug!(writes = group.len(), "journal group committed");
                    for ((write, tx), result) in group.into_iter().zip(results) {
                        self.settle(&write, &result);
                        let _ = tx.send(result);
                    }
                }
                // One bad write must not fail its neighbours: commit each
                // alone (after opening the connection again if it was lost).
                Err(_) => self.one_by_one(group).await,
            }
        }
    }

    async fn one_by_one(&mut self, group: Vec<Queued>) {
        let mut unreachable: Option<JournalError> = None;
        for (write, tx) in group {
            let result = match &unreachable {
                Some(e) => Err(e.clone()),
                None => match self.commit(&[&write]).await {
                    Ok(mut results) => results.pop().unwrap_or(Ok(())),
                    Err(e) => Err(e),
                },
            };
            // Past a database that does not connect or does not answer,
            // the others would only wait as long each: they fail alike.
            if let Err(e @ (JournalError::Open { .. } | JournalError::Unanswered { .. })) = &result
            {
                unreachable = Some(e.clone());
            }
            if let Err(e) = &result {
                error!(error = %e, "journal write failed");
            }
            self.settle(&write, &result);
            let _ = tx.send(result);
        }
    }

    /// What a write's outcome tells of the run's lease: a run that ended,
    /// or whose write was refused, or that never began, is held no more.
    fn settle(&self, write: &Write, result: &Result<(), JournalError>) {
        match (write, result) {
            (Write::Begin(run), Err(_)) => self.leases.forget(&run.run_id, 0),
            (
                Write::Event {
                    run_id,
                    epoch,
                    finished: Some(_),
                    ..
                },
                Ok(()),
            )
            | (Write::Event { run_id, epoch, .. }, Err(JournalError::LeaseLost { .. })) => {
                self.leases.forget(run_id, *epoch)
            }
            _ => {}
        }
    }

    /// Commit one group in one transaction, in one round trip; returns
    /// each write's outcome (an event of a run this replica does not hold
    /// under the write's claim is refused).
    async fn commit(
        &mut self,
        writes: &[&Write],
    ) -> Result<Vec<Result<(), JournalError>>, JournalError> {
        let lease = &self.leases.config;
        let (owner, ttl) = (lease.owner.clone(), lease.ttl.as_secs_f64());
        let limit = answer_limit(lease.ttl);
        let live = self.live().await?;
        let (b, e) = (&Begins::of(writes), &Events::of(writes));
        let client = &live.link.client;
        let (statements, events_at) = group(client, &live.statements, b, e, &owner, &ttl);
        let answers = within(limit, &live.link, async {
            transact(client, statements).await.map_err(write_error)
        })
        .await?;
        let held = events_at.map_or(&[][..], |i| &answers[i]);
        Ok(outcomes(writes, held, &owner))
    }
}

/// The statements that write a group, in order, and where among them the
/// events' is (its rows tell which runs are held by whom). The finish is
/// sent whatever the events' fate: it is fenced on the same claim.
fn group<'a>(
    client: &'a Client,
    s: &'a Statements,
    b: &'a Begins,
    e: &'a Events,
    owner: &'a String,
    ttl: &'a f64,
) -> (Vec<Reply<'a>>, Option<usize>) {
    let query = |statement: &'a Statement, params: Vec<&'a (dyn ToSql + Sync)>| -> Reply<'a> {
        Box::pin(async move { client.query(statement, &params).await })
    };
    let mut statements = Vec::new();
    if !b.run_ids.is_empty() {
        statements.push(query(
            &s.definitions,
            vec![&b.hashes, &b.names, &b.paths, &b.texts],
        ));
        statements.push(query(
            &s.runs,
            vec![
                &b.run_ids,
                &b.workflows,
                &b.definitions,
                &b.inputs,
                &b.created,
                owner,
                ttl,
            ],
        ));
    }
    let mut events_at = None;
    if !e.run_ids.is_empty() {
        events_at = Some(statements.len());
        statements.push(query(
            &s.events,
            vec![
                &e.run_ids, &e.seqs, &e.ats, &e.kinds, &e.bodies, &e.epochs, owner,
            ],
        ));
    }
    if !e.done_ids.is_empty() {
        statements.push(query(
            &s.finish,
            vec![
                &e.done_ids,
                &e.done_status,
                &e.done_at,
                &e.done_epochs,
                owner,
            ],
        ));
    }
    (statements, events_at)
}

/// Each write's outcome, given the rows (run, owner, epoch) of the runs its
/// group's events were fenced on: an event is written only if `owner`
/// holds its run under the write's claim.
fn outcomes(writes: &[&Write], held: &[Row], owner: &str) -> Vec<Result<(), JournalError>> {
    let holders: HashMap<String, (Option<String>, Epoch)> = held
        .iter()
        .map(|row| (row.get(0), (row.get(1), from_db(row.get(2)))))
        .collect();
    let outcome = |write: &Write| {
        let Write::Event { run_id, epoch, .. } = write else {
            return Ok(());
        };
        match holders.get(&**run_id) {
            Some((Some(o), e)) if o == owner && e == epoch => Ok(()),
            Some(_) => Err(JournalError::LeaseLost {
                run_id: run_id.to_string(),
            }),
            None => Err(JournalError::Write(format!(
                "run {run_id} has no row: its start was never journaled"
            ))),
        }
    };
    writes.iter().map(|w| outcome(w)).collect()
}

/// The runs a group begins, as columns; each definition once.
#[derive(Default)]
struct Begins {
    hashes: Vec<String>,
    names: Vec<String>,
    paths: Vec<String>,
    texts: Vec<String>,
    run_ids: Vec<String>,
    workflows: Vec<String>,
    definitions: Vec<String>,
    inputs: Vec<String>,
    created: Vec<std::time::SystemTime>,
}

impl Begins {
    fn of(writes: &[&Write]) -> Self {
        let mut out = Begins::default();
        for write in writes {
            let Write::Begin(run) = write else { continue };
            let d = &run.definition;
            if !out.hashes.contains(&d.hash) {
                out.hashes.push(d.hash.clone());
                out.names.push(d.name.clone());
                out.paths.push(d.path.clone());
                out.texts.push(d.text.to_string());
            }
            out.run_ids.push(run.run_id.to_string());
            out.workflows.push(d.name.clone());
            out.definitions.push(d.hash.clone());
            out.inputs.push(run.input.to_string());
            out.created.push(run.created_at);
        }
        out
    }
}

/// The events a group writes, as columns, each with the claim it is
/// written under, and the runs they finish.
#[derive(Default)]
struct Events {
    run_ids: Vec<String>,
    seqs: Vec<i64>,
    ats: Vec<std::time::SystemTime>,
    kinds: Vec<String>,
    bodies: Vec<String>,
    epochs: Vec<i64>,
    done_ids: Vec<String>,
    done_status: Vec<String>,
    done_at: Vec<std::time::SystemTime>,
    done_epochs: Vec<i64>,
}

impl Events {
    fn of(writes: &[&Write]) -> Self {
        let mut out = Events::default();
        for write in writes {
            out.push(write);
        }
        out
    }

    fn push(&mut self, write: &Write) {
        let Write::Event {
            run_id,
            seq,
            at,
            kind,
            body,
            finished,
            epoch,
        } = write
        else {
            return;
        };
        self.run_ids.push(run_id.to_string());
        self.seqs.push(*seq as i64);
        self.ats.push(*at);
        self.kinds.push(kind.to_string());
        self.bodies.push(body.clone());
        self.epochs.push(to_db(*epoch));
        if let Some(status) = finished {
            self.done_ids.push(run_id.to_string());
            self.done_status.push(status.label().to_string());
            self.done_at.push(*at);
            self.done_epochs.push(to_db(*epoch));
        }
    }
}
