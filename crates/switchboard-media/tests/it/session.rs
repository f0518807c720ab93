//! RTP sessions over real UDP sockets on 127.0.0.1: pacing, markers, RFC 4733 digits between two
//! sessions, recording with a silence timeout, stopping playback, bridging with transcoding,
//! symmetric latching, the port pool, and answering-machine detection on the received audio.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use switchboard_media::Pcm;
use switchboard_media::session::{
    MediaEvent, MediaHandle, PortPool, RecordEnd, RecordOptions, RtpConfig, RtpSocket,
};
use switchboard_rtp::{Law, MediaTarget, RtpPacket};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, timeout};

use crate::{rms, tone, zero_crossings};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn config(remote: SocketAddr, law: Law) -> RtpConfig {
    RtpConfig {
        target: MediaTarget::Fixed(remote),
        law,
        payload_type: law.payload_type(),
        telephone_event_payload_type: Some(101),
    }
}

type Events = UnboundedReceiver<MediaEvent>;

/// Two sessions sending to each other.
async fn pair(low: u16, law_a: Law, law_b: Law) -> ((MediaHandle, Events), (MediaHandle, Events)) {
    let pool = PortPool::new(LOCALHOST, low, low + 9);
    let a = RtpSocket::bind(&pool).await.expect("bind a");
    let b = RtpSocket::bind(&pool).await.expect("bind b");
    let (a_addr, b_addr) = (a.local_addr(), b.local_addr());
    (
        a.start(config(b_addr, law_a)),
        b.start(config(a_addr, law_b)),
    )
}

async fn next_event(events: &mut Events) -> MediaEvent {
    timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event within 5 s")
        .expect("session still running")
}

/// Events other than PlaybackFinished/RemoteLatched are skipped until `want` matches.
async fn wait_for<T>(events: &mut Events, mut want: impl FnMut(MediaEvent) -> Option<T>) -> T {
    loop {
        if let Some(found) = want(next_event(events).await) {
            return found;
        }
    }
}

/// Packets received on a raw socket for `duration`, with their arrival time.
async fn capture(socket: &UdpSocket, duration: Duration) -> Vec<(Instant, RtpPacket)> {
    let end = Instant::now() + duration;
    let mut packets = Vec::new();
    let mut buffer = [0u8; 2048];
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(end, socket.recv_from(&mut buffer)).await {
        packets.push((
            Instant::now(),
            RtpPacket::parse(&buffer[..n]).expect("valid rtp"),
        ));
    }
    packets
}

#[tokio::test]
async fn paces_fifty_packets_a_second_with_continuous_sequence_timestamps_and_markers() {
    let raw = UdpSocket::bind((LOCALHOST, 0)).await.expect("raw socket");
    let pool = PortPool::new(LOCALHOST, 40_000, 40_009);
    let socket = RtpSocket::bind(&pool).await.expect("bind");
    assert!((40_000..=40_009).contains(&socket.local_addr().port()));
    assert_eq!(socket.local_addr().port() % 2, 0);
    let (media, mut events) = socket.start(config(raw.local_addr().expect("addr"), Law::Mu));
    let playing = tokio::spawn({
        let media = media.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            media.play(Pcm::from(tone(1_000.0, 400)), 1)
        }
    });
    let packets = capture(&raw, Duration::from_millis(1_200)).await;
    let id = playing.await.expect("play task");
    let finished = wait_for(&mut events, |e| match e {
        MediaEvent::PlaybackFinished(id) => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(finished, id);

    let first = packets[0].0;
    let in_first_second = packets
        .iter()
        .filter(|(at, _)| *at < first + Duration::from_secs(1))
        .count();
    assert!(
        (46..=52).contains(&in_first_second),
        "{in_first_second} packets in one second"
    );
    let mut skipped = 0;
    for pair in packets.windows(2) {
        let (a, b) = (&pair[0].1, &pair[1].1);
        assert_eq!(
            b.sequence,
            a.sequence.wrapping_add(1),
            "consecutive sequence numbers"
        );
        assert_eq!(b.ssrc, a.ssrc);
        let step = b.timestamp.wrapping_sub(a.timestamp);
        assert_eq!(step % 160, 0, "timestamps advance by whole frames");
        if step != 160 {
            skipped += 1;
        }
    }
    assert!(
        skipped <= 2,
        "{skipped} slots skipped (a loaded machine may skip one or two)"
    );
    assert!(packets[0].1.marker, "marker on the first packet");
    assert!(
        packets
            .iter()
            .all(|(_, p)| p.payload_type == 0 && p.payload.len() == 160)
    );
    let audio: Vec<usize> = (0..packets.len())
        .filter(|&i| packets[i].1.payload.iter().any(|&c| c != 0xFF))
        .collect();
    assert!(
        (19..=21).contains(&audio.len()),
        "400 ms of tone is 20 packets: {}",
        audio.len()
    );
    assert!(
        packets[audio[0]].1.marker,
        "marker at the start of the talkspurt"
    );
    assert!(audio[1..].iter().all(|&i| !packets[i].1.marker));
    assert!(
        packets[1..audio[0]]
            .iter()
            .all(|(_, p)| !p.marker && p.payload.iter().all(|&c| c == 0xFF))
    );
    media.close();
}

#[tokio::test]
async fn digits_reach_the_other_session_once_per_press() {
    let ((a, mut a_events), (_b, mut b_events)) = pair(40_010, Law::Mu, Law::A).await;
    let id = a.play_digits("11w#9");
    let mut digits = String::new();
    while digits.len() < 4 {
        if let MediaEvent::Digit(d) = next_event(&mut b_events).await {
            digits.push(d);
        }
    }
    assert_eq!(digits, "11#9");
    let finished = wait_for(&mut a_events, |e| match e {
        MediaEvent::PlaybackFinished(id) => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(finished, id);
    let extra = timeout(Duration::from_millis(600), b_events.recv()).await;
    assert!(extra.is_err(), "no repeated digit: {extra:?}");
}

#[tokio::test]
async fn recording_ends_on_silence_and_holds_the_played_audio() {
    let ((a, _a_events), (b, mut b_events)) = pair(40_020, Law::A, Law::A).await;
    let started = Instant::now();
    b.start_recording(RecordOptions {
        silence_timeout_ms: Some(600),
        max_ms: 10_000,
        trim_silence: true,
    });
    a.play(Pcm::from(tone(1_000.0, 500)), 1);
    let (pcm, talked_ms, reason) = wait_for(&mut b_events, |e| match e {
        MediaEvent::RecordingFinished {
            pcm,
            talked_ms,
            reason,
        } => Some((pcm, talked_ms, reason)),
        _ => None,
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(reason, RecordEnd::Silence);
    assert!(
        elapsed >= Duration::from_millis(1_000),
        "ends 600 ms after the talk: {elapsed:?}"
    );
    assert!((440..=540).contains(&talked_ms), "talked {talked_ms} ms");
    // 500 ms of tone plus up to 100 ms of margin each side.
    assert!(
        (3_900..=5_800).contains(&pcm.len()),
        "{} samples",
        pcm.len()
    );
    let loud: Vec<i16> = pcm
        .iter()
        .copied()
        .skip_while(|s| s.abs() < 1_000)
        .take(3_200)
        .collect();
    assert!(rms(&loud) > 4_000.0, "tone level {}", rms(&loud));
    let hz = zero_crossings(&loud) as f64 / 2.0 / 0.4;
    assert!((950.0..1_050.0).contains(&hz), "{hz} Hz");
}

#[tokio::test]
async fn recording_of_nobody_ends_after_the_timeout_from_the_start_and_stop_ends_at_once() {
    let ((_a, _a_events), (b, mut b_events)) = pair(40_070, Law::Mu, Law::Mu).await;
    let options = RecordOptions {
        silence_timeout_ms: Some(300),
        max_ms: 10_000,
        trim_silence: true,
    };
    b.start_recording(options);
    let started = Instant::now();
    let (pcm, talked_ms, reason) = wait_for(&mut b_events, |e| match e {
        MediaEvent::RecordingFinished {
            pcm,
            talked_ms,
            reason,
        } => Some((pcm, talked_ms, reason)),
        _ => None,
    })
    .await;
    assert_eq!((reason, talked_ms, pcm.len()), (RecordEnd::Silence, 0, 0));
    assert!(started.elapsed() < Duration::from_millis(800));
    b.start_recording(RecordOptions {
        silence_timeout_ms: None,
        ..options
    });
    b.stop_recording();
    let reason = wait_for(&mut b_events, |e| match e {
        MediaEvent::RecordingFinished { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, RecordEnd::Stopped);
}

#[tokio::test]
async fn stop_playback_drops_queued_items_without_finishing_them() {
    let raw = UdpSocket::bind((LOCALHOST, 0)).await.expect("raw socket");
    let pool = PortPool::new(LOCALHOST, 40_030, 40_039);
    let socket = RtpSocket::bind(&pool).await.expect("bind");
    let (media, mut events) = socket.start(config(raw.local_addr().expect("addr"), Law::Mu));
    let long = media.play(Pcm::from(tone(440.0, 5_000)), 3);
    let queued = media.play_tone(1_000, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    media.stop_playback();
    let after = media.play_tone(500, 60);
    let finished = wait_for(&mut events, |e| match e {
        MediaEvent::PlaybackFinished(id) => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(finished, after);
    assert!(finished != long && finished != queued);
    let extra = timeout(Duration::from_millis(400), events.recv()).await;
    assert!(extra.is_err(), "nothing more finishes: {extra:?}");
}

#[tokio::test]
async fn bridged_sessions_relay_audio_transcoded_and_keep_digits_to_themselves() {
    // caller (µ-law) -> a (µ-law) == bridge == b (A-law) -> raw
    let raw = UdpSocket::bind((LOCALHOST, 0)).await.expect("raw socket");
    let pool = PortPool::new(LOCALHOST, 40_040, 40_049);
    let caller = RtpSocket::bind(&pool).await.expect("bind caller");
    let a = RtpSocket::bind(&pool).await.expect("bind a");
    let b = RtpSocket::bind(&pool).await.expect("bind b");
    let (caller_addr, a_addr) = (caller.local_addr(), a.local_addr());
    let (caller, _caller_events) = caller.start(config(a_addr, Law::Mu));
    let (a, mut a_events) = a.start(config(caller_addr, Law::Mu));
    let (b, mut b_events) = b.start(config(raw.local_addr().expect("addr"), Law::A));
    a.bridge(&b);
    caller.play(Pcm::from(tone(1_000.0, 600)), 1);
    let packets = capture(&raw, Duration::from_millis(1_000)).await;
    assert!(packets.iter().all(|(_, p)| p.payload_type == 8));
    let decoded: Vec<i16> = packets
        .iter()
        .flat_map(|(_, p)| p.payload.iter().map(|&c| Law::A.decode(c)))
        .collect();
    let loud: Vec<i16> = decoded
        .iter()
        .copied()
        .skip_while(|s| s.abs() < 1_000)
        .take(3_200)
        .collect();
    assert!(rms(&loud) > 4_000.0, "relayed tone level {}", rms(&loud));
    let hz = zero_crossings(&loud) as f64 / 2.0 / 0.4;
    assert!((950.0..1_050.0).contains(&hz), "{hz} Hz");

    caller.play_digits("5");
    let digit = wait_for(&mut a_events, |e| match e {
        MediaEvent::Digit(d) => Some(d),
        _ => None,
    })
    .await;
    assert_eq!(digit, '5');
    b.unbridge();
    caller.play(Pcm::from(tone(1_000.0, 400)), 1);
    let after = capture(&raw, Duration::from_millis(700)).await;
    assert!(
        after
            .iter()
            .all(|(_, p)| p.payload.iter().all(|&c| c == Law::A.silence_code())),
        "unbridged"
    );
    assert!(
        timeout(Duration::from_millis(100), b_events.recv())
            .await
            .is_err(),
        "b saw no digit"
    );
}

#[tokio::test]
async fn a_latching_session_sends_nothing_until_the_first_valid_packet_then_only_to_its_source() {
    let raw = UdpSocket::bind((LOCALHOST, 0)).await.expect("raw socket");
    let pool = PortPool::new(LOCALHOST, 40_050, 40_059);
    let socket = RtpSocket::bind(&pool).await.expect("bind");
    let local = socket.local_addr();
    let (media, mut events) = socket.start(RtpConfig {
        target: MediaTarget::Latch,
        ..config(SocketAddr::new(LOCALHOST, 9), Law::Mu)
    });
    // Nothing goes out before the caller's RTP arrives: no destination is known yet.
    media.play(Pcm::from(tone(1_000.0, 2_000)), 1);
    let before = capture(&raw, Duration::from_millis(200)).await;
    assert_eq!(before.len(), 0, "nothing is sent before a latch");
    raw.send_to(b"garbage, not rtp", local).await.expect("send");
    raw.send_to(&RtpPacket::new(72, 1, 0, 5, vec![0; 8]).to_bytes(), local)
        .await
        .expect("send");
    let packet = RtpPacket::new(0, 1, 0, 5, vec![0xFF; 160]);
    raw.send_to(&packet.to_bytes(), local).await.expect("send");
    let latched = wait_for(&mut events, |e| match e {
        MediaEvent::RemoteLatched(addr) => Some(addr),
        _ => None,
    })
    .await;
    assert_eq!(latched, raw.local_addr().expect("addr"));
    let packets = capture(&raw, Duration::from_millis(200)).await;
    assert!(
        packets.len() >= 5,
        "media now flows to the latched source: {}",
        packets.len()
    );
    // No re-latch: RTP from another source moves nothing.
    let intruder = UdpSocket::bind((LOCALHOST, 0)).await.expect("intruder");
    for sequence in 2..6 {
        let packet = RtpPacket::new(0, sequence, 0, 6, vec![0xFF; 160]);
        intruder
            .send_to(&packet.to_bytes(), local)
            .await
            .expect("send");
    }
    let stolen = capture(&intruder, Duration::from_millis(200)).await;
    assert_eq!(stolen.len(), 0, "the intruder gets nothing");
    let still = capture(&raw, Duration::from_millis(100)).await;
    assert!(still.len() >= 2, "the latched source still gets media");
    media.close();
}

#[tokio::test]
async fn port_pool_skips_ports_in_use_and_reuses_freed_ones() {
    let busy = std::net::UdpSocket::bind((LOCALHOST, 40_060)).expect("occupy 40060");
    let pool = PortPool::new(LOCALHOST, 40_059, 40_063);
    let first = RtpSocket::bind(&pool).await.expect("a free port");
    assert_eq!(
        first.local_addr().port(),
        40_062,
        "odd ports and busy ports are skipped"
    );
    let exhausted = RtpSocket::bind(&pool).await;
    assert_eq!(
        exhausted.map(|s| s.local_addr()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::AddrInUse)
    );
    let (media, mut events) = first.start(config(SocketAddr::new(LOCALHOST, 9), Law::Mu));
    media.close();
    // The event stream ends when the task has ended and dropped its socket.
    let end = timeout(Duration::from_secs(2), events.recv()).await;
    assert!(matches!(end, Ok(None)), "the stream ends: {end:?}");
    assert!(media.is_closed());
    drop(busy);
    let again = RtpSocket::bind(&pool)
        .await
        .expect("freed ports are handed out again");
    assert_eq!(
        again.local_addr().port(),
        40_060,
        "round-robin continues after 40062"
    );
}

#[tokio::test]
async fn machine_detection_hears_the_peer_audio_alongside_a_recording() {
    let ((a, mut a_events), (b, mut b_events)) = pair(40_090, Law::Mu, Law::Mu).await;
    let mut settings = switchboard_amd::Settings::new(switchboard_amd::Mode::Enable);
    settings.silence_timeout_ms = 2_000;
    b.start_recording(RecordOptions {
        silence_timeout_ms: None,
        max_ms: 10_000,
        trim_silence: false,
    });
    b.detect_machine(settings);
    // A fax's calling tone after a moment of silence.
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.play(Pcm::from(tone(1_100.0, 600)), 1);
    let verdict = wait_for(&mut b_events, |e| match e {
        MediaEvent::MachineDetected(verdict) => Some(verdict),
        _ => None,
    })
    .await;
    assert_eq!(verdict.answered_by, switchboard_amd::AnsweredBy::Fax);
    assert!((400..=900).contains(&verdict.duration_ms), "{verdict:?}");
    // The recording went on beside it; once the tone is over, a second detection hears only
    // silence: unknown at the silence timeout.
    wait_for(&mut a_events, |e| {
        matches!(e, MediaEvent::PlaybackFinished(_)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.stop_recording();
    wait_for(&mut b_events, |e| {
        matches!(e, MediaEvent::RecordingFinished { .. }).then_some(())
    })
    .await;
    b.detect_machine(settings);
    let verdict = wait_for(&mut b_events, |e| match e {
        MediaEvent::MachineDetected(verdict) => Some(verdict),
        _ => None,
    })
    .await;
    assert_eq!(
        (verdict.answered_by, verdict.duration_ms),
        (switchboard_amd::AnsweredBy::Unknown, 2_000)
    );
}
