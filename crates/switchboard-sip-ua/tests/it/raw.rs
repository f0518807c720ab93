//! Exact datagrams against the endpoint: 400 for garbage, retransmissions absorbed, 403 for
//! untrusted sources, 503 at capacity, OPTIONS, 405/481, and RFC 3581 `rport` routing.

use std::net::SocketAddr;

use switchboard_sip::{Framing, Limits, Message, Response, parse_message};
use tokio::net::UdpSocket;

use crate::support::*;

/// A hand-driven UDP peer.
struct Peer {
    socket: UdpSocket,
    target: SocketAddr,
}

impl Peer {
    async fn new(target: SocketAddr) -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        Peer { socket, target }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().expect("addr").port()
    }

    async fn send(&self, text: &str) {
        self.socket
            .send_to(text.as_bytes(), self.target)
            .await
            .expect("send");
    }

    async fn response(&self) -> Response {
        let mut buffer = vec![0u8; 65_536];
        let (length, _) = tokio::time::timeout(WAIT, self.socket.recv_from(&mut buffer))
            .await
            .expect("a response within the deadline")
            .expect("recv");
        match parse_message(&buffer[..length], Framing::Datagram, &Limits::default()) {
            Ok(Message::Response(response)) => response,
            other => panic!(
                "expected a response, got {other:?}: {}",
                String::from_utf8_lossy(&buffer[..length])
            ),
        }
    }

    /// A request from this peer; `via_port` is what the Via claims.
    fn request(
        &self,
        method: &str,
        call_id: &str,
        branch: &str,
        via_port: u16,
        rport: bool,
    ) -> String {
        let rport = if rport { ";rport" } else { "" };
        let body = if method == "INVITE" {
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        } else {
            ""
        };
        let content_type = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} sip:+15551234567@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bK{branch}{rport}\r\n\
             From: \"Alice\" <sip:alice@127.0.0.1:{port}>;tag=a-{call_id}\r\n\
             To: <sip:+15551234567@{target}>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n\
             Contact: <sip:alice@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n{content_type}\
             Content-Length: {}\r\n\r\n{body}",
            body.len(),
            target = self.target,
            port = self.port(),
        )
    }

    fn invite(&self, call_id: &str, branch: &str) -> String {
        self.request("INVITE", call_id, branch, self.port(), false)
    }
}

#[tokio::test]
async fn readable_garbage_gets_400_and_noise_is_dropped() {
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 4).await;
    let peer = Peer::new(endpoint.local_addr()).await;
    peer.send("\x00\x01 not sip at all").await;
    // Content-Length larger than the datagram (RFC 3261 §18.3): readable enough to answer.
    let invite = peer.invite("g1", "g1");
    let length = invite
        .split("Content-Length: ")
        .nth(1)
        .and_then(|r| r.split("\r\n").next());
    let too_long = invite.replace(
        &format!("Content-Length: {}", length.expect("length")),
        "Content-Length: 999",
    );
    peer.send(&too_long).await;
    let response = peer.response().await;
    assert_eq!(response.status, 400);
    assert_eq!(response.headers.call_id(), Some("g1"));
    assert!(
        response
            .headers
            .get("Warning")
            .is_some_and(|w| w.contains("content-length"))
    );
    // Still serving after both.
    peer.send(&peer.request("OPTIONS", "g2", "g2", peer.port(), false))
        .await;
    assert_eq!(peer.response().await.status, 200);
}

#[tokio::test]
async fn retransmitted_invite_is_one_call() {
    let (endpoint, mut calls) = endpoint("127.0.0.0/8", 4).await;
    let peer = Peer::new(endpoint.local_addr()).await;
    let invite = peer.invite("r1", "r1");
    peer.send(&invite).await;
    assert_eq!(peer.response().await.status, 100);
    let call = next_call(&mut calls).await;
    assert_eq!(call.from_display.as_deref(), Some("Alice"));
    assert_eq!(call.from_user, "alice");
    peer.send(&invite).await;
    assert_eq!(
        peer.response().await.status,
        100,
        "the retransmission resends 100"
    );
    // Inputs are handled in order, so once this OPTIONS is answered the retransmission was too.
    peer.send(&peer.request("OPTIONS", "r2", "r2", peer.port(), false))
        .await;
    assert_eq!(peer.response().await.status, 200);
    assert!(calls.try_recv().is_err(), "no second IncomingCall");
    assert_eq!(endpoint.active_calls(), 1);
    call.handle.reject(603);
    let decline = peer.response().await;
    assert_eq!(decline.status, 603);
    assert!(
        decline
            .headers
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
            .is_some()
    );
    assert_eq!(endpoint.active_calls(), 0);
}

#[tokio::test]
async fn untrusted_source_gets_403() {
    let (endpoint, mut calls) = endpoint("10.0.0.0/8", 4).await;
    let peer = Peer::new(endpoint.local_addr()).await;
    peer.send(&peer.invite("u1", "u1")).await;
    assert_eq!(peer.response().await.status, 100);
    assert_eq!(peer.response().await.status, 403);
    assert!(calls.try_recv().is_err());
}

#[tokio::test]
async fn no_capacity_gets_503() {
    let (endpoint, mut calls) = endpoint("127.0.0.0/8", 0).await;
    let peer = Peer::new(endpoint.local_addr()).await;
    peer.send(&peer.invite("c1", "c1")).await;
    assert_eq!(peer.response().await.status, 100);
    assert_eq!(peer.response().await.status, 503);
    assert!(calls.try_recv().is_err());
}

#[tokio::test]
async fn options_unknown_methods_and_unknown_dialogs() {
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 4).await;
    let peer = Peer::new(endpoint.local_addr()).await;
    peer.send(&peer.request("OPTIONS", "o1", "o1", peer.port(), false))
        .await;
    let ok = peer.response().await;
    assert_eq!(ok.status, 200);
    assert!(
        ok.headers
            .get("Allow")
            .is_some_and(|a| a.contains("INVITE") && a.contains("BYE"))
    );
    assert_eq!(ok.headers.get("Accept"), Some("application/sdp"));
    peer.send(&peer.request("SUBSCRIBE", "o2", "o2", peer.port(), false))
        .await;
    assert_eq!(peer.response().await.status, 405);
    let stray_bye = peer
        .request("BYE", "o3", "o3", peer.port(), false)
        .replace("To: <sip:+15551234567@", "To: <sip:nobody@")
        .replace(">\r\nCall-ID: o3", ">;tag=gone\r\nCall-ID: o3");
    peer.send(&stray_bye).await;
    assert_eq!(peer.response().await.status, 481);
    peer.send(&peer.request("CANCEL", "o4", "o4", peer.port(), false))
        .await;
    assert_eq!(
        peer.response().await.status,
        481,
        "CANCEL for no transaction"
    );
}

#[tokio::test]
async fn responses_follow_rport_not_the_claimed_port() {
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 4).await;
    let peer = Peer::new(endpoint.local_addr()).await;
    // The Via claims port 9 (discard); with rport the answer must come to our real port.
    peer.send(&peer.request("OPTIONS", "p1", "p1", 9, true))
        .await;
    let ok = peer.response().await;
    assert_eq!(ok.status, 200);
    let via = ok.headers.top_via().expect("via");
    assert_eq!(via.rport(), Some(Some(peer.port())));
    assert_eq!(via.received(), Some("127.0.0.1"));
}
