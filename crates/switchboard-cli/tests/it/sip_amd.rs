//! Answering-machine detection on a real call: `Calls.json` with `MachineDetection` to a sipp
//! callee whose RTP (sent by this test from the port its SDP names) is an answering machine's
//! greeting spoken by espeak-ng, then a 1 kHz beep made by sox. The engine's RTP session runs
//! the detector over that audio and the first webhook carries its verdict; a callee saying
//! "Hello?" is a person.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use switchboard_test_support::sipp::SippUas;
use tokio::net::UdpSocket;

use crate::call;
use crate::sip_calls::{SipTest, XML, assert_sipp_ok, hits, scenario, stored_call};
use crate::voice::{param, provision};

const GREETING: &str = "Hello, you have reached the voicemail of John Smith. \
    I cannot take your call right now. Please leave a message after the tone.";

pub(crate) fn sox_or_espeak_missing() -> bool {
    let missing = ["espeak-ng", "sox"].into_iter().find(|program| {
        !Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
    });
    if let Some(program) = missing {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} is required under CI"
        );
        eprintln!("SKIPPED: {program} is not installed");
    }
    missing.is_some()
}

pub(crate) fn run(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().expect(program);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The machine's audio as µ-law bytes at 8 kHz: the spoken greeting, 400 ms of silence, a
/// 500 ms beep at 1000 Hz and two seconds of silence.
fn machine_audio(dir: &Path) -> Vec<u8> {
    let path = |name: &str| dir.join(name).to_str().expect("UTF-8 path").to_owned();
    run("espeak-ng", &["-w", &path("speech.wav"), GREETING]);
    run(
        "sox",
        &[
            &path("speech.wav"),
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            &path("greeting.wav"),
        ],
    );
    let synth = |name: &str, seconds: &str, hz: &str, volume: &str| {
        run(
            "sox",
            &[
                "-n",
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                &path(name),
                "synth",
                seconds,
                "sine",
                hz,
                "vol",
                volume,
            ],
        );
    };
    synth("gap.wav", "0.4", "1000", "0");
    synth("beep.wav", "0.5", "1000", "0.5");
    synth("tail.wav", "2", "1000", "0");
    run(
        "sox",
        &[
            &path("greeting.wav"),
            &path("gap.wav"),
            &path("beep.wav"),
            &path("tail.wav"),
            "-e",
            "u-law",
            "-t",
            "ul",
            &path("machine.ul"),
        ],
    );
    std::fs::read(path("machine.ul")).expect("µ-law audio")
}

/// The callee's side of the media: once the engine's first packet shows where its RTP comes
/// from, `audio` goes back to it as PCMU, one packet every 20 ms.
pub(crate) async fn play_to_engine(socket: UdpSocket, audio: Vec<u8>) {
    let mut buffer = [0u8; 2048];
    let engine: SocketAddr = match socket.recv_from(&mut buffer).await {
        Ok((_, from)) => from,
        Err(_) => return,
    };
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    for (index, payload) in audio.chunks(160).enumerate() {
        ticks.tick().await;
        let sequence = index as u16;
        let timestamp = (index as u32) * 160;
        let mut packet = vec![0x80, if index == 0 { 0x80 } else { 0x00 }];
        packet.extend(sequence.to_be_bytes());
        packet.extend(timestamp.to_be_bytes());
        packet.extend(0x5eed_u32.to_be_bytes());
        packet.extend(payload);
        let _ = socket.send_to(&packet, engine).await;
    }
}

/// "Hello?" as µ-law at 8 kHz, then three seconds of silence.
fn person_audio(dir: &Path) -> Vec<u8> {
    let path = |name: &str| dir.join(name).to_str().expect("UTF-8 path").to_owned();
    run("espeak-ng", &["-w", &path("hello.wav"), "Hello?"]);
    run(
        "sox",
        &[
            &path("hello.wav"),
            "-r",
            "8000",
            "-c",
            "1",
            "-e",
            "u-law",
            "-t",
            "ul",
            &path("hello.ul"),
            "pad",
            "0",
            "3",
        ],
    );
    std::fs::read(path("hello.ul")).expect("µ-law audio")
}

/// Places a call with `MachineDetection=mode` to a sipp callee that sends `audio`; returns the
/// first webhook's `AnsweredBy` and `MachineDetectionDuration`, checking the stored call too.
async fn detect_over_sip(
    test: &SipTest,
    number: &str,
    mode: &str,
    audio: Vec<u8>,
) -> (String, u64) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind RTP");
    let port = socket.local_addr().expect("addr").port().to_string();
    let callee = SippUas::start(
        &test.sipp_binary,
        Some(&scenario("uas_media")),
        &["-key", "rtp_port", &port],
    )
    .await;
    let speaker = tokio::spawn(play_to_engine(socket, audio));
    let (engine, app) = (&test.engine, &test.app);
    let path = format!("/outbound/{number}");
    app.route(&path, 200, XML, "<Response><Hangup/></Response>");
    provision(engine, number, &app.url("/unused"), None).await;
    let to = format!("sip:voicemail@{}", callee.addr());
    let created = call(
        engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", to.as_str()),
            ("From", number),
            ("Url", &app.url(&path)),
            ("MachineDetection", mode),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let sid = created.1["sid"].as_str().expect("sid").to_owned();
    assert_sipp_ok(&callee.finish(Duration::from_secs(30)).await, "callee");
    speaker.abort();
    let fetched = hits(app, &path);
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    let answered_by = param(&fetched[0], "AnsweredBy")
        .expect("AnsweredBy")
        .to_owned();
    let duration: u64 = param(&fetched[0], "MachineDetectionDuration")
        .and_then(|ms| ms.parse().ok())
        .expect("MachineDetectionDuration");
    let stored = stored_call(engine, &sid).await;
    assert_eq!(stored["answered_by"], answered_by.as_str(), "{stored}");
    (answered_by, duration)
}

#[tokio::test]
async fn sip_callees_are_told_apart_by_their_audio() {
    if sox_or_espeak_missing() {
        return;
    }
    let Some(test) = SipTest::start().await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("switchboard-sip-amd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let machine = machine_audio(&dir);
    let person = person_audio(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    // An answering machine: told by its beep, after the greeting and not long after (the
    // detector counts the audio received, from its first packet).
    let greeting_ms = (machine.len() / 8) as u64 - 2900;
    let (answered_by, duration) =
        detect_over_sip(&test, "+15550300031", "DetectMessageEnd", machine).await;
    assert_eq!(answered_by, "machine_end_beep");
    assert!(
        duration > greeting_ms && duration < greeting_ms + 1500,
        "{duration} ms after a {greeting_ms} ms greeting"
    );
    // A person: "Hello?", then the speech-end threshold (1.2 s) of silence.
    let (answered_by, duration) = detect_over_sip(&test, "+15550300032", "Enable", person).await;
    assert_eq!(answered_by, "human");
    assert!((1500..3000).contains(&duration), "{duration}");
}
