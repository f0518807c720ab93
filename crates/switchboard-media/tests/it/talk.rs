//! The recorder's talk threshold against real audio: sipp's `g711a.pcap` speech and a sox tone
//! count as talk, digital silence and low sox noise do not; the pcap replayed into a session as
//! RTP keeps a recording open and is captured.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use switchboard_media::session::{
    MediaEvent, PortPool, RecordEnd, RecordOptions, RtpConfig, RtpSocket, is_talk,
};
use switchboard_rtp::{Law, MediaTarget, RtpPacket};
use tokio::net::UdpSocket;

use crate::have_tool;

const PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// RTP packets of a classic pcap file of Ethernet/IPv4/UDP frames.
fn pcap_rtp(bytes: &[u8]) -> Vec<RtpPacket> {
    let mut packets = Vec::new();
    let mut offset = 24;
    while let Some(record) = bytes.get(offset..offset + 16) {
        let length = u32::from_le_bytes([record[8], record[9], record[10], record[11]]) as usize;
        let Some(frame) = bytes.get(offset + 16..offset + 16 + length) else {
            break;
        };
        offset += 16 + length;
        let ip = &frame[14..];
        let header = usize::from(ip[0] & 0x0F) * 4;
        if ip[9] == 17
            && let Some(udp) = ip.get(header + 8..)
            && let Ok(packet) = RtpPacket::parse(udp)
        {
            packets.push(packet);
        }
    }
    packets
}

fn talk_frames(samples: &[i16]) -> (usize, usize) {
    let frames: Vec<&[i16]> = samples.chunks_exact(160).collect();
    (frames.iter().filter(|f| is_talk(f)).count(), frames.len())
}

fn sox_raw(effect: &[&str]) -> Vec<i16> {
    let mut args = vec![
        "-D", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-", "synth",
    ];
    args.extend_from_slice(effect);
    let output = std::process::Command::new("sox")
        .args(&args)
        .output()
        .expect("sox runs");
    assert!(output.status.success(), "sox {args:?}");
    output
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn threshold_separates_speech_and_tone_from_silence_and_noise() {
    if !have_tool("sox", "threshold_separates") {
        return;
    }
    let bytes = match std::fs::read(PCAP) {
        Ok(bytes) => bytes,
        Err(_) => {
            assert!(
                have_tool("sipp", "threshold_separates (g711a.pcap)"),
                "sipp without its pcap"
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{PCAP} missing"
            );
            eprintln!("=== SKIPPED threshold_separates: {PCAP} missing ===");
            return;
        }
    };
    let packets = pcap_rtp(&bytes);
    assert!(packets.len() > 100 && packets.iter().all(|p| p.payload_type == 8));
    let speech: Vec<i16> = packets
        .iter()
        .flat_map(|p| p.payload.iter().map(|&c| Law::A.decode(c)))
        .collect();
    let (talk, frames) = talk_frames(&speech);
    assert!(
        talk * 2 > frames,
        "speech: {talk} of {frames} frames are talk"
    );
    let tone = sox_raw(&["1", "sine", "1000"]);
    assert_eq!(talk_frames(&tone), (50, 50), "a 1 kHz sox tone");
    let noise = sox_raw(&["1", "whitenoise", "vol", "0.005"]);
    assert_eq!(talk_frames(&noise).0, 0, "low white noise (about -52 dBFS)");
    assert_eq!(talk_frames(&vec![0; 8_000]).0, 0, "digital silence");
    let idle: Vec<i16> = vec![Law::A.decode(Law::A.silence_code()); 8_000];
    assert_eq!(talk_frames(&idle).0, 0, "A-law idle code");
}

#[tokio::test]
async fn pcap_speech_replayed_as_rtp_is_recorded_as_talk() {
    let Ok(bytes) = std::fs::read(PCAP) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{PCAP} missing"
        );
        eprintln!("=== SKIPPED pcap_speech_replayed: {PCAP} missing ===");
        return;
    };
    let packets = pcap_rtp(&bytes);
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let raw = UdpSocket::bind((localhost, 0)).await.expect("raw socket");
    let pool = PortPool::new(localhost, 40_080, 40_089);
    let socket = RtpSocket::bind(&pool).await.expect("bind");
    let target = socket.local_addr();
    let (media, mut events) = socket.start(RtpConfig {
        target: MediaTarget::Fixed(raw.local_addr().expect("addr")),
        law: Law::A,
        payload_type: 8,
        telephone_event_payload_type: None,
    });
    media.start_recording(RecordOptions {
        silence_timeout_ms: Some(1_500),
        max_ms: 60_000,
        trim_silence: false,
    });
    let mut interval = tokio::time::interval(Duration::from_millis(20));
    for packet in packets.iter().take(100) {
        interval.tick().await;
        raw.send_to(&packet.to_bytes(), target).await.expect("send");
    }
    media.stop_recording();
    let event = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(MediaEvent::RecordingFinished {
                pcm,
                talked_ms,
                reason,
            }) = events.recv().await
            {
                return (pcm, talked_ms, reason);
            }
        }
    })
    .await
    .expect("recording ends");
    let (pcm, talked_ms, reason) = event;
    assert_eq!(
        reason,
        RecordEnd::Stopped,
        "speech kept the 1.5 s silence timeout from firing"
    );
    assert!(
        pcm.len() >= 99 * 160,
        "{} samples for 100 packets",
        pcm.len()
    );
    assert!(talked_ms >= 1_000, "talked {talked_ms} ms of 2 s of speech");
}
