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

/// Reads one request (skipping any retransmitted responses) from the peer's socket.
async fn next_request(peer: &Peer) -> switchboard_sip::Request {
    let mut buffer = vec![0u8; 65_536];
    loop {
        let (length, _) = tokio::time::timeout(WAIT, peer.socket.recv_from(&mut buffer))
            .await
            .expect("a request within the deadline")
            .expect("recv");
        if let Ok(Message::Request(request)) =
            parse_message(&buffer[..length], Framing::Datagram, &Limits::default())
        {
            return request;
        }
    }
}

#[tokio::test]
async fn answered_call_gets_info_dtmf_and_shutdown_sends_bye() {
    use switchboard_sip_ua::CallEvent;
    let (endpoint, mut calls) = endpoint("127.0.0.0/8", 4).await;
    let peer = Peer::new(endpoint.local_addr()).await;
    peer.send(&peer.invite("d1", "d1")).await;
    assert_eq!(peer.response().await.status, 100);
    let mut call = next_call(&mut calls).await;
    call.handle
        .answer(answer_sdp(&call.offer.clone().expect("offer")));
    let ok = peer.response().await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.headers.content_type(), Some("application/sdp"));
    let to = ok.headers.get("To").expect("To").to_owned();
    let in_dialog = |method: &str, cseq: u32, branch: &str, body: &str, content_type: &str| {
        format!(
            "{method} {contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch}\r\n\
             From: \"Alice\" <sip:alice@127.0.0.1:{port}>;tag=a-d1\r\nTo: {to}\r\nCall-ID: d1\r\n\
             CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            contact = ok.headers.contact().expect("Contact").uri,
            port = peer.port(),
        )
    };
    peer.send(&in_dialog("ACK", 1, "d1-ack", "", "")).await;
    assert_eq!(next(&mut call.events).await, CallEvent::Acked);
    let info = in_dialog(
        "INFO",
        2,
        "d1-info",
        "Signal=5\r\nDuration=160\r\n",
        "Content-Type: application/dtmf-relay\r\n",
    );
    peer.send(&info).await;
    assert_eq!(peer.response().await.status, 200);
    assert_eq!(next(&mut call.events).await, CallEvent::Dtmf('5'));
    // Shutdown sends BYE in the dialog and returns once it is answered.
    let stopping = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { endpoint.shutdown().await }
    });
    let bye = next_request(&peer).await;
    assert_eq!(bye.method, switchboard_sip::Method::Bye);
    assert_eq!(bye.uri, format!("sip:alice@127.0.0.1:{}", peer.port()));
    assert_eq!(bye.headers.call_id(), Some("d1"));
    let bye_ok = bye.response(200, "");
    peer.socket
        .send_to(&bye_ok.to_bytes(), endpoint.local_addr())
        .await
        .expect("send");
    assert_eq!(next(&mut call.events).await, CallEvent::Ended);
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("shutdown returns")
        .expect("shutdown task");
    assert_eq!(endpoint.active_calls(), 0);
    // Stopped listening: the port can be bound again, for UDP and TCP.
    UdpSocket::bind(endpoint.local_addr())
        .await
        .expect("UDP port released");
    tokio::net::TcpListener::bind(endpoint.local_addr())
        .await
        .expect("TCP port released");
}

#[tokio::test]
async fn unframeable_tcp_input_closes_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 4).await;
    let mut stream = tokio::net::TcpStream::connect(endpoint.local_addr())
        .await
        .expect("connect");
    // No Content-Length: on a stream the next message cannot be found (RFC 3261 §18.3).
    let unframeable = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKt\r\n\
                       From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: t1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    stream
        .write_all(unframeable.as_bytes())
        .await
        .expect("write");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(_))),
        "the endpoint closes the connection: {read:?}"
    );
}

#[tokio::test]
async fn unacknowledged_2xx_is_retransmitted_then_bye_after_64_t1() {
    use switchboard_sip_ua::{CallEvent, SipConfig, SipEndpoint, TimerConfig};
    let config = SipConfig {
        bind: "127.0.0.1:0".parse().expect("address"),
        trust: vec!["127.0.0.0/8".parse().expect("cidr")],
        max_calls: 4,
        public_host: None,
        min_se_s: 90,
    };
    // T1 = 20 ms: 64·T1 = 1.28 s.
    let timers = TimerConfig {
        t1_ms: 20,
        t2_ms: 160,
        t4_ms: 200,
    };
    let (endpoint, mut calls) = SipEndpoint::bind_with_timers(config, timers)
        .await
        .expect("bind");
    let peer = Peer::new(endpoint.local_addr()).await;
    peer.send(&peer.invite("n1", "n1")).await;
    assert_eq!(peer.response().await.status, 100);
    let mut call = next_call(&mut calls).await;
    call.handle
        .answer(answer_sdp(&call.offer.clone().expect("offer")));
    // Never ACK: count the 2xx retransmissions until the BYE arrives.
    let mut buffer = vec![0u8; 65_536];
    let mut oks = 0;
    let bye = loop {
        let (length, _) = tokio::time::timeout(WAIT, peer.socket.recv_from(&mut buffer))
            .await
            .expect("traffic within the deadline")
            .expect("recv");
        match parse_message(&buffer[..length], Framing::Datagram, &Limits::default()) {
            Ok(Message::Response(response)) if response.status == 200 => oks += 1,
            Ok(Message::Request(request)) => break request,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(oks >= 5, "the 2xx was retransmitted ({oks} copies)");
    assert_eq!(bye.method, switchboard_sip::Method::Bye);
    assert_eq!(next(&mut call.events).await, CallEvent::AckTimeout);
    peer.socket
        .send_to(&bye.response(200, "").to_bytes(), endpoint.local_addr())
        .await
        .expect("send");
    assert_eq!(next(&mut call.events).await, CallEvent::Ended);
    assert_eq!(endpoint.active_calls(), 0);
}
