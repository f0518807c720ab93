//! A conference of real calls: three sipp UACs (two PCMU, one PCMA) join one `<Conference>`;
//! each one's SDP points at a socket of this test, which sends a distinct tone generated with
//! sox (400, 700 and 1,100 Hz) and captures what the engine sends back. Each participant must
//! hear the other two tones and not its own, checked by Goertzel filters over the captured RTP.
//! A sandbox caller is a fourth participant of the same conference (it has no audio). The
//! conference is recorded (`record-from-start`): one mixed WAV holding all three tones.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use switchboard_test_support::sipp::Sipp;
use tokio::net::UdpSocket;

use crate::call;
use crate::sip_calls::{SipTest, XML, alaw_decode, assert_sipp_ok, scenario, sip_addr};
use crate::voice::provision;

const ROOM: &str = "+15550800001";

/// One participant: its codec, its tone, and its socket's task.
struct Party {
    pt: u8,
    codec: &'static str,
    hz: f64,
}

const PARTIES: [Party; 3] = [
    Party {
        pt: 0,
        codec: "PCMU",
        hz: 400.0,
    },
    Party {
        pt: 8,
        codec: "PCMA",
        hz: 700.0,
    },
    Party {
        pt: 0,
        codec: "PCMU",
        hz: 1100.0,
    },
];

/// `seconds` of a sine tone from sox, as raw G.711 in the party's law; `None` without sox.
fn sox_tone(hz: f64, law_pcma: bool, seconds: u32) -> Option<Vec<u8>> {
    let path = std::env::temp_dir().join(format!(
        "switchboard-tone-{hz}-{law_pcma}-{}.raw",
        std::process::id()
    ));
    let encoding = if law_pcma { "a-law" } else { "u-law" };
    let status = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-e", encoding, "-t", "raw"])
        .arg(&path)
        .args([
            "synth",
            &seconds.to_string(),
            "sine",
            &hz.to_string(),
            "vol",
            "0.25",
        ])
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    Some(bytes)
}

fn ulaw_decode(code: u8) -> i32 {
    let code = !code;
    let sign = code & 0x80;
    let exponent = (code >> 4) & 0x07;
    let mantissa = i32::from(code & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if sign != 0 { -magnitude } else { magnitude }
}

/// Goertzel power of `hz` in `samples` (8 kHz), normalised by length.
fn power(samples: &[i32], hz: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for sample in samples {
        let s0 = f64::from(*sample) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / (samples.len().max(1) as f64).powi(2)
}

/// Sends the tone as 20 ms RTP packets to where the engine's packets come from, and captures
/// what arrives, until `stop`.
async fn run_party(
    socket: UdpSocket,
    pt: u8,
    tone: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> Vec<(Instant, u8, Vec<u8>)> {
    let mut received = Vec::new();
    let mut engine: Option<SocketAddr> = None;
    let mut buffer = [0u8; 2048];
    let mut interval = tokio::time::interval(Duration::from_millis(20));
    let (mut sequence, mut timestamp, mut offset) = (1u16, 160u32, 0usize);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        tokio::select! {
            got = socket.recv_from(&mut buffer) => {
                if let Ok((length, from)) = got
                    && length > 12
                {
                    engine.get_or_insert(from);
                    received.push((Instant::now(), buffer[1] & 0x7F, buffer[12..length].to_vec()));
                }
            }
            _ = interval.tick() => {
                let Some(to) = engine else { continue };
                let mut packet = vec![0x80, pt];
                packet.extend_from_slice(&sequence.to_be_bytes());
                packet.extend_from_slice(&timestamp.to_be_bytes());
                packet.extend_from_slice(&0x5eed_0000u32.wrapping_add(u32::from(pt)).to_be_bytes());
                let frame = &tone[offset..offset + 160];
                packet.extend_from_slice(frame);
                let _ = socket.send_to(&packet, to).await;
                sequence = sequence.wrapping_add(1);
                timestamp = timestamp.wrapping_add(160);
                offset = (offset + 160) % (tone.len() - 160);
            }
        }
    }
    received
}

/// The conference's recording: listed by `ConferenceSid`, one channel, every tone in it.
async fn check_recording(engine: &switchboard_test_support::engine::Engine, conference: &str) {
    let url = engine.account_url(&format!("Recordings.json?ConferenceSid={conference}"));
    let mut listed = serde_json::Value::Null;
    let found = crate::eventually(Duration::from_secs(10), async || {
        listed = call(engine, "GET", &url, &[]).await.1;
        listed["recordings"]
            .as_array()
            .is_some_and(|list| !list.is_empty())
    })
    .await;
    assert!(found, "no recording of the conference: {listed}");
    let recording = &listed["recordings"][0];
    assert_eq!(recording["conference_sid"], conference, "{recording}");
    assert_eq!(recording["source"], "Conference");
    assert_eq!(recording["channels"], 1);
    let sid = recording["sid"].as_str().expect("sid");
    let wav = engine
        .request(
            reqwest::Method::GET,
            &engine.account_url(&format!("Recordings/{sid}.wav")),
        )
        .send()
        .await
        .expect("fetch the WAV");
    assert_eq!(wav.status().as_u16(), 200);
    let bytes = wav.bytes().await.expect("WAV bytes");
    assert_eq!(&bytes[..4], b"RIFF");
    let samples: Vec<i32> = bytes[44..]
        .chunks_exact(2)
        .map(|pair| i32::from(i16::from_le_bytes([pair[0], pair[1]])))
        .collect();
    assert!(samples.len() >= 3 * 8000, "{} samples", samples.len());
    for party in &PARTIES {
        let heard = power(&samples, party.hz);
        assert!(
            heard > 1_000_000.0,
            "the recording lacks {} Hz: {heard:.0}",
            party.hz
        );
    }
}

#[tokio::test]
async fn three_sip_callers_each_hear_the_other_two_tones_and_not_their_own() {
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
    let tones: Option<Vec<Vec<u8>>> = PARTIES
        .iter()
        .map(|party| sox_tone(party.hz, party.pt == 8, 30))
        .collect();
    let Some(tones) = tones else {
        assert!(
            std::env::var_os("CI").is_none(),
            "sox is needed for the conference mixing test"
        );
        eprintln!("SKIPPED: sox is not installed");
        return;
    };
    app.route(
        "/room",
        200,
        XML,
        "<Response><Dial><Conference beep=\"false\" record=\"record-from-start\">mix</Conference></Dial></Response>",
    );
    provision(&engine, ROOM, &app.url("/room"), None).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut captures = Vec::new();
    let mut calls = Vec::new();
    for (party, tone) in PARTIES.iter().zip(tones) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind RTP");
        let port = socket.local_addr().expect("addr").port().to_string();
        captures.push(tokio::spawn(run_party(
            socket,
            party.pt,
            tone,
            stop.clone(),
        )));
        let sipp = Sipp::new(
            &sipp_binary,
            &scenario("conference"),
            sip_addr(&engine),
            ROOM,
        )
        .key("rtp_port", &port)
        .key("pt", &party.pt.to_string())
        .key("codec", party.codec);
        calls.push(tokio::spawn(async move { sipp.run().await }));
    }
    // A sandbox caller joins the same conference: it has no audio, and the SIP participants'
    // mix is unchanged by it.
    let sandbox = call(
        &engine,
        "POST",
        &format!("{}/sandbox/Calls", engine.base_url),
        &[("To", ROOM), ("From", "+15551239999")],
    )
    .await;
    assert_eq!(sandbox.0, 201, "{sandbox:?}");
    // All four are in and the conference has started; then let them talk for a while.
    let list = engine.account_url("Conferences.json?FriendlyName=mix&Status=in-progress");
    let mut conference = String::new();
    let started = crate::eventually(Duration::from_secs(20), async || {
        let (_, body) = call(&engine, "GET", &list, &[]).await;
        let Some(sid) = body["conferences"][0]["sid"].as_str() else {
            return false;
        };
        conference = sid.to_owned();
        let url = engine.account_url(&format!("Conferences/{sid}/Participants.json"));
        let (_, body) = call(&engine, "GET", &url, &[]).await;
        body["participants"]
            .as_array()
            .is_some_and(|p| p.len() == 4)
    })
    .await;
    assert!(started, "four participants did not join");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let window_start = Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let window_end = Instant::now();
    let ended = call(
        &engine,
        "POST",
        &engine.account_url(&format!("Conferences/{conference}.json")),
        &[("Status", "completed")],
    )
    .await;
    assert_eq!(ended.0, 200, "{ended:?}");
    assert_eq!(ended.1["status"], "completed");
    for call in calls {
        let outcome = call.await.expect("sipp task");
        assert_sipp_ok(&outcome, "conference participant");
    }
    stop.store(true, Ordering::Relaxed);
    check_recording(&engine, &conference).await;
    for (index, (party, capture)) in PARTIES.iter().zip(captures).enumerate() {
        let received = capture.await.expect("capture task");
        let samples: Vec<i32> = received
            .iter()
            .filter(|(at, pt, payload)| {
                *at >= window_start && *at <= window_end && *pt == party.pt && payload.len() == 160
            })
            .flat_map(|(_, _, payload)| {
                let decode = if party.pt == 8 {
                    alaw_decode
                } else {
                    ulaw_decode
                };
                payload
                    .iter()
                    .map(move |code| decode(*code))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(
            samples.len() >= 8000,
            "participant {index} ({} Hz) received {} samples in the window",
            party.hz,
            samples.len()
        );
        let own = power(&samples, party.hz);
        let powers: Vec<String> = PARTIES
            .iter()
            .map(|p| format!("{} Hz: {:.0}", p.hz, power(&samples, p.hz)))
            .collect();
        eprintln!(
            "participant {index} ({} Hz, {}): {}",
            party.hz,
            party.codec,
            powers.join(", ")
        );
        for (other_index, other) in PARTIES.iter().enumerate() {
            if other_index == index {
                continue;
            }
            let heard = power(&samples, other.hz);
            assert!(
                heard > 100.0 * own.max(1.0),
                "participant {index} ({} Hz, {}) should hear {} Hz far above its own tone: \
                 {heard:.0} vs own {own:.0}",
                party.hz,
                party.codec,
                other.hz
            );
        }
        assert!(
            own < 1_000.0,
            "participant {index} hears its own {} Hz tone: {own:.0}",
            party.hz
        );
    }
}
