//! UDP and TCP transport tasks (RFC 3261 §18): they turn bytes into parsed messages for the
//! endpoint task and carry its bytes back out. Parsing happens here, so garbage is answered
//! (`400` when the request was readable enough) or dropped without reaching the endpoint.
//!
//! UDP takes requests up to [`UDP_MAX_REQUEST_BYTES`] (responses up to the 64 KiB parse limit);
//! a larger request, or a datagram that filled the receive buffer (so may have been cut), is
//! answered `513 Message Too Large` when its head can be read and otherwise dropped, both counted
//! in `sip_messages_too_large_total`.
//!
//! TCP connections are framed with `frame_stream`; unframeable input closes the connection.
//! Each connection has a writer task fed by an unbounded channel, so the endpoint task never
//! awaits a socket. A connection idle for `TCP_IDLE` asks the endpoint whether a call still
//! uses it, and closes when none does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchboard_sip::{Framing, Limits, ParseError, StreamFrame, TransportKind};
use switchboard_sip::{frame_stream, parse_message, too_large_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::actor::Input;

/// How long a TCP connection may carry nothing before it is closed (if no call uses it).
pub(crate) const TCP_IDLE: Duration = Duration::from_secs(120);

/// The largest request taken over UDP, in bytes; larger ones get `513 Message Too Large`.
///
/// RFC 3261 §18.1.1 has a client send a request larger than 1300 bytes (or within 200 bytes of
/// the path MTU) over a congestion-controlled transport such as TCP, so a large request over UDP
/// comes from a client that ignored that; a server should still take what it reasonably can.
/// 8 KiB takes every request a real user agent sends over UDP (an INVITE with SDP is 1 to 4 KiB)
/// while bounding what a single unauthenticated datagram costs to parse; past it a datagram is
/// also six or more IP fragments on a 1500-byte path, each a chance to lose the whole request.
/// The `513` tells the client to retry over TCP, which takes up to 64 KiB.
pub(crate) const UDP_MAX_REQUEST_BYTES: usize = 8 * 1024;

/// The UDP receive buffer: one byte more than the largest UDP payload (65,535 less the 8-byte
/// UDP header), so a datagram that fills it was cut by the kernel.
const UDP_BUFFER_BYTES: usize = 65_536;

/// Identifies one TCP connection.
pub(crate) type ConnId = u64;

/// Where a message came from, and so where its responses go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    Udp(SocketAddr),
    Tcp { conn: ConnId, addr: SocketAddr },
}

impl Peer {
    pub(crate) fn addr(self) -> SocketAddr {
        match self {
            Peer::Udp(addr) | Peer::Tcp { addr, .. } => addr,
        }
    }

    pub(crate) fn kind(self) -> TransportKind {
        match self {
            Peer::Udp(_) => TransportKind::Unreliable,
            Peer::Tcp { .. } => TransportKind::Reliable,
        }
    }

    /// The transport token for Via.
    pub(crate) fn via_transport(self) -> &'static str {
        match self {
            Peer::Udp(_) => "UDP",
            Peer::Tcp { .. } => "TCP",
        }
    }
}

/// A fresh random token for tags, branches and Call-IDs.
pub(crate) fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn count_received() {
    metrics::counter!("sip_messages_received_total").increment(1);
}

/// Counts a parse error and returns the `400` to send, if the request can be answered.
fn bad_request(error: &ParseError) -> Option<Vec<u8>> {
    metrics::counter!("sip_parse_errors_total").increment(1);
    tracing::debug!(%error, "unparseable SIP message");
    let response = error.bad_request(&random_token())?;
    metrics::counter!("sip_transactions_total", "class" => "4xx").increment(1);
    Some(response.to_bytes())
}

/// True when a datagram is more than UDP takes: a request over `UDP_MAX_REQUEST_BYTES`, or
/// anything that filled the receive buffer of `capacity` bytes (and so may have been cut).
fn is_oversized(datagram: &[u8], capacity: usize) -> bool {
    if datagram.len() >= capacity {
        return true;
    }
    let start = datagram
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(datagram.len());
    let is_response = datagram[start..].starts_with(b"SIP/2.0 ");
    datagram.len() > UDP_MAX_REQUEST_BYTES && !is_response
}

/// Counts an oversized datagram and returns the `513` to send, when its head can be read.
fn too_large(datagram: &[u8]) -> Option<Vec<u8>> {
    tracing::debug!(bytes = datagram.len(), "SIP datagram too large");
    match too_large_response(datagram, &random_token()) {
        Some(response) => {
            metrics::counter!("sip_messages_too_large_total", "outcome" => "answered").increment(1);
            metrics::counter!("sip_transactions_total", "class" => "5xx").increment(1);
            Some(response.to_bytes())
        }
        None => {
            metrics::counter!("sip_messages_too_large_total", "outcome" => "dropped").increment(1);
            None
        }
    }
}

/// Receives datagrams until the socket fails or the endpoint task is gone.
pub(crate) async fn run_udp(socket: Arc<UdpSocket>, inputs: mpsc::UnboundedSender<Input>) {
    let limits = Limits::default();
    let mut buffer = vec![0u8; UDP_BUFFER_BYTES];
    loop {
        let (length, source) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors of earlier sends and similar transient failures surface here;
                // the socket stays usable, so keep receiving (briefly pausing against a spin).
                tracing::debug!(%error, "SIP UDP receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let datagram = &buffer[..length];
        if datagram.iter().all(|b| matches!(b, b'\r' | b'\n' | 0)) {
            continue; // keep-alive
        }
        count_received();
        if is_oversized(datagram, buffer.len()) {
            if let Some(bytes) = too_large(datagram) {
                let _ = socket.send_to(&bytes, source).await;
            }
            continue;
        }
        match parse_message(datagram, Framing::Datagram, &limits) {
            Ok(message) => {
                let peer = Peer::Udp(source);
                if inputs.send(Input::Received { message, peer }).is_err() {
                    return;
                }
            }
            Err(error) => {
                if let Some(bytes) = bad_request(&error) {
                    let _ = socket.send_to(&bytes, source).await;
                }
            }
        }
    }
}

/// Accepts TCP connections; each runs in `connections`, dropped (and so aborted) with this task.
pub(crate) async fn run_tcp_listener(
    listener: TcpListener,
    inputs: mpsc::UnboundedSender<Input>,
    ids: Arc<AtomicU64>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    let conn = ids.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(run_connection(stream, conn, addr, inputs.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "SIP TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Runs one accepted TCP connection: registers its writer with the endpoint, then serves it.
async fn run_connection(
    stream: TcpStream,
    conn: ConnId,
    addr: SocketAddr,
    inputs: mpsc::UnboundedSender<Input>,
) {
    let (writes, pending) = mpsc::unbounded_channel::<Vec<u8>>();
    let registered = Input::Connected {
        conn,
        writes: writes.clone(),
    };
    if inputs.send(registered).is_err() {
        return;
    }
    serve_connection(stream, conn, addr, inputs, writes, pending).await;
}

/// Serves one TCP connection whose writer the endpoint already knows: writes what arrives on
/// `pending`, reads frames until the peer closes, the input is unframeable or it idles unused.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    conn: ConnId,
    addr: SocketAddr,
    inputs: mpsc::UnboundedSender<Input>,
    writes: mpsc::UnboundedSender<Vec<u8>>,
    mut pending: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = pending.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    read_frames(&mut reader, conn, addr, &inputs, &writes).await;
    drop(writes);
    let _ = inputs.send(Input::Closed { conn });
    // The writer ends once the endpoint drops its sender; don't wait on a stuck peer forever.
    let _ = tokio::time::timeout(Duration::from_secs(5), write_task).await;
}

async fn read_frames(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    conn: ConnId,
    addr: SocketAddr,
    inputs: &mpsc::UnboundedSender<Input>,
    writes: &mpsc::UnboundedSender<Vec<u8>>,
) {
    let limits = Limits::default();
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16_384];
    loop {
        loop {
            match frame_stream(&buffer, &limits) {
                Ok(StreamFrame::Incomplete) => break,
                Ok(StreamFrame::KeepAlive(length)) => {
                    buffer.drain(..length);
                }
                Ok(StreamFrame::Message(length)) => {
                    count_received();
                    match parse_message(&buffer[..length], Framing::Stream, &limits) {
                        Ok(message) => {
                            let peer = Peer::Tcp { conn, addr };
                            if inputs.send(Input::Received { message, peer }).is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            if let Some(bytes) = bad_request(&error) {
                                let _ = writes.send(bytes);
                            }
                        }
                    }
                    buffer.drain(..length);
                }
                Err(error) => {
                    // Unframeable: we cannot find the next message boundary, so close.
                    count_received();
                    let _ = bad_request(&error);
                    return;
                }
            }
        }
        match tokio::time::timeout(TCP_IDLE, reader.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(read)) => buffer.extend_from_slice(&chunk[..read]),
            Err(_) => {
                let (reply, in_use) = oneshot::channel();
                if inputs.send(Input::Idle { conn, reply }).is_err() {
                    return;
                }
                if !in_use.await.unwrap_or(false) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_over_the_udp_limit_and_full_buffers_are_oversized() {
        let request = |length: usize| {
            let mut bytes = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
            bytes.resize(length, b'a');
            bytes
        };
        let response = |length: usize| {
            let mut bytes = b"\r\nSIP/2.0 200 OK\r\n".to_vec();
            bytes.resize(length, b'a');
            bytes
        };
        // (what, datagram, oversized)
        let cases = [
            ("a small request", request(1_300), false),
            (
                "a request at the limit",
                request(UDP_MAX_REQUEST_BYTES),
                false,
            ),
            (
                "a request over it",
                request(UDP_MAX_REQUEST_BYTES + 1),
                true,
            ),
            ("a 10 KB request", request(10_000), true),
            ("a large response", response(30_000), false),
            ("a full buffer", response(UDP_BUFFER_BYTES), true),
        ];
        for (what, datagram, oversized) in cases {
            assert_eq!(
                is_oversized(&datagram, UDP_BUFFER_BYTES),
                oversized,
                "{what}"
            );
        }
    }
}
