//! The media task of one session: the only `select!` of the media path, over commands, the
//! socket and the 20 ms interval.
//!
//! Per slot the task pulls one frame (local playback, else relayed bridge audio, else silence),
//! encodes it into a recycled buffer, runs the `RtpSender` and sends what it yields with
//! `try_send_to` (a full socket buffer drops the packet rather than delaying the slot). Sent
//! payload buffers come back from the packet and are reused, so steady-state sending does not
//! allocate. Received datagrams are parsed, filtered by source and payload type, fed to the DTMF
//! detector, and (while recording or bridging) to a `ReceiveBuffer` whose playout is decoded
//! into the recorder and relayed to the bridged peer.

use std::collections::VecDeque;
use std::net::SocketAddr;

use metrics::Counter;
use switchboard_rtp::{
    DtmfDetector, Law, MediaTarget, Playout, ReceiveBuffer, ReceiveConfig, RtpPacket, RtpSender,
    SenderConfig, SourceVerdict,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::call_recorder::CallRecorder;
use super::playback::{FRAME, FrameKind, PlaybackQueue};
use super::recorder::Recorder;
use super::speech::SpeechListener;
use super::stream_tap::AttachedStream;
use super::{Command, MediaEvent, RecordEnd, RtpConfig};

/// How long a key press may go without packets before it is reported anyway.
const DTMF_END_TIMEOUT_MS: u64 = 500;
/// Relayed audio kept at most (200 ms); older audio is dropped so the bridge delay stays low.
const BRIDGE_MAX_BYTES: usize = 10 * FRAME;
/// Relayed audio gathered before playing starts or restarts (40 ms), absorbing arrival jitter.
const BRIDGE_PRIME_BYTES: usize = 2 * FRAME;
/// Largest datagram read; longer ones are truncated and then fail to parse or are dropped.
const DATAGRAM_BYTES: usize = 2_048;

/// Runs a session until it is closed or every handle is gone.
pub(super) async fn run(
    socket: UdpSocket,
    config: RtpConfig,
    session: u64,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<MediaEvent>,
) {
    let start = Instant::now();
    let mut media = Media::new(config, session, events);
    let mut interval = tokio::time::interval_at(start, std::time::Duration::from_millis(20));
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut datagram = vec![0u8; DATAGRAM_BYTES];
    loop {
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                None | Some(Command::Close) => break,
                Some(command) => media.handle_command(elapsed_ms(start), command),
            },
            received = socket.recv_from(&mut datagram) => match received {
                Ok((length, from)) => {
                    media.handle_datagram(elapsed_ms(start), &datagram[..length], from);
                }
                Err(error) => tracing::debug!(%error, "rtp receive failed"),
            },
            _ = interval.tick() => media.tick(elapsed_ms(start), &socket),
        }
    }
    media.finish(elapsed_ms(start));
}

fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

struct Bridge {
    peer: mpsc::WeakUnboundedSender<Command>,
    peer_session: u64,
}

struct Counters {
    sent: Counter,
    received: Counter,
    dropped: Counter,
    lost: Counter,
}

struct Media {
    session: u64,
    /// Where packets go (`None` before a latch) and whose packets are taken.
    target: MediaTarget,
    law: Law,
    audio_payload_type: u8,
    telephone_event_payload_type: Option<u8>,
    sender: RtpSender,
    /// False while the peer holds the call (`sendonly`/`inactive`): paced, nothing sent.
    sending: bool,
    playback: PlaybackQueue,
    frame: [i16; FRAME],
    /// A payload buffer returned by the last sent packet, reused for the next frame.
    spare: Vec<u8>,
    datagram: Vec<u8>,
    last_frame_was_audio: bool,
    /// The frame queued in the sender starts a talkspurt; its packet gets the marker bit.
    queued_frame_marker: bool,
    detector: Option<DtmfDetector>,
    receive: Option<ReceiveBuffer>,
    recorder: Option<Recorder>,
    /// A speech `<Gather>`'s listener, until its utterance ends.
    speech: Option<SpeechListener>,
    /// Answering-machine detection, until it decides.
    machine: Option<Box<switchboard_amd::Detector>>,
    /// Recordings of the whole call (`call_recorder.rs`), usually none or one.
    call_recorders: Vec<CallRecorder>,
    decoded: Vec<i16>,
    bridge: Option<Bridge>,
    /// Received audio is not relayed (a muted conference participant).
    muted: bool,
    relayed: VecDeque<u8>,
    relay_primed: bool,
    events: mpsc::UnboundedSender<MediaEvent>,
    counters: Counters,
    /// Media streams attached to the session (`stream_tap.rs`), usually none or one.
    streams: Vec<AttachedStream>,
}

impl Media {
    fn new(config: RtpConfig, session: u64, events: mpsc::UnboundedSender<MediaEvent>) -> Self {
        let sender = RtpSender::new(SenderConfig {
            ssrc: rand::random(),
            initial_sequence: rand::random(),
            initial_timestamp: rand::random(),
            payload_type: config.payload_type,
            telephone_event_payload_type: config.telephone_event_payload_type,
            start_ms: 0,
        });
        Media {
            session,
            target: config.target,
            law: config.law,
            audio_payload_type: config.payload_type,
            telephone_event_payload_type: config.telephone_event_payload_type,
            sender,
            sending: true,
            playback: PlaybackQueue::default(),
            frame: [0; FRAME],
            spare: Vec::with_capacity(FRAME),
            datagram: Vec::with_capacity(12 + FRAME),
            last_frame_was_audio: false,
            queued_frame_marker: false,
            detector: config
                .telephone_event_payload_type
                .map(|pt| DtmfDetector::new(pt, DTMF_END_TIMEOUT_MS)),
            receive: None,
            recorder: None,
            speech: None,
            machine: None,
            call_recorders: Vec::new(),
            decoded: Vec::with_capacity(FRAME),
            bridge: None,
            muted: false,
            relayed: VecDeque::with_capacity(BRIDGE_MAX_BYTES + FRAME),
            relay_primed: false,
            events,
            streams: Vec::new(),
            counters: Counters {
                sent: metrics::counter!("rtp_packets_sent_total"),
                received: metrics::counter!("rtp_packets_received_total"),
                dropped: metrics::counter!("rtp_packets_dropped_total"),
                lost: metrics::counter!("rtp_packets_lost_total"),
            },
        }
    }

    fn emit(&self, event: MediaEvent) {
        // Nobody listening is not an error: the driver may have gone away first.
        let _ = self.events.send(event);
    }

    fn handle_command(&mut self, now_ms: u64, command: Command) {
        match command {
            Command::Play { id, pcm, loops } => self.playback.push_audio(id, pcm, loops),
            Command::Digits { id, digits } => self.playback.push_digits(id, &digits),
            Command::Tone { id, hz, ms } => self.playback.push_tone(id, hz, ms),
            Command::StopPlayback => {
                self.playback.clear();
                self.sender.clear_frames();
            }
            Command::StartRecording(options) => {
                self.end_recording(now_ms, RecordEnd::Stopped);
                self.recorder = Some(Recorder::new(now_ms, options));
                self.ensure_receive_buffer();
            }
            Command::StopRecording => self.end_recording(now_ms, RecordEnd::Stopped),
            Command::ListenForSpeech(options) => {
                self.speech = Some(SpeechListener::new(options));
                self.ensure_receive_buffer();
            }
            Command::StopListening => {
                self.speech = None;
                self.release_receive_buffer_if_idle();
            }
            Command::DetectMachine(detector) => {
                self.machine = Some(detector);
                self.ensure_receive_buffer();
            }
            Command::StartCallRecording { id } => {
                self.call_recorders.push(CallRecorder::new(id));
                self.ensure_receive_buffer();
            }
            Command::PauseCallRecording { id, pause } => {
                if let Some(recorder) = self.call_recorders.iter_mut().find(|r| r.id == id) {
                    recorder.pause(pause);
                }
            }
            Command::StopCallRecording { id, reply } => {
                self.drain_playout(now_ms);
                if let Some(index) = self.call_recorders.iter().position(|r| r.id == id) {
                    let _ = reply.send(self.call_recorders.swap_remove(index).finish());
                }
                self.release_receive_buffer_if_idle();
            }
            Command::Bridge { peer, peer_session } => {
                self.unbridge();
                self.bridge = Some(Bridge { peer, peer_session });
                self.ensure_receive_buffer();
            }
            Command::Unbridge => self.unbridge(),
            Command::PeerUnbridged { peer_session } => {
                if self
                    .bridge
                    .as_ref()
                    .is_some_and(|b| b.peer_session == peer_session)
                {
                    self.bridge = None;
                    self.relayed.clear();
                    self.release_receive_buffer_if_idle();
                }
            }
            Command::BridgedAudio {
                from_session,
                law,
                payload,
            } => {
                if self
                    .bridge
                    .as_ref()
                    .is_some_and(|b| b.peer_session == from_session)
                {
                    self.push_relayed(law, &payload);
                }
            }
            Command::SetTarget(target) => self.target = target,
            Command::Renegotiate { config, sending } => {
                self.target = self.target.retarget(config.target);
                self.law = config.law;
                self.audio_payload_type = config.payload_type;
                if self.telephone_event_payload_type != config.telephone_event_payload_type {
                    self.telephone_event_payload_type = config.telephone_event_payload_type;
                    self.detector = config
                        .telephone_event_payload_type
                        .map(|pt| DtmfDetector::new(pt, DTMF_END_TIMEOUT_MS));
                }
                self.sender
                    .set_payload_types(config.payload_type, config.telephone_event_payload_type);
                self.sending = sending;
            }
            Command::Mute(muted) => self.muted = muted,
            Command::AttachStream { id, tap } => {
                self.streams.push(AttachedStream::new(id, tap));
            }
            Command::DetachStream { id } => {
                if let Some(index) = self.streams.iter().position(|s| s.id == id) {
                    self.streams.swap_remove(index).detach();
                }
            }
            Command::StreamAudio { id, mulaw } => {
                if let Some(stream) = self.stream_mut(id) {
                    stream.push_audio(mulaw);
                }
            }
            Command::StreamMark { id, name } => {
                if let Some(stream) = self.stream_mut(id) {
                    stream.push_mark(name);
                }
            }
            Command::StreamClear { id } => {
                if let Some(stream) = self.stream_mut(id) {
                    stream.clear();
                }
            }
            Command::Close => {}
        }
    }

    fn stream_mut(&mut self, id: u64) -> Option<&mut AttachedStream> {
        self.streams.iter_mut().find(|stream| stream.id == id)
    }

    /// One frame of a two-way stream's audio, if one has some queued (the first that has).
    fn pop_stream_audio(&mut self, payload: &mut Vec<u8>) -> bool {
        let law = self.law;
        self.streams
            .iter_mut()
            .any(|stream| stream.has_audio() && stream.next_frame(law, payload))
    }

    fn ensure_receive_buffer(&mut self) {
        if self.receive.is_none() {
            let config = ReceiveConfig::for_payload_type(self.audio_payload_type);
            self.receive = Some(ReceiveBuffer::new(config));
        }
    }

    fn release_receive_buffer_if_idle(&mut self) {
        if self.recorder.is_none()
            && self.speech.is_none()
            && self.bridge.is_none()
            && self.machine.is_none()
            && self.call_recorders.is_empty()
            && let Some(receive) = self.receive.take()
        {
            self.counters.lost.increment(receive.stats().lost);
        }
    }

    fn unbridge(&mut self) {
        if let Some(bridge) = self.bridge.take()
            && let Some(peer) = bridge.peer.upgrade()
        {
            let _ = peer.send(Command::PeerUnbridged {
                peer_session: self.session,
            });
        }
        self.relayed.clear();
        self.release_receive_buffer_if_idle();
    }

    fn end_recording(&mut self, now_ms: u64, reason: RecordEnd) {
        if self.recorder.is_none() {
            return;
        }
        if let Some(receive) = self.receive.as_mut() {
            receive.flush();
        }
        self.drain_playout(now_ms);
        if let Some(recorder) = self.recorder.take() {
            self.emit(recorder.finish(reason));
        }
        self.release_receive_buffer_if_idle();
    }

    fn push_relayed(&mut self, law: Law, payload: &[u8]) {
        if law == self.law {
            self.relayed.extend(payload);
        } else {
            let mine = self.law;
            self.relayed
                .extend(payload.iter().map(|&c| mine.encode(law.decode(c))));
        }
        if self.relayed.len() > BRIDGE_MAX_BYTES {
            let excess = self.relayed.len() - BRIDGE_MAX_BYTES;
            self.relayed.drain(..excess);
        }
    }

    /// Moves one frame of relayed audio into `payload`, if enough has been gathered.
    fn pop_relayed(&mut self, payload: &mut Vec<u8>) -> bool {
        if !self.relay_primed {
            if self.relayed.len() < BRIDGE_PRIME_BYTES {
                return false;
            }
            self.relay_primed = true;
        }
        if self.relayed.len() < FRAME {
            self.relay_primed = false;
            return false;
        }
        payload.extend(self.relayed.drain(..FRAME));
        true
    }

    fn tick(&mut self, now_ms: u64, socket: &UdpSocket) {
        if self.sender.queued_frames() == 0 {
            self.queue_next_frame();
        }
        self.sender.handle_timeout(now_ms);
        while let Some(mut packet) = self.sender.poll_transmit() {
            if packet.payload_type == self.audio_payload_type {
                packet.marker |= std::mem::take(&mut self.queued_frame_marker);
            }
            // Until a latch the sender still paces (timestamps track real time) but nothing
            // leaves: an untrusted SDP address is never sent to.
            if let Some(destination) = self.target.destination().filter(|_| self.sending) {
                self.datagram.clear();
                packet.write_into(&mut self.datagram);
                match socket.try_send_to(&self.datagram, destination) {
                    Ok(_) => self.counters.sent.increment(1),
                    Err(error) => tracing::trace!(%error, "rtp send failed"),
                }
            }
            if packet.payload.capacity() >= FRAME && self.spare.capacity() == 0 {
                self.spare = packet.payload;
            }
        }
        if let Some(detector) = self.detector.as_mut() {
            detector.handle_timeout(now_ms);
        }
        self.drain_digits();
        if let Some(receive) = self.receive.as_mut() {
            receive.handle_timeout(now_ms);
            self.drain_playout(now_ms);
        }
        if let Some(reason) = self.recorder.as_ref().and_then(|r| r.check(now_ms)) {
            self.end_recording(now_ms, reason);
        }
        if let Some(pcm) = self.speech.as_mut().and_then(|s| s.progress(now_ms)) {
            self.emit(MediaEvent::SpeechProgress { pcm });
        }
        if let Some(pcm) = self.speech.as_mut().and_then(|s| s.check(now_ms)) {
            self.speech = None;
            self.emit(MediaEvent::SpeechCaptured { pcm });
            self.release_receive_buffer_if_idle();
        }
    }

    /// Pulls the next frame from playback, the bridge or silence and queues it in the sender.
    fn queue_next_frame(&mut self) {
        let mut payload = std::mem::take(&mut self.spare);
        payload.clear();
        for stream in &mut self.streams {
            stream.echo_played_marks();
        }
        let events = &self.events;
        let kind = self
            .playback
            .next_frame(&mut self.frame, &mut self.sender, &mut |id| {
                let _ = events.send(MediaEvent::PlaybackFinished(id));
            });
        let audio = match kind {
            FrameKind::Audio => {
                self.law.encode_into(&self.frame, &mut payload);
                self.relayed.clear();
                true
            }
            FrameKind::Silence
                if self.playback.is_empty() && self.pop_stream_audio(&mut payload) =>
            {
                self.relayed.clear();
                true
            }
            FrameKind::Silence if self.playback.is_empty() && self.pop_relayed(&mut payload) => {
                true
            }
            FrameKind::Silence => {
                payload.resize(FRAME, self.law.silence_code());
                false
            }
        };
        if !self.call_recorders.is_empty() {
            self.decoded.clear();
            self.law.decode_into(&payload, &mut self.decoded);
            for recorder in &mut self.call_recorders {
                recorder.push_outbound(&self.decoded);
            }
        }
        for stream in &self.streams {
            stream.outbound(self.law, &payload);
        }
        self.queued_frame_marker = audio && !self.last_frame_was_audio;
        self.last_frame_was_audio = audio;
        self.sender.push_frame(payload);
    }

    fn handle_datagram(&mut self, now_ms: u64, bytes: &[u8], from: SocketAddr) {
        let Ok(packet) = RtpPacket::parse(bytes) else {
            self.counters.dropped.increment(1);
            return;
        };
        let known_type = packet.payload_type == self.audio_payload_type
            || Some(packet.payload_type) == self.telephone_event_payload_type;
        if !known_type {
            self.counters.dropped.increment(1);
            return;
        }
        match self.target.handle_source(from) {
            SourceVerdict::Refused => {
                self.counters.dropped.increment(1);
                return;
            }
            SourceVerdict::Accepted => {}
            SourceVerdict::Latched(remote) => self.emit(MediaEvent::RemoteLatched(remote)),
        }
        self.counters.received.increment(1);
        if let Some(detector) = self.detector.as_mut() {
            detector.handle_packet(now_ms, &packet);
        }
        if packet.payload_type == self.audio_payload_type {
            for stream in &mut self.streams {
                stream.inbound(self.law, &packet.payload);
            }
        }
        self.drain_digits();
        if let Some(receive) = self.receive.as_mut() {
            receive.handle_packet(now_ms, &packet);
            self.drain_playout(now_ms);
        }
    }

    fn drain_digits(&mut self) {
        let Some(detector) = self.detector.as_mut() else {
            return;
        };
        while let Some(detected) = detector.poll_digit() {
            let _ = self.events.send(MediaEvent::Digit(detected.digit));
        }
    }

    fn drain_playout(&mut self, now_ms: u64) {
        let Some(receive) = self.receive.as_mut() else {
            return;
        };
        while let Some(playout) = receive.poll_playout() {
            match playout {
                Playout::Audio { payload, .. } => {
                    if self.recorder.is_some()
                        || self.speech.is_some()
                        || self.machine.is_some()
                        || !self.call_recorders.is_empty()
                    {
                        self.decoded.clear();
                        self.law.decode_into(&payload, &mut self.decoded);
                    }
                    if let Some(recorder) = self.recorder.as_mut() {
                        recorder.push_samples(now_ms, &self.decoded);
                    }
                    if let Some(started) = self
                        .speech
                        .as_mut()
                        .and_then(|speech| speech.push_samples(now_ms, &self.decoded))
                    {
                        let _ = self.events.send(started);
                    }
                    if let Some(machine) = self.machine.as_mut()
                        && let Some(verdict) = machine.push_samples(&self.decoded)
                    {
                        self.machine = None;
                        let _ = self.events.send(MediaEvent::MachineDetected(verdict));
                    }
                    for recorder in &mut self.call_recorders {
                        recorder.push_inbound(&self.decoded);
                    }
                    if let Some(bridge) = &self.bridge
                        && !self.muted
                        && let Some(peer) = bridge.peer.upgrade()
                    {
                        let _ = peer.send(Command::BridgedAudio {
                            from_session: self.session,
                            law: self.law,
                            payload,
                        });
                    }
                }
                Playout::Gap { samples } => {
                    if let Some(recorder) = self.recorder.as_mut() {
                        recorder.push_silence(now_ms, samples as usize);
                    }
                    if let Some(speech) = self.speech.as_mut() {
                        speech.push_silence(now_ms, samples as usize);
                    }
                    if let Some(machine) = self.machine.as_mut() {
                        let silence = vec![0i16; samples as usize];
                        if let Some(verdict) = machine.push_samples(&silence) {
                            self.machine = None;
                            let _ = self.events.send(MediaEvent::MachineDetected(verdict));
                        }
                    }
                    for recorder in &mut self.call_recorders {
                        recorder.push_inbound_silence(samples as usize);
                    }
                }
            }
        }
    }

    fn finish(&mut self, now_ms: u64) {
        self.end_recording(now_ms, RecordEnd::Stopped);
        self.unbridge();
        if let Some(receive) = self.receive.take() {
            self.counters.lost.increment(receive.stats().lost);
        }
    }
}
