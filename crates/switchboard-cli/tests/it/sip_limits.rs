//! Hostile SIP over raw UDP sockets (issue 20): where RTP may go (an SDP address that does not
//! parse gets `488`; an address outside `--sip-trust` gets nothing, the caller's RTP source gets
//! the audio; a trusted address gets it as named) and requests too large for UDP (`513`).
//!
//! These tests write SIP by hand instead of through sipp so they can name any address in the SDP
//! and watch every socket involved; they need neither sipp nor the TTS program.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchboard_test_support::engine::Engine;
use tokio::net::UdpSocket;

use crate::binary;
use crate::sip_calls::{XML, sip_addr, tone_wav};
use crate::voice::provision;

const WAIT: Duration = Duration::from_secs(15);

/// A SIP message as text: its start line and a header's value.
struct Sip(String);

impl Sip {
    fn status(&self) -> u16 {
        self.0
            .strip_prefix("SIP/2.0 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or(0)
    }

    fn header(&self, name: &str) -> Option<&str> {
        let head = self.0.split("\r\n\r\n").next()?;
        head.split("\r\n").skip(1).find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field
                .trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim())
        })
    }

    fn body(&self) -> &str {
        self.0.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }
}

/// One dialog's worth of raw SIP from a UDP socket of the test's.
struct Caller {
    socket: UdpSocket,
    engine: SocketAddr,
    number: String,
    call_id: String,
}

impl Caller {
    async fn new(engine: &Engine, number: &str) -> Caller {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind SIP");
        // The socket's port is unique while it is bound, and so is a Call-ID made of it.
        let call_id = format!(
            "call-{}@127.0.0.1",
            socket.local_addr().expect("addr").port()
        );
        Caller {
            socket,
            engine: sip_addr(engine),
            number: number.to_owned(),
            call_id,
        }
    }

    fn local(&self) -> SocketAddr {
        self.socket.local_addr().expect("addr")
    }

    /// A request of ours: `to` is the To header (with a tag once in the dialog).
    fn text(
        &self,
        method: &str,
        uri: &str,
        cseq: u32,
        to: &str,
        branch: &str,
        sdp: &str,
    ) -> String {
        let content_type = if sdp.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_owned()
        };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15005550006@127.0.0.1>;tag=caller1\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:caller@{local}>\r\n\
             {content_type}Content-Length: {length}\r\n\r\n{sdp}",
            local = self.local(),
            call_id = self.call_id,
            length = sdp.len(),
        )
    }

    async fn send(&self, text: &str) {
        self.socket
            .send_to(text.as_bytes(), self.engine)
            .await
            .expect("send SIP");
    }

    /// The next message from the engine that is not a provisional response.
    async fn final_response(&self) -> Sip {
        let mut buffer = vec![0u8; 65_536];
        loop {
            let (length, _) = tokio::time::timeout(WAIT, self.socket.recv_from(&mut buffer))
                .await
                .expect("a SIP response in time")
                .expect("receive SIP");
            let message = Sip(String::from_utf8_lossy(&buffer[..length]).into_owned());
            if message.status() >= 200 {
                return message;
            }
        }
    }

    fn uri(&self) -> String {
        format!("sip:{}@{}", self.number, self.engine)
    }

    /// INVITEs with `sdp`; answers its final response with ACK (a 2xx's ACK goes to the
    /// Contact, a failure's reuses the INVITE's branch) and returns it.
    async fn invite(&self, sdp: &str) -> Sip {
        let to = format!("<{}>", self.uri());
        self.send(&self.text("INVITE", &self.uri(), 1, &to, "inv1", sdp))
            .await;
        let response = self.final_response().await;
        let to_with_tag = response.header("To").expect("To").to_owned();
        let (target, branch) = if response.status() < 300 {
            (contact_uri(&response), "ack1")
        } else {
            (self.uri(), "inv1")
        };
        self.send(&self.text("ACK", &target, 1, &to_with_tag, branch, ""))
            .await;
        response
    }

    async fn bye(&self, answer: &Sip) {
        let to = answer.header("To").expect("To");
        self.send(&self.text("BYE", &contact_uri(answer), 2, to, "bye1", ""))
            .await;
    }
}

fn contact_uri(response: &Sip) -> String {
    let contact = response.header("Contact").expect("a Contact");
    let start = contact.find('<').map_or(0, |i| i + 1);
    let end = contact.find('>').unwrap_or(contact.len());
    contact[start..end].to_owned()
}

fn offer(connection: &str, port: u16) -> String {
    format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\n{connection}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
}

/// The engine's RTP address from its SDP answer.
fn answered_rtp(answer: &Sip) -> SocketAddr {
    let body = answer.body();
    let ip = body
        .lines()
        .find_map(|line| line.strip_prefix("c=IN IP4 "))
        .expect("c= in the answer");
    let port = body
        .lines()
        .find_map(|line| line.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .expect("m= in the answer");
    format!("{}:{}", ip.trim(), port)
        .parse()
        .expect("an RTP address")
}

/// Datagrams arriving at `socket` within `within`.
async fn received(socket: &UdpSocket, within: Duration) -> Vec<Vec<u8>> {
    let end = Instant::now() + within;
    let mut packets = Vec::new();
    let mut buffer = [0u8; 2048];
    while let Ok(Ok((length, _))) =
        tokio::time::timeout_at(end.into(), socket.recv_from(&mut buffer)).await
    {
        packets.push(buffer[..length].to_vec());
    }
    packets
}

/// A PCMU packet of silence.
fn rtp_packet(sequence: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
    packet.extend_from_slice(&0x5EED_u32.to_be_bytes());
    packet.extend(std::iter::repeat_n(0xFF, 160));
    packet
}

/// PCMU frames with audible sound in them.
fn loud_frames(packets: &[Vec<u8>]) -> usize {
    packets
        .iter()
        .filter(|p| p.len() == 172 && p[1] & 0x7F == 0)
        .filter(|p| {
            p[12..]
                .iter()
                .any(|code| !matches!(code, 0xFF | 0x7F | 0xFE | 0x7E))
        })
        .count()
}

async fn engine_with_tone(
    args: &[&str],
    number: &str,
) -> (Engine, switchboard_test_support::app::App) {
    let range = switchboard_test_support::net::free_rtp_ports(16);
    let mut all = vec!["--rtp-ports", range.as_str()];
    all.extend_from_slice(args);
    let engine = Engine::start_with_sip(binary(), &all);
    let app = switchboard_test_support::app::App::start().await;
    app.route_bytes("/tone.wav", 200, "audio/wav", tone_wav(1000));
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Play loop="0">{}</Play></Response>"#,
            app.url("/tone.wav")
        ),
    );
    provision(&engine, number, &app.url("/voice"), None).await;
    (engine, app)
}

#[tokio::test]
async fn sip_an_invite_whose_sdp_address_does_not_parse_gets_488() {
    let (engine, app) = engine_with_tone(&[], "+15550310001").await;
    for connection in [
        "c=IN IP6 2001:db8::zz",
        "c=IN IP6 2001:db8:::1",
        "c=IN IP4 media.example.com",
        "c=IN IP4 2001:db8::1",
    ] {
        let caller = Caller::new(&engine, "+15550310001").await;
        let response = caller.invite(&offer(connection, 40_000)).await;
        assert_eq!(response.status(), 488, "{connection}: {}", response.0);
    }
    // A good address on the same number is answered, so the 488s were the addresses'.
    let caller = Caller::new(&engine, "+15550310001").await;
    let answer = caller.invite(&offer("c=IN IP4 127.0.0.1", 40_000)).await;
    assert_eq!(answer.status(), 200, "{}", answer.0);
    caller.bye(&answer).await;
    assert!(
        app.received()
            .iter()
            .filter(|r| r.target.starts_with("/voice"))
            .count()
            == 1,
        "only the good INVITE reached the Voice URL"
    );
}

#[tokio::test]
async fn sip_rtp_goes_to_the_callers_rtp_source_never_to_an_untrusted_sdp_address() {
    // Only 127.0.0.1 is trusted, so 127.0.0.2 (another loopback address this test can watch)
    // stands for a third party's host, like 192.0.2.1 would.
    let (engine, _app) = engine_with_tone(&["--sip-trust", "127.0.0.1/32"], "+15550310002").await;
    let victim = UdpSocket::bind("127.0.0.2:0")
        .await
        .expect("bind 127.0.0.2");
    let victim_port = victim.local_addr().expect("addr").port();
    let caller_rtp = UdpSocket::bind("127.0.0.1:0").await.expect("bind RTP");
    let caller = Caller::new(&engine, "+15550310002").await;
    let answer = caller
        .invite(&offer("c=IN IP4 127.0.0.2", victim_port))
        .await;
    assert_eq!(answer.status(), 200, "{}", answer.0);
    let engine_rtp = answered_rtp(&answer);

    // The tone plays from the answer on, but nothing may leave before the caller's RTP.
    let early = received(&victim, Duration::from_millis(800)).await;
    assert_eq!(early.len(), 0, "the untrusted SDP address got RTP");
    let early = received(&caller_rtp, Duration::from_millis(100)).await;
    assert_eq!(early.len(), 0, "RTP before the caller sent any");

    for sequence in 1..=5 {
        caller_rtp
            .send_to(&rtp_packet(sequence), engine_rtp)
            .await
            .expect("send RTP");
    }
    let heard = received(&caller_rtp, Duration::from_millis(1500)).await;
    assert!(
        loud_frames(&heard) >= 20,
        "the caller's RTP source hears the tone: {} packets, {} loud",
        heard.len(),
        loud_frames(&heard)
    );
    let late = received(&victim, Duration::from_millis(200)).await;
    assert_eq!(late.len(), 0, "the untrusted SDP address never gets RTP");
    caller.bye(&answer).await;
    assert_eq!(caller.final_response().await.status(), 200);
}

#[tokio::test]
async fn sip_a_trusted_sdp_address_gets_rtp_as_named_without_waiting() {
    let (engine, _app) = engine_with_tone(&[], "+15550310003").await;
    let named = UdpSocket::bind("127.0.0.1:0").await.expect("bind RTP");
    let port = named.local_addr().expect("addr").port();
    let caller = Caller::new(&engine, "+15550310003").await;
    let answer = caller.invite(&offer("c=IN IP4 127.0.0.1", port)).await;
    assert_eq!(answer.status(), 200, "{}", answer.0);
    // Nothing is sent to the engine: the trusted address is used as the SDP names it.
    let heard = received(&named, Duration::from_millis(1500)).await;
    assert!(
        loud_frames(&heard) >= 20,
        "the trusted address hears the tone: {} packets",
        heard.len()
    );
    caller.bye(&answer).await;
}

fn options(local: SocketAddr, transport: &str, call_id: &str, padding: &str) -> String {
    format!(
        "OPTIONS sip:+15550310004@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{call_id};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:+15550310004@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 7 OPTIONS\r\n{padding}Content-Length: 0\r\n\r\n"
    )
}

/// About 10 KB of headers: `lines` lines of `10_000 / lines` bytes each.
fn padding(lines: usize) -> String {
    let each = 10_000 / lines;
    (0..lines)
        .map(|i| format!("X-Padding-{i}: {}\r\n", "a".repeat(each)))
        .collect()
}

#[tokio::test]
async fn sip_a_10_kb_request_over_udp_gets_513_and_goes_through_over_tcp() {
    let range = switchboard_test_support::net::free_rtp_ports(4);
    let engine = Engine::start_with_sip(binary(), &["--rtp-ports", &range]);
    let sip = sip_addr(&engine);
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local = socket.local_addr().expect("addr");
    let mut buffer = vec![0u8; 65_536];
    // Many ordinary header lines, and one line of 10 KB: both are answered.
    for (call_id, lines) in [("big-many", 20), ("big-one", 1)] {
        let request = options(local, "UDP", call_id, &padding(lines));
        assert!(request.len() > 10_000, "{}", request.len());
        socket.send_to(request.as_bytes(), sip).await.expect("send");
        let (length, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buffer))
            .await
            .expect("an answer to an oversized request")
            .expect("receive");
        let response = Sip(String::from_utf8_lossy(&buffer[..length]).into_owned());
        assert_eq!(response.status(), 513, "{}", response.0);
        assert_eq!(response.header("Call-ID"), Some(call_id));
        assert_eq!(response.header("CSeq"), Some("7 OPTIONS"));
    }
    // A datagram whose head cannot be read (no end of head) is dropped, and counted.
    let mut headless = b"OPTIONS sip:+15550310004@127.0.0.1 SIP/2.0\r\nX-Padding: ".to_vec();
    headless.resize(10_000, b'a');
    socket.send_to(&headless, sip).await.expect("send");
    let nothing =
        tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buffer)).await;
    assert!(nothing.is_err(), "a headless datagram gets no answer");
    let metrics = reqwest::get(format!("{}/metrics", engine.base_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let count = |outcome: &str| {
        metrics
            .lines()
            .find(|line| {
                line.starts_with("sip_messages_too_large_total")
                    && line.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<f64>().ok())
    };
    assert_eq!(count("answered"), Some(2.0), "{metrics}");
    assert_eq!(count("dropped"), Some(1.0), "{metrics}");

    // The same request over TCP is taken (what the README tells large senders to do).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(sip).await.expect("connect");
    let local = stream.local_addr().expect("addr");
    let request = options(local, "TCP", "big-tcp", &padding(20));
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk))
            .await
            .expect("a TCP answer in time")
            .expect("read");
        assert!(read > 0, "the connection closed");
        answer.extend_from_slice(&chunk[..read]);
    }
    let response = Sip(String::from_utf8_lossy(&answer).into_owned());
    assert_eq!(response.status(), 200, "{}", response.0);
    assert_eq!(response.header("Call-ID"), Some("big-tcp"));
}

/// `OPTIONS` answers `200` while the node takes calls and `503` once SIGTERM's drain has begun
/// (product.md "Several nodes"), so a SIP load balancer probing with it moves new calls to
/// other nodes while this one finishes its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_options_answers_503_while_the_node_drains() {
    let range = switchboard_test_support::net::free_rtp_ports(4);
    let engine = Engine::start_with_sip(binary(), &["--rtp-ports", &range, "--drain-timeout", "5"]);
    let sip = sip_addr(&engine);
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local = socket.local_addr().expect("addr");
    let mut buffer = vec![0u8; 65_536];
    let mut probe = async |call_id: &str| {
        socket
            .send_to(options(local, "UDP", call_id, "").as_bytes(), sip)
            .await
            .expect("send");
        let (length, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buffer))
            .await
            .expect("an answer to OPTIONS")
            .expect("receive");
        Sip(String::from_utf8_lossy(&buffer[..length]).into_owned()).status()
    };
    assert_eq!(probe("probe-live").await, 200);
    // A delivery whose status callback never answers keeps the drain going for its timeout.
    let gate = crate::recovery::Gate::start().await;
    let number = crate::call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[("PhoneNumber", "+15550900002")],
    )
    .await;
    assert_eq!(number.0, 201, "{number:?}");
    let sent = crate::call(
        &engine,
        "POST",
        &engine.account_url("Messages.json"),
        &[
            ("To", "+15550900001"),
            ("From", "+15550900002"),
            ("Body", "held"),
            ("StatusCallback", &gate.url("/status")),
        ],
    )
    .await;
    assert_eq!(sent.0, 201, "{sent:?}");
    let mut engine = engine;
    let stopping = tokio::task::spawn_blocking(move || engine.terminate());
    let mut answer = 0;
    for attempt in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        answer = probe(&format!("probe-drain-{attempt}")).await;
        if answer == 503 {
            break;
        }
    }
    assert_eq!(answer, 503, "OPTIONS while draining");
    assert!(
        stopping.await.expect("terminate"),
        "the drain ends and the engine exits 0"
    );
}

/// The alerts of `engine`'s main account, newest first, as `(error_code, level, text)`.
async fn alert_texts(engine: &Engine) -> Vec<(String, String, String)> {
    let url = format!("{}/v1/Alerts?PageSize=100", engine.base_url);
    let (status, body) = crate::call(engine, "GET", &url, &[]).await;
    assert_eq!(status, 200, "{body}");
    body["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|alert| {
            let text = |field: &str| alert[field].as_str().unwrap_or_default().to_owned();
            (text("error_code"), text("log_level"), text("alert_text"))
        })
        .collect()
}

/// Waits until `engine` holds `count` alerts; returns them.
async fn wait_for_alerts(engine: &Engine, count: usize) -> Vec<(String, String, String)> {
    let arrived = crate::eventually(Duration::from_secs(10), async || {
        alert_texts(engine).await.len() >= count
    })
    .await;
    let alerts = alert_texts(engine).await;
    assert!(arrived, "{count} alerts: {alerts:?}");
    alerts
}

#[tokio::test]
async fn sip_refused_invites_are_warning_alerts_with_their_code_and_source_one_a_minute() {
    // 488 (an SDP address that does not parse) and 404 (no such number), each twice from the
    // same source: one alert each, the second of a kind only counted.
    let (engine, _app) = engine_with_tone(&[], "+15550310011").await;
    for _ in 0..2 {
        let caller = Caller::new(&engine, "+15550310011").await;
        let response = caller
            .invite(&offer("c=IN IP4 media.example.com", 40_000))
            .await;
        assert_eq!(response.status(), 488);
        let stranger = Caller::new(&engine, "+15559990000").await;
        let response = stranger.invite(&offer("c=IN IP4 127.0.0.1", 40_000)).await;
        assert_eq!(response.status(), 404);
    }
    let alerts = wait_for_alerts(&engine, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alerts_later = alert_texts(&engine).await;
    assert_eq!(
        alerts_later.len(),
        2,
        "one alert per status and source: {alerts_later:?}"
    );
    let message = |text: &str| {
        crate::voice::form(text)
            .into_iter()
            .find(|(name, _)| name == "Msg")
            .map(|(_, value)| value)
            .unwrap_or_default()
    };
    for (status, to) in [("488", "+15550310011"), ("404", "+15559990000")] {
        let found = alerts
            .iter()
            .find(|(_, _, text)| message(text).contains(&format!("refused with {status}")));
        let Some((code, level, text)) = found else {
            panic!("no alert for {status}: {alerts:?}");
        };
        let message = message(text);
        assert_eq!(
            (code.as_str(), level.as_str()),
            ("99003", "warning"),
            "{message}"
        );
        assert!(
            message.contains("INVITE from 127.0.0.1:"),
            "the source: {message}"
        );
        assert!(
            message.contains(&format!("to {to} ")),
            "the number: {message}"
        );
    }

    // Outside --sip-trust: 403 and the ACL code, on the main account.
    let (untrusting, _app) = engine_with_tone(&["--sip-trust", "10.0.0.0/8"], "+15550310012").await;
    let caller = Caller::new(&untrusting, "+15550310012").await;
    let response = caller.invite(&offer("c=IN IP4 127.0.0.1", 40_000)).await;
    assert_eq!(response.status(), 403);
    let alerts = wait_for_alerts(&untrusting, 1).await;
    assert_eq!(alerts[0].0, "32201", "{alerts:?}");
    assert!(
        message(&alerts[0].2).contains("outside --sip-trust"),
        "{alerts:?}"
    );
}
