//! Loopback addresses with a known behaviour for failure tests, and free ports from the OS.
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

/// An `--rtp-ports` range of `count` ports (even `count`) that were all free on loopback UDP
/// when checked: the OS is asked for a port, and the block around it is taken when every port
/// of it binds. Tests use it instead of a fixed range, so test binaries and other programs on
/// the machine cannot collide with them.
pub fn free_udp_range(count: u16) -> (u16, u16) {
    assert!(
        count >= 2 && count.is_multiple_of(2),
        "an even number of ports"
    );
    for _ in 0..200 {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
        let port = probe.local_addr().expect("the bound address").port();
        drop(probe);
        let low = port & !1;
        let Some(high) = low.checked_add(count - 1) else {
            continue;
        };
        let held: Vec<_> = (low..=high)
            .map_while(|port| std::net::UdpSocket::bind(("127.0.0.1", port)).ok())
            .collect();
        if held.len() == usize::from(count) {
            return (low, high);
        }
    }
    panic!("no block of {count} free UDP ports found");
}

/// `free_udp_range` written as `--rtp-ports` takes it.
pub fn free_rtp_ports(count: u16) -> String {
    let (low, high) = free_udp_range(count);
    format!("{low}-{high}")
}
