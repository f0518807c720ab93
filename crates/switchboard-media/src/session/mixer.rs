//! A conference's mixing task: the bridge peer of every participant's RTP session.
//!
//! A session joined to a mixer (`MediaHandle::join_mixer`) is bridged to it exactly as to
//! another session: it relays what it receives (`BridgedAudio`, in its law) and plays what the
//! mixer relays back (its relay buffer absorbs jitter, as on a two-party bridge). Every 20 ms
//! the task runs the pure `switchboard_rtp::Mixer` (each participant hears the sum of the
//! others, clipped) and relays each participant its frame, in the law it sends. Choosing the
//! bridge path over a new one means hold, playback precedence (a prompt to one participant
//! plays over the mix), transcoding and leaving (`unbridge`) work as they do for `<Dial>`.
//!
//! The task holds only weak senders to the sessions, and the sessions only weak senders to it:
//! it ends when every `MixerHandle` is dropped (the conference ended).

use std::collections::HashMap;

use switchboard_rtp::{Law, Mixer};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{Command, MediaHandle, next_id};

/// A running mixer. Cheap to clone; dropping the last clone ends the task.
#[derive(Debug, Clone)]
pub struct MixerHandle {
    commands: mpsc::UnboundedSender<Command>,
    session: u64,
}

impl MixerHandle {
    /// Starts recording the conference: every 20 ms from now, everyone's audio mixed.
    pub fn start_recording(&self) {
        let _ = self
            .commands
            .send(Command::StartCallRecording { id: self.session });
    }

    /// Ends the recording; the receiver gets its samples (nothing if it never started).
    pub fn stop_recording(&self) -> tokio::sync::oneshot::Receiver<super::CallAudio> {
        let (reply, receiver) = tokio::sync::oneshot::channel();
        let _ = self.commands.send(Command::StopCallRecording {
            id: self.session,
            reply,
        });
        receiver
    }

    /// Starts a mixer task (inside a tokio runtime).
    pub fn start() -> MixerHandle {
        let (commands, receiver) = mpsc::unbounded_channel();
        let session = next_id();
        tokio::spawn(run(session, receiver));
        MixerHandle { commands, session }
    }
}

impl MediaHandle {
    /// Joins the conference `mixer` mixes: this session hears the others and is heard by them
    /// (a bridge to another session ends). `unbridge` leaves it.
    pub fn join_mixer(&self, mixer: &MixerHandle) {
        self.send(Command::Bridge {
            peer: mixer.commands.downgrade(),
            peer_session: mixer.session,
        });
        let _ = mixer.commands.send(Command::Bridge {
            peer: self.commands.downgrade(),
            peer_session: self.session,
        });
    }

    /// While muted, what this session receives is not relayed to its bridge or mixer.
    pub fn set_muted(&self, muted: bool) {
        self.send(Command::Mute(muted));
    }
}

async fn run(session: u64, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut mixer = Mixer::new();
    let mut peers: HashMap<u64, mpsc::WeakUnboundedSender<Command>> = HashMap::new();
    // The conference's recording: everyone's audio, one frame per tick while it runs.
    let mut recording: Option<Vec<i16>> = None;
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(20));
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                None | Some(Command::Close) => break,
                Some(Command::Bridge { peer, peer_session }) => {
                    mixer.add(peer_session, Law::Mu);
                    peers.insert(peer_session, peer);
                }
                Some(Command::PeerUnbridged { peer_session }) => {
                    mixer.remove(peer_session);
                    peers.remove(&peer_session);
                }
                Some(Command::BridgedAudio { from_session, law, payload }) => {
                    mixer.push_encoded(from_session, law, &payload);
                }
                Some(Command::StartCallRecording { .. }) => {
                    recording.get_or_insert_with(Vec::new);
                }
                Some(Command::StopCallRecording { reply, .. }) => {
                    let inbound = recording.take().unwrap_or_default();
                    let _ = reply.send(super::CallAudio { inbound, outbound: Vec::new() });
                }
                Some(_) => {}
            },
            _ = interval.tick() => {
                if mixer.len() < 2 {
                    if let Some(recording) = recording.as_mut() {
                        recording.extend_from_slice(&[0; switchboard_rtp::mix::FRAME]);
                    }
                    continue;
                }
                let mut gone = Vec::new();
                for (id, law, payload) in mixer.mix() {
                    match peers.get(&id).and_then(mpsc::WeakUnboundedSender::upgrade) {
                        Some(peer) => {
                            let _ = peer.send(Command::BridgedAudio { from_session: session, law, payload });
                        }
                        // The session ended without leaving.
                        None => gone.push(id),
                    }
                }
                for id in gone {
                    mixer.remove(id);
                    peers.remove(&id);
                }
                if let Some(recording) = recording.as_mut() {
                    recording.extend_from_slice(&mixer.last_frame());
                }
            }
        }
    }
}
