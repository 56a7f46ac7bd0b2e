//! A database that stops answering, behind a relay on 127.0.0.1 that can
//! stall (as a frozen server or a dead link would): statements fail after
//! the journal's limit instead of waiting forever, a connection that never
//! starts fails after its `connect_timeout`, and once the database answers
//! again the journal opens a new connection and goes on.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use maestro::journal::postgres::{LeaseConfig, PostgresJournal};
use maestro::journal::{Journal, JournalError, RunQuery};
use maestro::runtime::RunStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{TestDb, begin, definition, event, finished, started};

/// The lease, and so how long a statement may go unanswered.
const TTL: Duration = Duration::from_secs(1);

/// Bytes between the journal and the server, passed on only while flowing.
struct Relay {
    addr: SocketAddr,
    flowing: watch::Sender<bool>,
}

impl Relay {
    async fn to(server: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (flowing, _) = watch::channel(true);
        let gate = flowing.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(server).await.unwrap();
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, gate.subscribe()));
                tokio::spawn(pump(server_read, client_write, gate.subscribe()));
            }
        });
        Relay { addr, flowing }
    }

    fn stall(&self) {
        self.flowing.send_replace(false);
    }

    fn resume(&self) {
        self.flowing.send_replace(true);
    }

    /// `url` going through the relay, with a short `connect_timeout`.
    fn url(&self, url: &str) -> String {
        let at = url.rfind('@').expect("a URL with a user") + 1;
        let end = at + url[at..].find('/').expect("a URL with a database");
        format!(
            "{}{}{}?connect_timeout=1",
            &url[..at],
            self.addr,
            &url[end..]
        )
    }
}

/// Copy one direction until either side closes; while stalled, read nothing.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut flowing: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if flowing.wait_for(|f| *f).await.is_err() {
            return;
        }
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if flowing.wait_for(|f| *f).await.is_err() || to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// The server's address, from the test database's URL.
fn server_of(url: &str) -> Option<SocketAddr> {
    let config: tokio_postgres::Config = url.parse().ok()?;
    match (config.get_hosts().first()?, config.get_ports().first()) {
        (tokio_postgres::config::Host::Tcp(host), port) => {
            format!("{host}:{}", port.copied().unwrap_or(5432))
                .parse()
                .ok()
        }
        _ => None,
    }
}

async fn relayed() -> Option<(TestDb, Relay)> {
    let db = TestDb::create().await;
    let Some(server) = server_of(&db.url) else {
        eprintln!("the test server is not reached over TCP: nothing to relay");
        return None;
    };
    let relay = Relay::to(server).await;
    Some((db, relay))
}

#[tokio::test]
async fn a_database_that_stops_answering_fails_calls_then_is_reached_again() {
    let Some((db, relay)) = relayed().await else {
        return;
    };
    let lease = LeaseConfig {
        owner: "replica-a".into(),
        ttl: TTL,
    };
    let journal = PostgresJournal::connect(&relay.url(&db.url), lease)
        .await
        .expect("the journal connects through the relay");
    let def = definition(1);
    let now = SystemTime::now();
    journal.write(begin("before", &def, now)).await.unwrap();
    journal
        .write(event("before", 0, started("before"), now))
        .await
        .unwrap();
    // Ended, so that no lease renewal is under way when the relay stalls:
    // its statement would time out first and cut the read's connection.
    let end = event("before", 1, finished(RunStatus::Succeeded), now);
    journal.write(end).await.unwrap();

    relay.stall();
    assert_eq!(
        journal.list(RunQuery::newest(10)).await.err(),
        Some(JournalError::Unanswered { limit: TTL }),
        "a read the database does not answer"
    );
    match journal.write(begin("during", &def, now)).await {
        Err(JournalError::Unanswered { .. } | JournalError::Open { .. }) => {}
        other => panic!("a write the database does not answer: {other:?}"),
    }

    relay.resume();
    let runs = journal
        .list(RunQuery::newest(10))
        .await
        .expect("read again");
    assert!(runs.iter().any(|r| r.run_id == "before"), "{runs:?}");
    journal
        .write(begin("after", &def, now))
        .await
        .expect("written again");
    journal
        .write(event("after", 0, started("after"), now))
        .await
        .unwrap();
    let stored = journal.load("after").await.unwrap().expect("the run after");
    assert_eq!(stored.status, RunStatus::Running);
    assert_eq!(stored.events.len(), 1);
}

#[tokio::test]
async fn a_database_that_never_starts_the_session_fails_the_connection() {
    let Some((db, relay)) = relayed().await else {
        return;
    };
    relay.stall();
    let lease = LeaseConfig {
        owner: "replica-a".into(),
        ttl: TTL,
    };
    match PostgresJournal::connect(&relay.url(&db.url), lease).await {
        Err(JournalError::Open { place, message }) => {
            assert!(message.contains("no answer within 1s"), "{message}");
            assert!(
                place.contains(":***@"),
                "the password is not shown: {place}"
            );
        }
        Err(other) => panic!("not a failed connection: {other}"),
        Ok(_) => panic!("connected to a server that never answered"),
    }
}
