//! The PostgreSQL journal against a real server: writes, group commit,
//! leases and fencing through the `Journal` trait, and a replica taking over
//! the runs of a killed one. Each test process starts its own throwaway
//! server (`server`); each test makes its own database there and drops it.

mod freeze;
mod groups;
mod journal;
mod leases;
mod schedules;
mod server;
mod signals;
mod takeover;
mod throughput;
mod unanswered;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use maestro::journal::postgres::{LeaseConfig, PostgresJournal};
use maestro::journal::{Definition, NewRun, Write};
use maestro::runtime::{Recorded, RunEvent, RunStatus};
use serde_json::json;
use tokio_postgres::{Client, NoTls};

/// Where the tests' databases are made: `MAESTRO_TEST_POSTGRES` (a server
/// whose role may create databases), or this process's own throwaway server.
pub fn server_url() -> String {
    std::env::var("MAESTRO_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| server::admin_url().to_string())
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    format!("{}/{name}{query}", &base[..host_end])
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {} ({e})",
                url.split('@').next_back().unwrap_or(url)
            )
        });
    tokio::spawn(connection);
    client
}

/// A database of its own for one test, dropped with this guard.
pub struct TestDb {
    /// The URL of the test's database.
    pub url: String,
    name: String,
    server: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "maestro_test_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        // Starting the server blocks for a moment: not on a runtime thread.
        let server = tokio::task::spawn_blocking(server_url)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let admin = connect(&server).await;
        // A database left by an earlier process with the same pid.
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        admin
            .batch_execute(&drop)
            .await
            .expect("drop a stale database");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        TestDb {
            url: with_database(&server, &name),
            name,
            server,
        }
    }

    /// A plain connection to the test's database, to read its tables.
    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// The journal of replica `owner`, whose claims last `ttl` unrenewed.
    pub async fn journal(&self, owner: &str, ttl: Duration) -> PostgresJournal {
        let lease = LeaseConfig {
            owner: owner.to_string(),
            ttl,
        };
        PostgresJournal::connect(&self.url, lease)
            .await
            .expect("the journal connects")
    }

    /// How many rows `sql` (a `SELECT count(*) ...`) counts.
    pub async fn count(&self, sql: &str) -> i64 {
        self.client()
            .await
            .query_one(sql, &[])
            .await
            .unwrap()
            .get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop may run inside a runtime, which cannot block on a future:
        // a thread with its own runtime can.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let admin = connect(&server).await;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("test database {} was not dropped", self.name);
        }
    }
}

const WORKFLOW: &str = r#"
name: journaled
services:
  api: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: reserve
    service: api
    method: "POST /reserve"
    output: reservation
    compensate: {service: api, method: "POST /release"}
  - id: ship
    service: api
    method: "POST /ship"
"#;

/// The definition runs of these tests start with; `variant` changes its
/// text, and so its hash.
pub fn definition(variant: u32) -> Definition {
    let text = format!("{WORKFLOW}# variant {variant}\n");
    let workflow =
        maestro::workflow::load_str(&text, "journaled.yaml", &|_| None).expect("a valid workflow");
    Definition::of(&workflow)
}

/// A run's first write.
pub fn begin(run_id: &str, definition: &Definition, created_at: SystemTime) -> Write {
    Write::Begin(NewRun {
        run_id: Arc::from(run_id),
        definition: Arc::new(definition.clone()),
        input: json!({"run": run_id}),
        created_at,
    })
}

/// The `seq`th event of `run_id`, written as the runtime would.
pub fn event(run_id: &str, seq: u64, event: RunEvent, at: SystemTime) -> Write {
    Write::event(&Arc::from(run_id), seq, &Recorded { at, event }).expect("an event serializes")
}

/// A run's start.
pub fn started(run_id: &str) -> RunEvent {
    RunEvent::RunStarted {
        run_id: run_id.to_string(),
        workflow: "journaled".into(),
        input: json!({"run": run_id}).into(),
        retry_of: None,
        traceparent: None,
    }
}

/// A completed step whose output counts `n`, so the order can be checked.
pub fn completed(n: u64) -> RunEvent {
    RunEvent::StepCompleted {
        step: "reserve".into(),
        attempts: 1,
        output: json!({ "n": n }).into(),
    }
}

pub fn finished(status: RunStatus) -> RunEvent {
    RunEvent::RunFinished {
        status,
        output: Some(json!({"ok": true})),
        error: None,
    }
}

/// The `n` of a [`completed`] event.
pub fn count_of(recorded: &Recorded) -> Option<u64> {
    match &recorded.event {
        RunEvent::StepCompleted { output, .. } => output["n"].as_u64(),
        _ => None,
    }
}
