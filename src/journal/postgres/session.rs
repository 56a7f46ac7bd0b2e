//! Connections to the database, each with limits on waiting: a connection
//! attempt gives up after [`CONNECT_TIMEOUT`] (unless the URL says), and a
//! statement unanswered after the session's limit closes its connection,
//! so a database that stops answering fails calls instead of stalling them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::AbortHandle;
use tokio_postgres::{Client, Config, NoTls};
use tracing::{error, warn};

use crate::journal::JournalError;

/// How long a connection attempt may take when the URL has no
/// `connect_timeout` of its own.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The least time a statement is given, however short the lease.
const MIN_ANSWER: Duration = Duration::from_secs(1);

/// How long a statement may go unanswered: a lease. Past it this replica's
/// runs are no longer certainly its own anyway, and a new connection is the
/// way on; the writer's transactions are bounded by the same time.
pub fn answer_limit(lease: Duration) -> Duration {
    lease.max(MIN_ANSWER)
}

pub(super) fn pg_error(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// The URL without its password, for logs.
pub(super) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// A client and the task that carries its connection: aborting the task
/// closes the socket, and the database ends the session's transaction.
pub(super) struct Link {
    pub client: Arc<Client>,
    connection: AbortHandle,
    /// Set as the connection is cut: the task ends at its next poll, and
    /// the client knows it is closed only then.
    cut: AtomicBool,
}

impl Link {
    /// Close the connection now, whatever it was waiting for.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
        self.connection.abort();
    }

    pub fn is_closed(&self) -> bool {
        self.cut.load(Ordering::Relaxed) || self.client.is_closed()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

pub(super) async fn connect(url: &str) -> Result<Link, JournalError> {
    let open = |message: String| JournalError::Open {
        place: redact(url),
        message,
    };
    let mut config: Config = url.parse().map_err(|e| open(pg_error(e)))?;
    let limit = *config.get_connect_timeout().unwrap_or(&CONNECT_TIMEOUT);
    config.connect_timeout(limit);
    // The limit is tokio-postgres's for each socket's connection only; the
    // whole start-up (authentication included) is bounded here, a host's
    // worth for each host tried.
    let hosts = config.get_hosts().len().max(1) as u32;
    let (client, connection) = tokio::time::timeout(limit * hosts, config.connect(NoTls))
        .await
        .map_err(|_| open(format!("no answer within {limit:?}")))?
        .map_err(|e| open(pg_error(e)))?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            error!(error = %pg_error(e), "journal connection lost");
        }
    });
    Ok(Link {
        client: Arc::new(client),
        connection: task.abort_handle(),
        cut: AtomicBool::new(false),
    })
}

/// `work` given up after `limit`: the connection is cut, and the error
/// says the database did not answer.
pub(super) async fn within<T>(
    limit: Duration,
    link: &Link,
    work: impl Future<Output = Result<T, JournalError>>,
) -> Result<T, JournalError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => {
            link.cut();
            warn!(limit = ?limit, "the journal's database did not answer; connection closed");
            Err(JournalError::Unanswered { limit })
        }
    }
}

/// A connection opened again once it is lost (the server restarted, the
/// session was terminated, a statement went unanswered), so a replica
/// outlives its database's hiccups.
pub(super) struct Session {
    url: String,
    limit: Duration,
    link: Mutex<Arc<Link>>,
}

impl Session {
    pub async fn open(url: &str, limit: Duration) -> Result<Self, JournalError> {
        Ok(Self::with(url, limit, connect(url).await?))
    }

    pub fn with(url: &str, limit: Duration, link: Link) -> Self {
        Session {
            url: url.to_string(),
            limit,
            link: Mutex::new(Arc::new(link)),
        }
    }

    async fn link(&self) -> Result<Arc<Link>, JournalError> {
        let mut link = self.link.lock().await;
        if link.is_closed() {
            warn!("journal connection lost; opening it again");
            *link = Arc::new(connect(&self.url).await?);
        }
        Ok(link.clone())
    }

    /// Run `work` on the session's client, within the session's limit.
    pub async fn ask<T, F, Fut>(&self, work: F) -> Result<T, JournalError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, JournalError>>,
    {
        self.ask_within(self.limit, work).await
    }

    /// [`Session::ask`] with a limit of its own, for work known to be long.
    pub async fn ask_within<T, F, Fut>(&self, limit: Duration, work: F) -> Result<T, JournalError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, JournalError>>,
    {
        let link = self.link().await?;
        within(limit, &link, work(link.client.clone())).await
    }
}
