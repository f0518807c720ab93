//! Loopback addresses with a known behaviour for failure tests.
//!
//! A port found by binding port 0 and closing the socket again is not "refused" for long: the
//! next `bind(0)` in the same test (a webhook server, say) may be handed the same port, and the
//! test then talks to a live server. `refused_addr` keeps the port bound without listening, so
//! the kernel answers every connection with a reset and never gives the port to anyone else.

use std::net::SocketAddr;

/// A loopback TCP address that refuses every connection for the rest of the process.
pub fn refused_addr() -> SocketAddr {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    // No SO_REUSEADDR: a later bind to this port (even one with SO_REUSEADDR) conflicts.
    socket
        .bind("127.0.0.1:0".parse().expect("a socket address"))
        .expect("bind a loopback port");
    let addr = socket.local_addr().expect("the bound address");
    // Held (never listening) until the test process exits: that is what keeps it refused.
    std::mem::forget(socket);
    addr
}
