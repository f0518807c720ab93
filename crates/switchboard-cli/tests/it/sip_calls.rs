//! Real calls: `sipp` (Debian `sip-tester`) calls the engine over SIP on loopback, and the
//! engine answers with its TwiML as RTP: speech from the TTS program, DTMF into `<Gather>`
//! (RFC 4733 and SIP INFO), the fallback when the primary fails, `<Reject>`, CANCEL while
//! ringing, and `<Record>` of the audio sipp sent.
//!
//! The scenarios live in `tests/it/sipp/`. One test points sipp's SDP at the test's own RTP
//! receiver, so what the engine sends can be checked packet by packet.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;
use switchboard_test_support::sipp::{self, Sipp};

use crate::voice::{form, param, provision};
use crate::{binary, call};

pub(crate) const XML: &str = "text/xml";

pub(crate) fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/it/sipp/{name}.xml"))
}

/// What every SIP test starts with: sipp (or a SKIPPED line), the sipp slot of this test binary,
/// an engine with SIP on, and the customer's app.
pub(crate) struct SipTest {
    pub sipp_binary: PathBuf,
    pub engine: Engine,
    pub app: App,
    pub _slot: tokio::sync::MutexGuard<'static, ()>,
    /// The engine's `--rtp-ports`, taken free from the OS.
    pub rtp_ports: (u16, u16),
}

impl SipTest {
    pub(crate) async fn start() -> Option<SipTest> {
        let sipp_binary = sipp::sipp()?;
        let slot = sipp::lock().await;
        let rtp_ports = switchboard_test_support::net::free_udp_range(64);
        let range = format!("{}-{}", rtp_ports.0, rtp_ports.1);
        Some(SipTest {
            sipp_binary,
            engine: Engine::start_with_sip(binary(), &["--rtp-ports", &range]),
            app: App::start().await,
            _slot: slot,
            rtp_ports,
        })
    }
}

/// The RMS level of each 20 ms G.711 packet of `payload_type` (decoded with `decode`).
pub(crate) fn frame_levels(
    packets: &[(Instant, Vec<u8>)],
    payload_type: u8,
    decode: fn(u8) -> i32,
) -> Vec<f64> {
    packets
        .iter()
        .filter(|(_, bytes)| bytes.len() == 172 && bytes[1] & 0x7F == payload_type)
        .map(|(_, bytes)| {
            let sum: f64 = bytes[12..]
                .iter()
                .map(|code| f64::from(decode(*code)).powi(2))
                .sum();
            (sum / 160.0).sqrt()
        })
        .collect()
}

pub(crate) fn sip_addr(engine: &Engine) -> SocketAddr {
    engine.sip_addr.expect("the engine printed its SIP address")
}

/// The requests the app received on `path`, as form parameters.
pub(crate) fn hits(app: &App, path: &str) -> Vec<Vec<(String, String)>> {
    app.received()
        .into_iter()
        .filter(|r| r.target.split('?').next() == Some(path))
        .map(|r| form(&r.body))
        .collect()
}

/// Waits until the stored call reaches a terminal status; returns it.
pub(crate) async fn stored_call(engine: &Engine, sid: &str) -> Value {
    let url = engine.account_url(&format!("Calls/{sid}.json"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = call(engine, "GET", &url, &[]).await;
        assert_eq!(status, 200, "{body}");
        let terminal = ["completed", "busy", "failed", "no-answer", "canceled"];
        if terminal.contains(&body["status"].as_str().unwrap_or_default()) {
            return body;
        }
        assert!(Instant::now() < deadline, "the call did not end: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The call's event transcript (the sandbox view works for SIP calls too).
pub(crate) async fn transcript(engine: &Engine, sid: &str) -> Value {
    let url = format!("{}/sandbox/Calls/{sid}", engine.base_url);
    call(engine, "GET", &url, &[]).await.1
}

pub(crate) fn assert_sipp_ok(outcome: &sipp::SippOutcome, what: &str) {
    assert!(
        outcome.success,
        "{what}: sipp failed\nstdout:\n{}\nstderr:\n{}",
        outcome.stdout, outcome.stderr
    );
}

/// What the test's RTP receiver caught: arrival time and datagram, and where they came from.
pub(crate) async fn receive_rtp_from(
    socket: tokio::net::UdpSocket,
    quiet: Duration,
) -> (Vec<(Instant, Vec<u8>)>, Vec<SocketAddr>) {
    let mut packets = Vec::new();
    let mut sources = Vec::new();
    let mut buffer = [0u8; 2048];
    let first_wait = Duration::from_secs(20);
    loop {
        let wait = if packets.is_empty() {
            first_wait
        } else {
            quiet
        };
        match tokio::time::timeout(wait, socket.recv_from(&mut buffer)).await {
            Ok(Ok((length, source))) => {
                packets.push((Instant::now(), buffer[..length].to_vec()));
                if !sources.contains(&source) {
                    sources.push(source);
                }
            }
            _ => return (packets, sources),
        }
    }
}

/// Datagrams with their arrival time.
pub(crate) type Packets = Vec<(Instant, Vec<u8>)>;

/// The test's own RTP receiver: a socket whose port goes into the SDP, read while the call runs.
pub(crate) struct RtpCapture {
    pub port: String,
    task: tokio::task::JoinHandle<(Packets, Vec<SocketAddr>)>,
}

impl RtpCapture {
    pub(crate) async fn start() -> RtpCapture {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind RTP");
        let port = socket.local_addr().expect("addr").port().to_string();
        let task = tokio::spawn(receive_rtp_from(socket, Duration::from_millis(1500)));
        RtpCapture { port, task }
    }

    /// What arrived until the stream went quiet, and from where.
    pub(crate) async fn finish(self) -> (Packets, Vec<SocketAddr>) {
        self.task.await.expect("capture task")
    }

    pub(crate) async fn packets(self) -> Packets {
        self.finish().await.0
    }
}

/// The RFC 4733 events that ended on `payload_type`, once per event (end packets repeat).
pub(crate) fn ended_events(packets: &[(Instant, Vec<u8>)], payload_type: u8) -> Vec<u8> {
    let mut ended: Vec<(u32, u8)> = packets
        .iter()
        .filter(|(_, bytes)| {
            bytes.len() == 16 && bytes[1] & 0x7F == payload_type && bytes[13] & 0x80 != 0
        })
        .map(|(_, bytes)| {
            let timestamp = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            (timestamp, bytes[12])
        })
        .collect();
    ended.dedup();
    ended.into_iter().map(|(_, event)| event).collect()
}

pub(crate) fn alaw_decode(code: u8) -> i32 {
    let code = code ^ 0x55;
    let magnitude = i32::from(code & 0x0F) << 4;
    let segment = (code & 0x70) >> 4;
    let value = match segment {
        0 => magnitude + 8,
        1 => magnitude + 0x108,
        _ => (magnitude + 0x108) << (segment - 1),
    };
    if code & 0x80 != 0 { value } else { -value }
}

const GREETING: &str = "Welcome to the switchboard test line. Please press one.";

#[tokio::test]
async fn a_sip_caller_hears_speech_over_rtp_and_presses_a_key_by_sip_info() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        rtp_ports,
    }) = SipTest::start().await
    else {
        return;
    };
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Gather numDigits="1" action="/choice" timeout="10"><Say>{GREETING}</Say></Gather></Response>"#
        ),
    );
    app.route(
        "/choice",
        200,
        XML,
        "<Response><Say>You pressed one.</Say><Hangup/></Response>",
    );
    provision(&engine, "+15550300001", &app.url("/voice"), None).await;
    let capture = RtpCapture::start().await;
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("info"),
        sip_addr(&engine),
        "+15550300001",
    )
    .key("rtp_port", &capture.port)
    .run()
    .await;
    assert_sipp_ok(&outcome, "INFO call");

    let first = &hits(&app, "/voice")[0];
    assert_eq!(param(first, "CallStatus"), Some("ringing"));
    assert_eq!(param(first, "From"), Some("+15005550006"));
    assert_eq!(param(first, "To"), Some("+15550300001"));
    assert_eq!(param(first, "Direction"), Some("inbound"));
    let sid = param(first, "CallSid").expect("CallSid").to_owned();
    let choice = hits(&app, "/choice");
    assert_eq!(
        choice.len(),
        1,
        "the Gather action ran once: {:?}",
        transcript(&engine, &sid).await
    );
    assert_eq!(param(&choice[0], "Digits"), Some("1"));
    assert_eq!(param(&choice[0], "CallStatus"), Some("in-progress"));
    let stored = stored_call(&engine, &sid).await;
    assert_eq!(stored["status"], "completed", "{stored}");

    let (packets, sources) = capture.finish().await;
    check_rtp_stream(&packets);
    assert_eq!(sources.len(), 1, "one RTP source: {sources:?}");
    assert!(
        (rtp_ports.0..=rtp_ports.1).contains(&sources[0].port()) && sources[0].port() % 2 == 0,
        "RTP comes from an even port of --rtp-ports: {}",
        sources[0]
    );
    let metrics = reqwest::get(format!("{}/metrics", engine.base_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for name in [
        "sip_transactions_total",
        "sip_messages_received_total",
        "rtp_packets_sent_total",
        "rtp_packets_received_total",
        "tts_cache_misses_total",
        "switchboard_calls_active",
    ] {
        assert!(metrics.contains(name), "/metrics shows {name}:\n{metrics}");
    }
}

/// RTP from the engine: PCMA at 50 packets a second, consecutive sequence numbers, timestamps
/// 160 apart, and the first seconds (the `<Say>`) are speech: loud frames and quiet gaps.
fn check_rtp_stream(packets: &[(Instant, Vec<u8>)]) {
    assert!(
        packets.len() > 100,
        "at least two seconds of RTP, got {} packets",
        packets.len()
    );
    let header = |bytes: &[u8]| {
        assert!(bytes.len() >= 12 && bytes[0] >> 6 == 2, "an RTP v2 packet");
        let sequence = u16::from_be_bytes([bytes[2], bytes[3]]);
        let timestamp = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let ssrc = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        (bytes[1] & 0x7F, sequence, timestamp, ssrc)
    };
    let audio: Vec<_> = packets
        .iter()
        .filter(|(_, bytes)| header(bytes).0 == 8)
        .collect();
    let (_, _, _, ssrc) = header(&audio[0].1);
    let mut late_ticks = 0;
    for pair in audio.windows(2) {
        let (a, b) = (header(&pair[0].1), header(&pair[1].1));
        assert_eq!(b.3, ssrc, "one SSRC");
        assert_eq!(b.1, a.1.wrapping_add(1), "consecutive sequence numbers");
        let step = b.2.wrapping_sub(a.2);
        assert!(
            step >= 160 && step % 160 == 0,
            "timestamps advance in 20 ms slots: {step}"
        );
        if step != 160 {
            // A slot skipped because the sender's task ran late (timestamps track real time).
            late_ticks += 1;
        }
        assert_eq!(pair[1].1.len(), 12 + 160, "20 ms of G.711 per packet");
    }
    assert!(
        late_ticks * 50 <= audio.len(),
        "at most 2% of packets after a skipped slot: {late_ticks} of {}",
        audio.len()
    );
    let span = audio[audio.len() - 1].0 - audio[0].0;
    let rate = (audio.len() - 1) as f64 / span.as_secs_f64();
    assert!(
        (47.0..=53.0).contains(&rate),
        "RTP at 50 packets/s, measured {rate:.1}"
    );
    // The greeting: the first 3 s of frames (after the answer, while TTS runs, silence).
    let mut rms = frame_levels(packets, 8, alaw_decode);
    rms.truncate(150);
    let loud = rms.iter().filter(|level| **level > 500.0).count();
    assert!(
        loud >= 30,
        "the prompt is audible: {loud} of {} frames loud ({rms:?})",
        rms.len()
    );
    let peak = rms.iter().copied().fold(0.0, f64::max);
    let median = {
        let mut sorted = rms.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    assert!(
        peak > 2.0 * median,
        "speech varies in loudness (peak {peak:.0}, median {median:.0})"
    );
}

#[tokio::test]
async fn a_failing_primary_is_replaced_by_the_fallback_on_a_sip_call_with_rfc4733_digits() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    app.route("/down", 500, "text/html", "<h1>broken</h1>");
    app.route(
        "/fallback",
        200,
        XML,
        r#"<Response><Gather numDigits="1" action="/choice" timeout="10"><Say>The backup line. Press one.</Say></Gather></Response>"#,
    );
    app.route(
        "/choice",
        200,
        XML,
        "<Response><Say>Goodbye.</Say></Response>",
    );
    provision(
        &engine,
        "+15550300002",
        &app.url("/down"),
        Some(&app.url("/fallback")),
    )
    .await;
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("dtmf"),
        sip_addr(&engine),
        "15550300002",
    )
    .run()
    .await;
    assert_sipp_ok(&outcome, "fallback call");
    let fallback = hits(&app, "/fallback");
    assert_eq!(fallback.len(), 1);
    assert_eq!(param(&fallback[0], "ErrorCode"), Some("11200"));
    assert_eq!(
        param(&fallback[0], "ErrorUrl"),
        Some(app.url("/down").as_str())
    );
    assert_eq!(param(&fallback[0], "To"), Some("+15550300002"));
    let choice = hits(&app, "/choice");
    assert_eq!(choice.len(), 1, "{choice:?}");
    assert_eq!(
        param(&choice[0], "Digits"),
        Some("1"),
        "one RFC 4733 key press (the end packet is sent three times) is one digit"
    );
    let sid = param(&fallback[0], "CallSid").expect("CallSid").to_owned();
    assert_eq!(stored_call(&engine, &sid).await["status"], "completed");
}

#[tokio::test]
async fn reject_answers_486_or_603_and_unknown_numbers_404_never_answered() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    app.route(
        "/busy",
        200,
        XML,
        r#"<Response><Reject reason="busy"/></Response>"#,
    );
    app.route("/reject", 200, XML, "<Response><Reject/></Response>");
    app.route("/status", 204, XML, "");
    for (number, path) in [("+15550300003", "/busy"), ("+15550300004", "/reject")] {
        let (status, created) = call(
            &engine,
            "POST",
            &engine.account_url("IncomingPhoneNumbers.json"),
            &[
                ("PhoneNumber", number),
                ("VoiceUrl", &app.url(path)),
                ("StatusCallback", &app.url("/status")),
            ],
        )
        .await;
        assert_eq!(status, 201, "{created}");
    }
    let target = sip_addr(&engine);
    for (number, scenario_name, status) in [
        ("+15550300003", "refused_486", "busy"),
        ("+15550300004", "refused_603", "no-answer"),
    ] {
        let outcome = Sipp::new(&sipp_binary, &scenario(scenario_name), target, number)
            .run()
            .await;
        assert_sipp_ok(&outcome, scenario_name);
        let path = if status == "busy" { "/busy" } else { "/reject" };
        let sid = param(&hits(&app, path)[0], "CallSid")
            .expect("CallSid")
            .to_owned();
        let stored = stored_call(&engine, &sid).await;
        assert_eq!(stored["status"], status, "{stored}");
        // The status callback carries the refusal the caller was sent.
        let code = if status == "busy" { "486" } else { "603" };
        let arrived = crate::eventually(Duration::from_secs(10), async || {
            hits(&app, "/status")
                .iter()
                .any(|p| param(p, "CallSid") == Some(sid.as_str()))
        })
        .await;
        assert!(arrived, "the status callback of {sid} arrived");
        let callbacks = hits(&app, "/status");
        let callback = callbacks
            .iter()
            .find(|p| param(p, "CallSid") == Some(sid.as_str()))
            .expect("callback");
        assert_eq!(
            param(callback, "SipResponseCode"),
            Some(code),
            "{callback:?}"
        );
    }
    let unknown = Sipp::new(
        &sipp_binary,
        &scenario("refused_404"),
        target,
        "+15559999999",
    )
    .run()
    .await;
    assert_sipp_ok(&unknown, "unknown number");
}

#[tokio::test]
async fn cancel_while_ringing_answers_487_and_the_call_is_canceled() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    app.route(
        "/ring",
        200,
        XML,
        r#"<Response><Pause length="10"/><Say>Too late.</Say></Response>"#,
    );
    provision(&engine, "+15550300005", &app.url("/ring"), None).await;
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("cancel"),
        sip_addr(&engine),
        "+15550300005",
    )
    .run()
    .await;
    assert_sipp_ok(&outcome, "CANCEL");
    let sid = param(&hits(&app, "/ring")[0], "CallSid")
        .expect("CallSid")
        .to_owned();
    let stored = stored_call(&engine, &sid).await;
    assert_eq!(stored["status"], "canceled", "{stored}");
}

#[tokio::test]
async fn record_captures_the_audio_the_caller_sent() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    app.route(
        "/voice",
        200,
        XML,
        r#"<Response><Record timeout="2" maxLength="20" action="/recorded"/></Response>"#,
    );
    app.route("/recorded", 200, XML, "<Response><Hangup/></Response>");
    provision(&engine, "+15550300006", &app.url("/voice"), None).await;
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("record"),
        sip_addr(&engine),
        "+15550300006",
    )
    .run()
    .await;
    assert_sipp_ok(&outcome, "record call");
    let recorded = hits(&app, "/recorded");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let duration: u32 = param(&recorded[0], "RecordingDuration")
        .and_then(|d| d.parse().ok())
        .expect("RecordingDuration");
    assert!(
        (3..=8).contains(&duration),
        "the pcap is about 4.7 s of speech: {duration} s"
    );
    let url = param(&recorded[0], "RecordingUrl").expect("RecordingUrl");
    let wav = engine
        .request(reqwest::Method::GET, &format!("{url}.wav"))
        .send()
        .await
        .expect("fetch the recording");
    assert_eq!(wav.status().as_u16(), 200);
    let bytes = wav.bytes().await.expect("WAV bytes");
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(
        u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
        8000
    );
    let samples: Vec<i16> = bytes[44..]
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    let rms = (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>()
        / samples.len().max(1) as f64)
        .sqrt();
    assert!(
        rms > 200.0,
        "the recording holds the caller's speech, not silence (RMS {rms:.0})"
    );
}

/// A 16 kHz mono WAV of a 1 kHz tone, `ms` long (a rate the engine must resample).
pub(crate) fn tone_wav(ms: u32) -> Vec<u8> {
    let rate = 16_000u32;
    let samples: Vec<i16> = (0..rate * ms / 1000)
        .map(|index| {
            let phase = 2.0 * std::f64::consts::PI * 1000.0 * f64::from(index) / f64::from(rate);
            (phase.sin() * 12_000.0) as i16
        })
        .collect();
    let data_len = samples.len() as u32 * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    wav
}

#[tokio::test]
async fn play_streams_a_fetched_wav_and_rfc4733_digits() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    app.route_bytes("/tone.wav", 200, "audio/wav", tone_wav(1000));
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Play>{}</Play><Play digits="w12#"/><Hangup/></Response>"#,
            app.url("/tone.wav")
        ),
    );
    provision(&engine, "+15550300009", &app.url("/voice"), None).await;
    let capture = RtpCapture::start().await;
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("listen"),
        sip_addr(&engine),
        "+15550300009",
    )
    .key("rtp_port", &capture.port)
    .run()
    .await;
    assert_sipp_ok(&outcome, "listening caller");
    let packets = capture.packets().await;

    // The tone: about a second of loud A-law frames whose zero crossings say 1 kHz.
    let audio: Vec<Vec<i32>> = packets
        .iter()
        .filter(|(_, bytes)| bytes.len() == 172 && bytes[1] & 0x7F == 8)
        .map(|(_, bytes)| bytes[12..].iter().map(|code| alaw_decode(*code)).collect())
        .collect();
    let loud: Vec<&Vec<i32>> = audio
        .iter()
        .filter(|frame| frame.iter().map(|s| s.abs()).max().unwrap_or(0) > 4000)
        .collect();
    assert!(
        (45..=55).contains(&loud.len()),
        "one second of tone is about 50 loud frames: {}",
        loud.len()
    );
    let crossings: usize = loud
        .iter()
        .map(|frame| {
            frame
                .windows(2)
                .filter(|w| (w[0] < 0) != (w[1] < 0))
                .count()
        })
        .sum();
    let per_second = crossings as f64 / (loud.len() as f64 * 0.02);
    assert!(
        (1800.0..=2200.0).contains(&per_second),
        "a 1 kHz tone crosses zero about 2,000 times a second: {per_second:.0}"
    );

    // The digits: RFC 4733 events on the negotiated payload type, each ended, in order.
    let events = ended_events(&packets, 101);
    assert_eq!(
        events,
        [1, 2, 11],
        "keys 1, 2 and # (event 11), one event each"
    );
}
