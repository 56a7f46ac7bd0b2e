//! Misbehaving peers on 127.0.0.1 port 0: a blackhole that accepts
//! connections and never answers, a proxy that hands a request to a real
//! service and resets the connection before the answer gets back, and a
//! count of this process's open file descriptors.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Stops a listener's accept loop when its owner goes away.
struct Acceptor(AbortHandle);

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Accepts every connection, reads whatever comes, answers nothing.
pub struct Blackhole {
    pub addr: SocketAddr,
    counts: Arc<Counts>,
    _acceptor: Acceptor,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    open: AtomicUsize,
    /// Open connections that began with the HTTP/2 preface (gRPC).
    open_h2: AtomicUsize,
}

impl Blackhole {
    pub async fn start() -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("bound");
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                shared.open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(swallow(socket, shared.clone()));
            }
        });
        Blackhole {
            addr,
            counts,
            _acceptor: Acceptor(task.abort_handle()),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// Connections the callers have not closed yet: HTTP/2 ones, and others.
    pub fn open(&self) -> (usize, usize) {
        let h2 = self.counts.open_h2.load(Ordering::SeqCst);
        (h2, self.counts.open.load(Ordering::SeqCst) - h2)
    }
}

/// Reads until the caller hangs up, then counts the connection closed.
async fn swallow(mut socket: TcpStream, counts: Arc<Counts>) {
    let mut buf = [0u8; 4096];
    let mut h2 = None;
    while let Ok(n) = socket.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if h2.is_none() {
            let preface = buf[..n].starts_with(b"PRI * HTTP/2.0");
            if preface {
                counts.open_h2.fetch_add(1, Ordering::SeqCst);
            }
            h2 = Some(preface);
        }
    }
    if h2 == Some(true) {
        counts.open_h2.fetch_sub(1, Ordering::SeqCst);
    }
    counts.open.fetch_sub(1, Ordering::SeqCst);
}

/// Relays HTTP/1.1 to an upstream service, except that the first request
/// for each idempotency key whose head contains `marker` is delivered and
/// its connection reset as soon as the answer starts to come back.
pub struct CuttingProxy {
    pub addr: SocketAddr,
    rule: Arc<Rule>,
    _acceptor: Acceptor,
}

struct Rule {
    marker: String,
    seen: Mutex<HashSet<String>>,
    cut: AtomicUsize,
}

impl Rule {
    /// Whether this request head is one to cut (the first with its key).
    fn cuts(&self, head: &[u8]) -> bool {
        let head = String::from_utf8_lossy(head);
        if !head.contains(&self.marker) {
            return false;
        }
        let key = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("idempotency-key")
                .then(|| value.trim().to_string())
        });
        key.is_some_and(|k| self.seen.lock().unwrap().insert(k))
    }
}

impl CuttingProxy {
    pub async fn start(upstream: SocketAddr, marker: &str) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("bound");
        let rule = Arc::new(Rule {
            marker: marker.to_string(),
            seen: Mutex::default(),
            cut: AtomicUsize::new(0),
        });
        let shared = rule.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, shared.clone()));
            }
        });
        CuttingProxy {
            addr,
            rule,
            _acceptor: Acceptor(task.abort_handle()),
        }
    }

    /// Connections reset so far.
    pub fn cut(&self) -> usize {
        self.rule.cut.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, rule: Arc<Rule>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut from_client, to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let cut = Arc::new(AtomicBool::new(false));
    let marked = cut.clone();
    let upward = tokio::spawn(async move {
        let (mut buf, mut pending) = ([0u8; 16 * 1024], Vec::new());
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Look at each complete request head before passing it on.
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                if rule.cuts(&pending[..end]) {
                    marked.store(true, Ordering::SeqCst);
                    rule.cut.fetch_add(1, Ordering::SeqCst);
                }
                pending.drain(..end + 4);
            }
            if to_server.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    });
    let mut to_client = to_client;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from_server.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if cut.load(Ordering::SeqCst) {
            // The service has answered: the call took effect. Reset the
            // caller's connection instead of passing the answer on.
            let _ = to_client.as_ref().set_zero_linger();
            upward.abort();
            return;
        }
        if to_client.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to_client.shutdown().await;
    let _ = upward.await;
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Established TCP connections to `port` on 127.0.0.1, from any process of
/// this network namespace (`/proc/net/tcp`): a test's own example service
/// has a port no other test connects to.
pub fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let wanted = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(2) == Some(&wanted.as_str()) && fields.get(3) == Some(&"01")
        })
        .count()
}
