//! The HTTP listener: our own accept loop over hyper's HTTP/1 connections serving the axum
//! `Router`, with a header timeout, an idle timeout, a connection cap and a bounded drain.
//!
//! `axum::serve` has none of these: it keeps every connection it accepts for as long as the
//! client likes, and its graceful shutdown waits for all of them without bound. hyper's own
//! `header_read_timeout` is not used either: it starts when hyper begins waiting for a head,
//! which on a keep-alive connection is the moment the previous response was sent, so it would
//! be the idle timeout too. Instead every connection is in a `Registry` (`registry.rs`, pure:
//! the eviction choice and the expiry are decided there, unit-tested without a clock) as
//! awaiting a head, idle between requests, or busy serving one, with the time it entered that
//! phase and the time it was last active. What moves it is observed at the edges of hyper, in
//! `connection.rs`: bytes read between requests (a wrapper around the socket), a complete head
//! (the service is called) and the end of the response (its body is dropped).
//!
//! - A sweeper closes connections whose head has not arrived within the header timeout
//!   (counted from accept, or from the first byte of the next request on a keep-alive
//!   connection) or that stayed idle for the idle timeout. It ticks every 100 ms, so a close
//!   is late by at most that.
//! - At the cap, accepting a connection closes the one silent longest among those not serving
//!   a request (busy ones never), or the new one at once when every connection is busy. Both
//!   are counted in `switchboard_http_connections_closed_total` by `reason` (`idle_evicted`,
//!   `limit`), next to the timeouts (`header_timeout`, `idle_timeout`); the open connections
//!   are the gauge `switchboard_http_connections_open`.
//! - When accepting fails (out of file descriptors, mostly: a `ulimit -n` below the cap), the
//!   connection silent longest is closed too, so a descriptor frees up for the next client.
//! - A connection that has sent nothing costs a task and a registry entry: hyper's connection
//!   and its buffers are built at its first readable byte.
//! - Shutdown (`Draining`): the listener is dropped, connections not serving a request close at
//!   once (a half-sent head is dropped), busy ones finish their request with keep-alive off; at
//!   the deadline whatever is left is dropped, the handlers in flight with it.
//!
//! Closing a connection that is not serving a request drops it outright rather than asking
//! hyper for a graceful shutdown, which would wait for a partly received head to complete:
//! exactly what a slow client wants.

mod connection;
mod registry;

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use registry::{Admission, Closed, Millis, Registry};

pub(crate) use registry::Limits;

/// How often expired connections are looked for: the lateness of a timeout's close.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// The listen backlog asked for (the kernel caps it at `net.core.somaxconn`, 4096 by default).
/// Tokio's default of 1024 overflowed when thousands of connections arrived at once, and a
/// connection that overflows the backlog waits for the client's retransmissions (1 s, 3 s,
/// 7 s…) before it is even accepted.
const LISTEN_BACKLOG: u32 = 8192;

/// What every connection task shares with the accept loop.
struct Shared {
    router: Router,
    builder: http1::Builder,
    /// Each connection's close token, by connection.
    registry: Mutex<Registry<CancellationToken>>,
    /// The registry's time zero.
    started: Instant,
    /// Cancelled when shutdown begins.
    draining: CancellationToken,
    /// Cancelled at the drain deadline; the parent of every connection's close token.
    abort: CancellationToken,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry<CancellationToken>> {
        // The registry's methods leave it consistent at every return, so a panic elsewhere
        // while the lock was held cannot have left it half-changed.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> Millis {
        self.started
            .elapsed()
            .as_millis()
            .try_into()
            .unwrap_or(Millis::MAX)
    }
}

/// Counts a connection the server closed.
fn count_closed(reason: Closed) {
    metrics::counter!("switchboard_http_connections_closed_total", "reason" => reason.label())
        .increment(1);
}

/// Binds the HTTP listener on `address` (`IP:PORT`, or a name that resolves to one).
pub(crate) async fn bind(address: &str) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for address in tokio::net::lookup_host(address).await? {
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As `TcpListener::bind` does: a restarted engine binds while old connections linger.
        socket.set_reuseaddr(true)?;
        match socket.bind(address) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, closes the
/// connections not serving a request and tells the others to close after it. The returned
/// `Draining` waits for them.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Draining {
    let mut builder = http1::Builder::new();
    // Our registry runs the header timeout (see the module documentation).
    builder.header_read_timeout(None);
    let shared = Arc::new(Shared {
        router,
        builder,
        registry: Mutex::new(Registry::new(limits)),
        started: Instant::now(),
        draining: CancellationToken::new(),
        abort: CancellationToken::new(),
    });
    for reason in [
        Closed::HeaderTimeout,
        Closed::IdleTimeout,
        Closed::IdleEvicted,
        Closed::Limit,
    ] {
        metrics::counter!("switchboard_http_connections_closed_total", "reason" => reason.label())
            .increment(0);
    }
    tokio::spawn(sweep(shared.clone()));
    let tasks = TaskTracker::new();
    let mut shutdown = pin!(shutdown);
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => admit(&shared, &tasks, stream, peer),
            Err(error) => accept_failed(&shared, error, &mut last_warning).await,
        }
    }
    drop(listener);
    shared.draining.cancel();
    Draining { shared, tasks }
}

/// Registers a new connection (closing the one idle longest at the cap) and starts serving it,
/// or closes it at once when every connection is busy.
fn admit(shared: &Arc<Shared>, tasks: &TaskTracker, stream: TcpStream, peer: std::net::SocketAddr) {
    let close = shared.abort.child_token();
    let admission = shared.registry().admit(shared.now(), close.clone());
    match admission {
        Admission::Refused => {
            count_closed(Closed::Limit);
            drop(stream);
        }
        Admission::Admitted { id, evicted } => {
            if let Some(evicted) = evicted {
                evicted.cancel();
                count_closed(Closed::IdleEvicted);
            }
            tasks.spawn(connection::serve(shared.clone(), id, stream, peer, close));
        }
    }
}

/// An accept that failed. A connection reset before it was accepted is the client's business;
/// anything else (out of file descriptors, mostly) frees a descriptor by closing the connection
/// idle longest, and pauses briefly so a failing listener does not spin.
async fn accept_failed(shared: &Shared, error: std::io::Error, last_warning: &mut Option<Instant>) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionRefused
            | ErrorKind::Interrupted
    ) {
        return;
    }
    if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
        let open = shared.registry().len();
        tracing::warn!(%error, open, "accepting an HTTP connection failed");
        *last_warning = Some(Instant::now());
    }
    let evicted = shared.registry().evict_longest_idle();
    if let Some(evicted) = evicted {
        evicted.cancel();
        count_closed(Closed::IdleEvicted);
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Closes connections past their header or idle timeout, until the drain deadline.
async fn sweep(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shared.abort.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (expired, open) = {
            let mut registry = shared.registry();
            (registry.expire(shared.now()), registry.len())
        };
        for (close, reason) in expired {
            close.cancel();
            count_closed(reason);
        }
        metrics::gauge!("switchboard_http_connections_open").set(open as f64);
    }
}

/// The HTTP side of a shutdown under way: the listener is closed and connections are finishing
/// their requests.
pub(crate) struct Draining {
    shared: Arc<Shared>,
    tasks: TaskTracker,
}

impl Draining {
    /// Waits until every connection has closed, or until `deadline`, when the connections left
    /// are dropped with their requests; returns how many were dropped.
    pub(crate) async fn finish(self, deadline: Instant) -> usize {
        self.tasks.close();
        let finished = tokio::time::timeout_at(deadline, self.tasks.wait())
            .await
            .is_ok();
        let dropped = if finished { 0 } else { self.tasks.len() };
        self.shared.abort.cancel();
        // A dropped connection's task ends at its next poll; this only waits for that.
        tokio::time::timeout(Duration::from_secs(1), self.tasks.wait())
            .await
            .ok();
        dropped
    }
}
