//! RTP sessions of real calls: a port pool, a bound socket whose port goes into the SDP, and one
//! media task per session that paces G.711 out every 20 ms, receives and decodes, detects
//! RFC 4733 digits, records, and bridges two sessions or joins a conference's mixer
//! (`mixer.rs`).
//!
//! The task owns the socket, the `RtpSender`, the `DtmfDetector` and (while recording or
//! bridging) a `ReceiveBuffer`; a [`MediaHandle`] talks to it over an unbounded command channel,
//! and it reports [`MediaEvent`]s on another. One `tokio::time::interval` per session with
//! `MissedTickBehavior::Skip` paces the slots (the sender skips missed slots the same way, so
//! the RTP timestamp keeps tracking real time). A shared timer wheel for all sessions was
//! considered and not built: tokio's timer already is one, and per-tick work here is one frame
//! of G.711 encoding and one `send_to` into a reused buffer.
//!
//! The task ends when `close` is called or every handle is dropped. Bridged sessions hold only
//! weak senders to each other, so a bridge never keeps a dropped session alive. A session must
//! be started inside a tokio runtime.

mod call_recorder;
mod mixer;
mod playback;
mod recorder;
mod speech;
mod stream_tap;
mod task;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use switchboard_rtp::{Law, MediaTarget};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::Pcm;
pub use call_recorder::{CallAudio, Pause};
pub use mixer::MixerHandle;
pub use recorder::{TALK_RMS_THRESHOLD, is_talk};
pub use stream_tap::{AttachedStream, StreamTap, TapFrame};

/// Ids of playback items and sessions, unique in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Hands out RTP ports from `--rtp-ports LOW-HIGH` (even ports, RTP only; no RTCP), skipping
/// ports in use. Ports are tried round-robin from after the last one handed out, so a port that
/// was just freed is not reused at once (late packets of the old call would land in the new one).
#[derive(Debug, Clone)]
pub struct PortPool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    ip: IpAddr,
    /// First even port of the range.
    first: u16,
    /// Number of even ports in the range.
    count: u32,
    /// Index (in even ports) where the next search starts.
    cursor: Mutex<u32>,
}

impl PortPool {
    /// A pool over the even ports of `low..=high` on `ip`; an empty range binds nothing.
    pub fn new(ip: IpAddr, low: u16, high: u16) -> PortPool {
        let first = low.saturating_add(low % 2);
        let count = if high >= first {
            u32::from(high - first) / 2 + 1
        } else {
            0
        };
        PortPool {
            inner: Arc::new(PoolInner {
                ip,
                first,
                count,
                cursor: Mutex::new(0),
            }),
        }
    }

    /// The next candidate ports, in search order.
    fn candidates(&self) -> impl Iterator<Item = (u32, u16)> + '_ {
        let start = match self.inner.cursor.lock() {
            Ok(cursor) => *cursor,
            Err(poisoned) => *poisoned.into_inner(),
        };
        let count = self.inner.count;
        (0..count).map(move |offset| {
            let index = (start + offset) % count;
            // index < count, so first + 2 * index <= high fits in u16.
            (index, self.inner.first + (2 * index) as u16)
        })
    }

    fn advance(&self, index: u32) {
        let next = (index + 1) % self.inner.count.max(1);
        match self.inner.cursor.lock() {
            Ok(mut cursor) => *cursor = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

/// Where and how a session sends.
#[derive(Debug, Clone)]
pub struct RtpConfig {
    /// Where RTP may go and whose packets are taken: the peer's SDP address when trusted,
    /// else the source of the first packet received (symmetric RTP; nothing is sent before it).
    pub target: MediaTarget,
    /// The negotiated codec.
    pub law: Law,
    /// Its payload type (0 or 8).
    pub payload_type: u8,
    /// The negotiated telephone-event payload type, if any.
    pub telephone_event_payload_type: Option<u8>,
}

/// A bound UDP socket from the pool, not yet sending.
#[derive(Debug)]
pub struct RtpSocket {
    socket: UdpSocket,
    local: SocketAddr,
}

impl RtpSocket {
    /// Binds the next free even port of the pool, so the SDP can carry the port first.
    pub async fn bind(pool: &PortPool) -> std::io::Result<RtpSocket> {
        for (index, port) in pool.candidates() {
            match UdpSocket::bind(SocketAddr::new(pool.inner.ip, port)).await {
                Ok(socket) => {
                    pool.advance(index);
                    let local = socket.local_addr()?;
                    return Ok(RtpSocket { socket, local });
                }
                Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(error) => return Err(error),
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free RTP port in the pool",
        ))
    }

    /// The bound address (the port to put in the SDP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts the media task: sends RTP every 20 ms from now on (silence frames when nothing
    /// plays, so timestamps and sequence stay continuous; marker bit at the start of each
    /// talkspurt), receives and decodes. Must be called inside a tokio runtime.
    pub fn start(self, config: RtpConfig) -> (MediaHandle, mpsc::UnboundedReceiver<MediaEvent>) {
        let (commands, command_receiver) = mpsc::unbounded_channel();
        let (events, event_receiver) = mpsc::unbounded_channel();
        let session = next_id();
        tokio::spawn(task::run(
            self.socket,
            config,
            session,
            command_receiver,
            events,
        ));
        (MediaHandle { commands, session }, event_receiver)
    }
}

/// How the session listens for one utterance (a speech `<Gather>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeechOptions {
    /// The utterance ends after this long without talk (`speechTimeout`).
    pub end_silence_ms: u64,
    /// The longest utterance (`maxSpeechTime`), from its start.
    pub max_ms: u64,
    /// While the caller speaks, the audio so far every this often (`SpeechProgress`, for
    /// `partialResultCallback`); `None`: only the end.
    pub progress_every_ms: Option<u64>,
}

/// Options of one recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordOptions {
    /// End after this long without talk (from the last talking frame, or from the start if
    /// nobody talked); `None` never ends for silence.
    pub silence_timeout_ms: Option<u64>,
    /// End after this long, whatever happens.
    pub max_ms: u64,
    /// Cut leading and trailing silence (keeping 100 ms around the talk).
    pub trim_silence: bool,
}

/// What a session reports.
#[derive(Debug)]
pub enum MediaEvent {
    /// Everything of that playback id has been sent (after all its loops).
    PlaybackFinished(u64),
    /// An RFC 4733 key press, once per press.
    Digit(char),
    /// A recording ended. `pcm` is the captured audio (loss filled with silence; trimmed of
    /// leading and trailing silence when asked); `talked_ms` counts 20 ms frames above
    /// [`TALK_RMS_THRESHOLD`].
    RecordingFinished {
        /// The captured audio, 8 kHz.
        pcm: Vec<i16>,
        /// Milliseconds of frames that counted as talk.
        talked_ms: u64,
        /// Why it ended.
        reason: RecordEnd,
    },
    /// Symmetric RTP latched onto this address: the session sends there from now on.
    RemoteLatched(SocketAddr),
    /// The caller started speaking while the session listened for speech (voice activity).
    SpeechStarted,
    /// The utterance the session listened for ended (silence after it, or its length): its
    /// audio, 8 kHz, with 300 ms from before it started. Listening stops with it.
    SpeechCaptured { pcm: Vec<i16> },
    /// The utterance so far, while it goes on (`SpeechOptions::progress_every_ms`).
    SpeechProgress { pcm: Vec<i16> },
    /// Answering-machine detection (`MediaHandle::detect_machine`) decided, from the audio
    /// received since it started (loss counted as silence).
    MachineDetected(switchboard_amd::Verdict),
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEnd {
    /// The silence timeout passed.
    Silence,
    /// The maximum length was reached.
    MaxLength,
    /// `stop_recording` or `close` (or every handle dropped).
    Stopped,
}

/// What a handle (or a bridged peer) asks of the media task.
#[derive(Debug)]
pub(crate) enum Command {
    Play {
        id: u64,
        pcm: Pcm,
        loops: u32,
    },
    Digits {
        id: u64,
        digits: String,
    },
    Tone {
        id: u64,
        hz: u32,
        ms: u32,
    },
    StopPlayback,
    StartRecording(RecordOptions),
    StopRecording,
    ListenForSpeech(SpeechOptions),
    StopListening,
    DetectMachine(Box<switchboard_amd::Detector>),
    StartCallRecording {
        id: u64,
    },
    PauseCallRecording {
        id: u64,
        pause: Option<Pause>,
    },
    StopCallRecording {
        id: u64,
        reply: tokio::sync::oneshot::Sender<CallAudio>,
    },
    Bridge {
        peer: mpsc::WeakUnboundedSender<Command>,
        peer_session: u64,
    },
    Unbridge,
    PeerUnbridged {
        peer_session: u64,
    },
    BridgedAudio {
        from_session: u64,
        law: Law,
        payload: Vec<u8>,
    },
    SetTarget(MediaTarget),
    /// A mid-call offer: codec, payload types and target as negotiated, and whether we send.
    Renegotiate {
        config: RtpConfig,
        sending: bool,
    },
    /// Stop (or resume) relaying received audio to the bridge or mixer.
    Mute(bool),
    AttachStream {
        id: u64,
        tap: StreamTap,
    },
    DetachStream {
        id: u64,
    },
    StreamAudio {
        id: u64,
        mulaw: Vec<u8>,
    },
    StreamMark {
        id: u64,
        name: String,
    },
    StreamClear {
        id: u64,
    },
    Close,
}

/// Controls one session's media task. Cheap to clone; Send + Sync.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    commands: mpsc::UnboundedSender<Command>,
    session: u64,
}

/// Loops asked for by `loops == 0` (Twilio's "repeat until the call moves on").
pub const LOOP_FOREVER: u32 = 1_000;

impl MediaHandle {
    fn send(&self, command: Command) {
        // A closed session ignores commands; its end is already known from the event stream.
        let _ = self.commands.send(command);
    }

    /// Queues PCM after what plays; `loops` 0 means 1000. Returns the id `PlaybackFinished`
    /// reports.
    pub fn play(&self, pcm: Pcm, loops: u32) -> u64 {
        let id = next_id();
        let loops = if loops == 0 { LOOP_FOREVER } else { loops };
        self.send(Command::Play { id, pcm, loops });
        id
    }

    /// Queues RFC 4733 key presses after what plays (`w` is a 500 ms pause).
    pub fn play_digits(&self, digits: &str) -> u64 {
        let id = next_id();
        let digits = digits.to_owned();
        self.send(Command::Digits { id, digits });
        id
    }

    /// Queues a sine tone (the record beep; Twilio's is about 500 ms).
    pub fn play_tone(&self, hz: u32, ms: u32) -> u64 {
        let id = next_id();
        self.send(Command::Tone { id, hz, ms });
        id
    }

    /// Drops everything queued or playing; no `PlaybackFinished` for them.
    pub fn stop_playback(&self) {
        self.send(Command::StopPlayback);
    }

    /// Starts recording what the peer sends (a recording in progress ends as `Stopped`).
    pub fn start_recording(&self, options: RecordOptions) {
        self.send(Command::StartRecording(options));
    }

    /// Ends the recording now (`RecordingFinished` with `RecordEnd::Stopped`).
    pub fn stop_recording(&self) {
        self.send(Command::StopRecording);
    }

    /// Listens for one utterance of the peer (beside anything else): `SpeechStarted` when it
    /// starts, `SpeechCaptured` when it ends. Listening again replaces the listener.
    pub fn listen_for_speech(&self, options: SpeechOptions) {
        self.send(Command::ListenForSpeech(options));
    }

    /// Stops listening for speech; nothing more is reported of it.
    pub fn stop_listening(&self) {
        self.send(Command::StopListening);
    }

    /// Runs answering-machine detection over what the peer sends from now on, alongside
    /// anything else (a recording, a bridge); `MachineDetected` reports its verdict, once.
    pub fn detect_machine(&self, settings: switchboard_amd::Settings) {
        let detector = switchboard_amd::Detector::new(settings);
        self.send(Command::DetectMachine(Box::new(detector)));
    }

    /// Starts a recording of the whole call, both directions (beside any `<Record>`); the id
    /// names it in `pause_call_recording` and `stop_call_recording`.
    pub fn start_call_recording(&self) -> u64 {
        let id = next_id();
        self.send(Command::StartCallRecording { id });
        id
    }

    /// Pauses the call recording `id` (`Some`) or resumes it (`None`).
    pub fn pause_call_recording(&self, id: u64, pause: Option<Pause>) {
        self.send(Command::PauseCallRecording { id, pause });
    }

    /// Ends the call recording `id`; the receiver gets what it captured (nothing, once the
    /// session has closed: a recording still running then is dropped with it).
    pub fn stop_call_recording(&self, id: u64) -> tokio::sync::oneshot::Receiver<CallAudio> {
        let (reply, receiver) = tokio::sync::oneshot::channel();
        self.send(Command::StopCallRecording { id, reply });
        receiver
    }

    /// Relays audio both ways: what each session receives goes out on the other, transcoded if
    /// the laws differ. Local playback on a session takes precedence over the relayed audio.
    /// DTMF is still reported on each side's own event stream and is not relayed.
    pub fn bridge(&self, other: &MediaHandle) {
        if other.session == self.session {
            return;
        }
        self.send(Command::Bridge {
            peer: other.commands.downgrade(),
            peer_session: other.session,
        });
        other.send(Command::Bridge {
            peer: self.commands.downgrade(),
            peer_session: self.session,
        });
    }

    /// Ends the bridge of this session (both directions).
    pub fn unbridge(&self) {
        self.send(Command::Unbridge);
    }

    /// Sends by a new target (a re-INVITE moved the media; the caller applies the trust rule
    /// to the new SDP address, as for the first).
    pub fn set_target(&self, target: MediaTarget) {
        self.send(Command::SetTarget(target));
    }

    /// Follows a mid-call offer (re-INVITE/UPDATE): the codec and payload types change from the
    /// next frame, the target by `MediaTarget::retarget` (a latch is never moved to an
    /// untrusted address), and `sending: false` (hold) keeps pacing without sending until a
    /// later offer resumes.
    pub fn renegotiate(&self, config: RtpConfig, sending: bool) {
        self.send(Command::Renegotiate { config, sending });
    }

    /// Attaches a media stream: the caller's audio (and what the caller hears, as `tap` asks)
    /// goes to its frame channel from now on. Returns the id the other stream methods take.
    pub fn attach_stream(&self, tap: StreamTap) -> u64 {
        let id = next_id();
        self.send(Command::AttachStream { id, tap });
        id
    }

    /// Detaches stream `id`; its queued audio is dropped (its marks are not echoed).
    pub fn detach_stream(&self, id: u64) {
        self.send(Command::DetachStream { id });
    }

    /// Queues µ-law audio from stream `id`'s application, after what it queued before. The
    /// caller bounds what is queued (`StreamTap::queued`).
    pub fn stream_audio(&self, id: u64, mulaw: Vec<u8>) {
        self.send(Command::StreamAudio { id, mulaw });
    }

    /// Queues a mark: echoed on the stream's mark channel once the audio before it was sent.
    pub fn stream_mark(&self, id: u64, name: String) {
        self.send(Command::StreamMark { id, name });
    }

    /// Drops stream `id`'s queued audio and echoes its pending marks at once.
    pub fn stream_clear(&self, id: u64) {
        self.send(Command::StreamClear { id });
    }

    /// Stops sending and frees the port (a recording in progress ends as `Stopped`).
    pub fn close(&self) {
        self.send(Command::Close);
    }

    /// True once the media task has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}
