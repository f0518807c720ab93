//! Real calls: inbound SIP INVITEs become call legs, and a leg whose far end is a SIP party
//! carries its audio on RTP, the `MediaEnd::Sip` implementation of the call's media interface
//! (`voice::media`).
//!
//! - `accept.rs`: the accept path of an inbound INVITE (the number and its account, the offer,
//!   an RTP port, `180 Ringing`, the leg's driver).
//! - `leg.rs`: `SipLeg`, one leg's SIP dialog: the answer, the outbound INVITE and its
//!   progress, and the end (`BYE`, `CANCEL` or the final response of an unanswered call).
//! - `media.rs`: what the leg's RTP session does for the call: say, play, record, ringback and
//!   bridging to another leg's session.
//! - `speech.rs`: a speech `<Gather>`: the session's voice activity, the recogniser off the
//!   call's tasks, barge-in.
//!
//! The driver stays the one place of a call's state. SIP signalling (`switchboard_sip_ua`) and
//! RTP media (`switchboard_media`) run on tasks of their own; what they report (a BYE, a
//! CANCEL, a key press, a prompt played out, a recording finished) is forwarded into the
//! call's inbox as a `CallInput`, so the driver's `select!` does not grow an arm per source.
//!
//! Choices:
//! - `180 Ringing` goes out as soon as the leg exists (the Voice URL is fetched with
//!   `CallStatus=ringing`); the `200 OK` with the SDP answer waits for the flow's `Answer`, so a
//!   leading `<Pause>` rings and `<Reject>` never answers (product.md, "SIP and media").
//! - The RTP socket is bound when the INVITE is accepted (its port is in the answer) but sends
//!   nothing until the answer.
//! - RTP goes to the address the far end's SDP names only when it is inside `--sip-trust`;
//!   otherwise the session sends nothing until the far end's RTP arrives, then answers its
//!   source (`leg::media_target`, `switchboard_rtp::MediaTarget`). An SDP whose `c=` address
//!   does not parse is refused: `488` for an inbound offer, a failed leg (ACK and BYE) for the
//!   answer to our INVITE.
//! - A `<Say>` or `<Play>` whose audio cannot be produced (the TTS program failed, the URL did
//!   not give decodable audio) records an ERROR alert and counts as played: the call goes on.

mod accept;
mod leg;
mod media;
mod refusals;
mod speech;

use std::net::IpAddr;

use switchboard_media::fetch::AudioFetcher;
use switchboard_media::session::{MediaEvent, MediaHandle, PortPool};
use switchboard_media::tts::Tts;
use switchboard_sip_ua::{Cidr, OutgoingEvent, SipEndpoint};

pub use accept::number_of;
pub(crate) use accept::serve_incoming;
pub(crate) use leg::SipLeg;

use crate::Engine;
use crate::voice::driver::Driver;
use crate::voice::live::CallInput;
use crate::voice::media::MediaEnd;

/// What real calls need: the SIP endpoint, the RTP ports, speech and audio.
pub struct Telephony {
    pub endpoint: SipEndpoint,
    pub ports: PortPool,
    pub tts: Tts,
    pub audio: AudioFetcher,
    /// The address RTP is sent from and announced in SDP.
    pub media_ip: IpAddr,
    /// `--sip-gateway`: where calls to E.164 numbers go, as `sip:host[:port]`.
    pub gateway: Option<String>,
    /// `--sip-trust`: an SDP address inside these networks gets our RTP as named; any other
    /// gets it only once the far end's RTP arrives from it (symmetric RTP, `leg::media_target`).
    pub media_trust: Vec<Cidr>,
    /// `--asr`: the speech recogniser (`None`: off).
    pub asr: Option<std::sync::Arc<switchboard_media::asr::Recogniser>>,
}

impl Telephony {
    /// The SIP URI an outbound call to `to` is sent to: `to` itself when it is a `sip:` URI,
    /// `sip:NUMBER@gateway` for a number when a gateway is set, else `None` (a sandbox handset).
    pub fn route(&self, to: &str) -> Option<String> {
        if to.starts_with("sip:") {
            return Some(to.to_owned());
        }
        let host = self.gateway.as_deref()?.strip_prefix("sip:")?;
        Some(format!("sip:{to}@{host}"))
    }
}

impl std::fmt::Debug for Telephony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telephony")
            .field("sip", &self.endpoint.local_addr())
            .field("media_ip", &self.media_ip)
            .finish()
    }
}

/// What SIP signalling or RTP media reported to a call.
#[derive(Debug)]
pub enum SipInput {
    /// The remote party ended the call (BYE, CANCEL, or no ACK for our answer).
    RemoteEnded,
    /// Progress of an INVITE this engine sent.
    Outgoing(Box<OutgoingEvent>),
    /// A dialled SIP leg answered (and ran its whisper): bridge to its media.
    ChildAnswered(MediaHandle),
    Media(MediaEvent),
    /// The peer's re-INVITE or UPDATE changed the media (answered already).
    MediaChanged(Box<switchboard_sip::Negotiated>),
    /// The peer stopped refreshing the session: our BYE is sent.
    SessionExpired,
    /// The recogniser's answer for a speech `<Gather>`'s utterance (`speech.rs`).
    Recognised {
        generation: u64,
        heard: Option<switchboard_media::asr::Heard>,
        audio_ms: u64,
        took_ms: u64,
    },
}

/// Forwards what a SIP or RTP task reports into the call's inbox (through `input`, which may
/// drop an event) until the call ends, the task's channel closes, or the engine is shutting
/// down with no call left to hear it.
fn forward<T: Send + 'static>(
    state: &Engine,
    call_sid: String,
    mut events: tokio::sync::mpsc::UnboundedReceiver<T>,
    input: fn(T) -> Option<CallInput>,
) {
    let engine = state.clone();
    state.spawn(async move {
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                () = engine.drained() => None,
            };
            let Some(event) = event else { return };
            if let Some(input) = input(event)
                && !engine.live.send(&call_sid, input)
            {
                return;
            }
        }
    });
}

impl Driver {
    /// What the SIP side or the media task reported.
    pub(crate) async fn on_sip_input(&mut self, input: SipInput) {
        match input {
            SipInput::RemoteEnded => {
                if let MediaEnd::Sip(leg) = &mut self.media {
                    leg.remote_ended();
                }
                self.feed(switchboard_flow::Input::CallerHungUp);
            }
            SipInput::Outgoing(event) => self.on_outgoing(*event),
            SipInput::ChildAnswered(child) => {
                self.media_bridge_to_child(&child);
                self.dial_child_connected();
            }
            SipInput::Media(event) => self.on_media_event(event).await,
            SipInput::MediaChanged(negotiated) => {
                if let MediaEnd::Sip(leg) = &mut self.media {
                    leg.media_changed(&negotiated);
                }
            }
            SipInput::SessionExpired => {
                let alert = crate::session::session_alert(
                    switchboard_webhook::Channel::Voice,
                    switchboard_core::error_code::SIP_SESSION_EXPIRED,
                    switchboard_webhook::AlertLevel::Error,
                    "the SIP session was not refreshed before its Session-Expires interval ran out; the engine sent BYE".to_owned(),
                    String::new(),
                );
                self.record_alert(&alert).await;
                if let MediaEnd::Sip(leg) = &mut self.media {
                    leg.remote_ended();
                }
                self.feed(switchboard_flow::Input::CallerHungUp);
            }
            SipInput::Recognised {
                generation,
                heard,
                audio_ms,
                took_ms,
            } => self.sip_speech_recognised(generation, heard, audio_ms, took_ms),
        }
    }
}
