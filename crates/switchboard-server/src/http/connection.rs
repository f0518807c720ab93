//! One HTTP connection: its task, and the three places it tells the registry what it is doing
//! (see `mod.rs`): bytes arriving between requests (`Observed`, around the socket), a request
//! starting (`Service::call`) and a request ending (`TrackedBody` dropped, once hyper has
//! sent the last byte of the response or given up on it).
//!
//! All three run inside the connection's own task (hyper polls the handler and the response
//! body there), so they cannot race each other.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::Shared;
use super::registry::ConnectionId;

/// Serves one accepted connection until it closes, is closed (timeout, eviction, drain
/// deadline) or shutdown finds it not serving a request.
pub(super) async fn serve(
    shared: Arc<Shared>,
    id: ConnectionId,
    stream: TcpStream,
    peer: SocketAddr,
    close: CancellationToken,
) {
    let _registered = Registered {
        shared: shared.clone(),
        id,
    };
    // Nothing of hyper's is built before the client sends something.
    let readable = tokio::select! {
        readable = stream.readable() => readable.is_ok(),
        () = close.cancelled() => false,
        () = shared.draining.cancelled() => false,
    };
    if !readable {
        return;
    }
    let tracked = Arc::new(Tracked {
        id,
        shared: shared.clone(),
        waiting: AtomicBool::new(true),
    });
    let io = TokioIo::new(Observed {
        stream,
        tracked: tracked.clone(),
    });
    let service = Service {
        router: shared.router.clone(),
        tracked,
        peer: ConnectInfo(peer),
    };
    let mut connection = pin!(shared.builder.serve_connection(io, service));
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "HTTP connection ended with an error");
                }
                return;
            }
            () = close.cancelled() => return,
            () = shared.draining.cancelled(), if !draining => {
                draining = true;
                if !shared.registry().is_busy(id) {
                    return;
                }
                // Keep-alive off: hyper closes the connection once this response is sent.
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Takes the connection out of the registry when its task ends, however it ends.
struct Registered {
    shared: Arc<Shared>,
    id: ConnectionId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared.registry().remove(self.id);
    }
}

/// The connection as the registry knows it.
struct Tracked {
    id: ConnectionId,
    shared: Arc<Shared>,
    /// Whether the connection is between requests (awaiting a head or idle), when bytes read
    /// matter to the registry. Kept here so reads of a request's body do not take its lock.
    waiting: AtomicBool,
}

impl Tracked {
    fn bytes_arrived(&self) {
        if self.waiting.load(Ordering::Relaxed) {
            self.shared
                .registry()
                .bytes_arrived(self.id, self.shared.now());
        }
    }

    fn request_started(&self) {
        self.waiting.store(false, Ordering::Relaxed);
        self.shared.registry().request_started(self.id);
    }

    fn request_finished(&self) {
        let now = self.shared.now();
        let idle = self.shared.registry().request_finished(self.id, now);
        self.waiting.store(idle, Ordering::Relaxed);
    }
}

/// The socket, telling the registry when bytes arrive.
struct Observed {
    stream: TcpStream,
    tracked: Arc<Tracked>,
}

impl AsyncRead for Observed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.tracked.bytes_arrived();
        }
        poll
    }
}

impl AsyncWrite for Observed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The router as hyper calls it: a request is busy from its complete head until its response
/// body is dropped.
struct Service {
    router: axum::Router,
    tracked: Arc<Tracked>,
    /// The client's address, handed to handlers as axum's `ConnectInfo` (the console limits
    /// failed sign-ins per source with it).
    peer: ConnectInfo<SocketAddr>,
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        self.tracked.request_started();
        request.extensions_mut().insert(self.peer);
        let guard = RequestGuard(self.tracked.clone());
        let answer = self.router.clone().oneshot(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| TrackedBody {
                body,
                _guard: guard,
            }))
        })
    }
}

/// Ends the request in the registry when dropped: with the response body, or with the handler
/// when the connection is dropped first.
struct RequestGuard(Arc<Tracked>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that carries its request's guard.
struct TrackedBody {
    body: Body,
    _guard: RequestGuard,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
