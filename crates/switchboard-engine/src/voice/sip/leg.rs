//! `SipLeg`, one leg's SIP dialog: our side of an inbound call (the UAS, answering when the flow
//! answers) or of an outbound one (the UAC: the INVITE with our offer, its progress as
//! `Input::Progress`), and how the leg ends: `BYE` once answered, otherwise the final response
//! of an inbound call (486 when busy, 603 for no answer, 487 when canceled, else 480) or
//! `CANCEL` of an outbound one. The SDP of either side becomes the leg's `RtpConfig`, whose
//! `MediaTarget` follows the trust rule (`media_target`); the media it then carries is
//! `media.rs`'s.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use switchboard_core::Sid;
use switchboard_flow::{CallSetup, CallStatus, Input, Progress};
use switchboard_media::session::{MediaHandle, RtpConfig, RtpSocket};
use switchboard_rtp::{Law, MediaTarget};
use switchboard_sip::{AudioCodec, LocalMedia, Negotiated, SessionDescription, negotiate};
use switchboard_sip_ua::{Cidr, ClientCall, OutgoingEvent, OutgoingInvite, ServerCall};

use crate::Engine;
use crate::voice::driver::Driver;
use crate::voice::live::CallInput;
use crate::voice::media::MediaEnd;
use crate::voice::sip::{SipInput, Telephony, forward};

/// Our side of the dialog: the UAS of an inbound call or the UAC of an outbound one.
#[derive(Clone)]
enum Signalling {
    Server(ServerCall),
    Client(ClientCall),
}

/// The SIP side of one leg.
pub(crate) struct SipLeg {
    /// Speech, audio and the RTP ports the leg's media uses.
    pub(super) telephony: Arc<Telephony>,
    signalling: Signalling,
    /// Bound at accept (or before the INVITE), moved into the media task at answer.
    pub(super) socket: Option<RtpSocket>,
    /// Known from the offer (inbound) or from the 200's answer (outbound).
    pub(super) rtp: Option<RtpConfig>,
    answer_sdp: Vec<u8>,
    pub(super) media: Option<MediaHandle>,
    /// The playback the flow waits for (`PlaybackFinished`).
    pub(super) playing: Option<u64>,
    /// A `<Record>` in progress: its SID and status callback.
    pub(super) recording: Option<(Sid, Option<switchboard_flow::Callback>)>,
    /// A speech `<Gather>` listening (`speech.rs`).
    pub(super) speech: Option<super::speech::SpeechGather>,
    answered: bool,
    remote_gone: bool,
    /// The far end was told the call is over and the media stopped.
    finished: bool,
    /// The final response of an INVITE we sent that failed (`OutgoingEvent::Failed`).
    failed_with: Option<u16>,
}

impl std::fmt::Debug for SipLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipLeg")
            .field("answered", &self.answered)
            .field("remote_gone", &self.remote_gone)
            .finish()
    }
}

impl SipLeg {
    /// An inbound call: the offer is known, `answer_sdp` waits for the flow's `Answer`.
    pub(super) fn inbound(
        telephony: Arc<Telephony>,
        server: ServerCall,
        socket: RtpSocket,
        rtp: RtpConfig,
        answer_sdp: Vec<u8>,
    ) -> SipLeg {
        let mut leg = SipLeg::new(telephony, Signalling::Server(server), socket);
        leg.rtp = Some(rtp);
        leg.answer_sdp = answer_sdp;
        leg
    }

    fn new(telephony: Arc<Telephony>, signalling: Signalling, socket: RtpSocket) -> SipLeg {
        SipLeg {
            telephony,
            signalling,
            socket: Some(socket),
            rtp: None,
            answer_sdp: Vec::new(),
            media: None,
            playing: None,
            recording: None,
            speech: None,
            answered: false,
            remote_gone: false,
            finished: false,
            failed_with: None,
        }
    }

    /// The flow answers: `200 OK` with our SDP, and RTP starts flowing.
    pub(crate) fn answer(&mut self, state: &Engine, call_sid: String) {
        if self.answered || self.remote_gone {
            return;
        }
        let Signalling::Server(server) = &self.signalling else {
            return;
        };
        server.answer(self.answer_sdp.clone());
        self.answered = true;
        self.start_media(state, call_sid);
    }

    /// The remote party ended the call: nothing is sent to it any more.
    pub(super) fn remote_ended(&mut self) {
        self.remote_gone = true;
    }

    /// The leg reached its terminal status: BYE an answered call, refuse one that never
    /// answered, and stop the media. Whether it had answered, when it ends now; `None` when it
    /// had ended already.
    pub(crate) fn hang_up(&mut self, status: CallStatus) -> Option<bool> {
        if self.finished {
            return None;
        }
        self.finished = true;
        if !self.remote_gone {
            match (&self.signalling, self.answered) {
                (Signalling::Server(server), true) => server.hangup(),
                (Signalling::Server(server), false) => server.reject(unanswered_status(status)),
                (Signalling::Client(client), true) => client.hangup(),
                (Signalling::Client(client), false) => client.cancel(),
            }
            self.remote_gone = true;
        }
        if let Some(media) = self.media.take() {
            media.close();
        }
        Some(self.answered)
    }

    /// The peer's new offer was answered: the media follows it. Our direction decides whether
    /// we send (`sendonly`/`inactive` offers and the old `c=0.0.0.0` hold stop our RTP until a
    /// resume); a new codec or address is taken, the new address under the same trust rule as
    /// the first (`media_target`).
    pub(crate) fn media_changed(&mut self, negotiated: &Negotiated) {
        use switchboard_sip::Direction;
        let sending = matches!(
            negotiated.direction,
            Direction::SendRecv | Direction::SendOnly
        ) && !negotiated.remote_address.is_unspecified()
            && negotiated.remote_port != 0;
        let target = media_target(negotiated, &self.telephony.media_trust);
        let config = match (target, &self.rtp) {
            (Some(target), _) => rtp_config(negotiated, target),
            // A held stream without an address: keep where we sent, silent.
            (None, Some(current)) => RtpConfig {
                target: current.target,
                ..rtp_config(negotiated, current.target)
            },
            (None, None) => return,
        };
        tracing::info!(
            direction = negotiated.direction.as_str(),
            sending,
            "mid-call offer applied"
        );
        if let Some(media) = &self.media {
            media.renegotiate(config.clone(), sending);
        }
        self.rtp = Some(config);
    }

    /// The leg's final SIP response as `SipResponseCode` reports it, for a leg ending with
    /// `status`: `200` once answered; the failure an INVITE we sent got; for an inbound call we
    /// never answered, the refusal it is sent (`486`, `603`, `487` for a caller's CANCEL, else
    /// `480`). `None` for an outbound leg with no final response.
    pub(crate) fn response_code(&self, status: CallStatus) -> Option<u16> {
        if self.answered {
            return Some(200);
        }
        match (&self.signalling, self.failed_with) {
            (_, Some(code)) => Some(code),
            (Signalling::Server(_), None) => Some(unanswered_status(status)),
            (Signalling::Client(_), None) => None,
        }
    }

    /// What an INVITE we sent reports: the progress the flow hears, if any.
    fn on_outgoing(
        &mut self,
        state: &Engine,
        call_sid: String,
        event: OutgoingEvent,
    ) -> Option<Progress> {
        match event {
            OutgoingEvent::Ringing { .. } => Some(Progress::Ringing),
            OutgoingEvent::Answered { sdp } => {
                self.answered = true;
                let trust = &self.telephony.media_trust;
                match sdp.as_ref().and_then(|sdp| answer_config(sdp, trust)) {
                    Some(config) => {
                        self.rtp = Some(config);
                        self.start_media(state, call_sid);
                        Some(Progress::Answered)
                    }
                    None => {
                        // Answered with an SDP we cannot use (no common codec, a `c=` address
                        // that does not parse): the endpoint ACKs the 200 and we BYE at once;
                        // the call failed.
                        if let Signalling::Client(client) = &self.signalling {
                            client.hangup();
                        }
                        self.remote_gone = true;
                        Some(Progress::Failed)
                    }
                }
            }
            OutgoingEvent::Failed { status } => {
                self.remote_gone = true;
                self.failed_with = Some(status);
                Some(progress_of_failure(status))
            }
            OutgoingEvent::Trying
            | OutgoingEvent::Bye
            | OutgoingEvent::Dtmf(_)
            | OutgoingEvent::MediaChanged(_)
            | OutgoingEvent::SessionExpired
            | OutgoingEvent::Ended => None,
        }
    }
}

impl Driver {
    /// An outbound leg to a SIP URI: binds its RTP port, sends the INVITE with our offer, and
    /// reports `initiated`; the rest of the progress arrives as `SipInput::Outgoing`. Once the
    /// INVITE is sent, the leg's media is this `SipLeg`.
    pub(crate) async fn start_sip_invite(
        &mut self,
        uri: String,
        auth: Option<(String, String)>,
        ring_timeout_s: u32,
    ) {
        self.feed(Input::Progress(Progress::Initiated));
        let Some(telephony) = self.state.telephony.clone() else {
            return self.feed(Input::Progress(Progress::Failed));
        };
        let socket = match RtpSocket::bind(&telephony.ports).await {
            Ok(socket) => socket,
            Err(error) => {
                tracing::error!(?error, "no RTP port for an outbound call");
                return self.feed(Input::Progress(Progress::Failed));
            }
        };
        let local = local_media(telephony.media_ip, socket.local_addr().port());
        let invite = invite_of(self.call.setup(), &local, uri, auth, ring_timeout_s);
        match telephony.endpoint.invite(invite).await {
            Ok(outgoing) => {
                let call_sid = self.call_sid().to_owned();
                forward(&self.state, call_sid, outgoing.events, outgoing_input);
                let client = Signalling::Client(outgoing.handle);
                self.media = MediaEnd::Sip(SipLeg::new(telephony, client, socket));
            }
            Err(error) => {
                tracing::warn!(?error, "an outbound INVITE could not be sent");
                self.feed(Input::Progress(Progress::Failed));
            }
        }
    }

    /// Progress of the INVITE this leg sent.
    pub(super) fn on_outgoing(&mut self, event: OutgoingEvent) {
        let call_sid = self.call_sid().to_owned();
        let MediaEnd::Sip(leg) = &mut self.media else {
            return;
        };
        if let Some(progress) = leg.on_outgoing(&self.state, call_sid, event) {
            self.feed(Input::Progress(progress));
        }
    }
}

/// The INVITE of an outbound leg: our offer (PCMU, PCMA, telephone-event 101) from the call's
/// caller, CANCELed after `ring_timeout_s` (at least 1 s).
fn invite_of(
    setup: &CallSetup,
    local: &LocalMedia,
    uri: String,
    auth: Option<(String, String)>,
    ring_timeout_s: u32,
) -> OutgoingInvite {
    let offer =
        switchboard_sip::build_offer(local, &[AudioCodec::Pcmu, AudioCodec::Pcma], Some(101));
    OutgoingInvite {
        target: uri,
        from_user: setup.from.clone(),
        from_display: setup.caller_name.clone(),
        sdp_offer: offer.to_bytes(),
        auth,
        headers: Vec::new(),
        ring_timeout: std::time::Duration::from_secs(u64::from(ring_timeout_s.max(1))),
    }
}

/// What an outbound dialog reports, as the call's input (`None`: nothing the call hears).
fn outgoing_input(event: OutgoingEvent) -> Option<CallInput> {
    Some(match event {
        OutgoingEvent::Bye => CallInput::Sip(Box::new(SipInput::RemoteEnded)),
        OutgoingEvent::Dtmf(key) => CallInput::Digits(key.to_string()),
        OutgoingEvent::MediaChanged(negotiated) => {
            CallInput::Sip(Box::new(SipInput::MediaChanged(Box::new(negotiated))))
        }
        OutgoingEvent::SessionExpired => CallInput::Sip(Box::new(SipInput::SessionExpired)),
        OutgoingEvent::Ended | OutgoingEvent::Trying => return None,
        other => CallInput::Sip(Box::new(SipInput::Outgoing(Box::new(other)))),
    })
}

/// Our media as SDP describes it: `ip` and the RTP port.
pub(super) fn local_media(ip: IpAddr, rtp_port: u16) -> LocalMedia {
    LocalMedia {
        session_id: rand::random::<u32>().into(),
        session_version: 1,
        address_type: if ip.is_ipv6() { "IP6" } else { "IP4" }.to_owned(),
        address: ip.to_string(),
        rtp_port,
    }
}

/// Where the RTP of an answered outbound leg goes, when its SDP answer is usable (a `c=`
/// address that does not parse, no common codec or a port 0 is not).
fn answer_config(sdp: &SessionDescription, trust: &[Cidr]) -> Option<RtpConfig> {
    let negotiated = negotiate(sdp)
        .inspect_err(|error| tracing::info!(%error, "an SDP answer we cannot use"))
        .ok()?;
    media_target(&negotiated, trust).map(|target| rtp_config(&negotiated, target))
}

/// Where RTP may go (product.md, "Limits and hostile clients", Media): the address the SDP
/// names when it lies inside `--sip-trust`, otherwise (an untrusted or unspecified address)
/// nowhere until the far end's RTP arrives, then that packet's source. `None`: the stream has
/// port 0 and carries nothing.
pub(super) fn media_target(negotiated: &Negotiated, trust: &[Cidr]) -> Option<MediaTarget> {
    if negotiated.remote_port == 0 {
        return None;
    }
    let named = SocketAddr::new(negotiated.remote_address, negotiated.remote_port);
    let trusted = trust.iter().any(|cidr| cidr.contains(named.ip()));
    Some(MediaTarget::for_sdp(named, trusted))
}

pub(super) fn rtp_config(negotiated: &Negotiated, target: MediaTarget) -> RtpConfig {
    RtpConfig {
        target,
        law: match negotiated.codec {
            AudioCodec::Pcmu => Law::Mu,
            AudioCodec::Pcma => Law::A,
        },
        payload_type: negotiated.payload_type,
        telephone_event_payload_type: negotiated
            .telephone_event
            .as_ref()
            .map(|event| event.payload_type),
    }
}

/// The call progress a final SIP failure means (issue 7: 486 busy, 408/480 no answer).
fn progress_of_failure(status: u16) -> Progress {
    match status {
        486 | 600 => Progress::Busy,
        408 | 480 | 487 => Progress::NoAnswer,
        _ => Progress::Failed,
    }
}

/// The SIP status a leg that never answered ends with.
fn unanswered_status(status: CallStatus) -> u16 {
    match status {
        CallStatus::Busy => 486,
        CallStatus::NoAnswer => 603,
        CallStatus::Canceled => 487,
        _ => 480,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiated(connection: &str, port: u16) -> Negotiated {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n{connection}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
        );
        let sdp = SessionDescription::parse(text.as_bytes()).expect("an SDP");
        negotiate(&sdp).expect("negotiable")
    }

    #[test]
    fn rtp_goes_to_the_sdp_address_only_inside_the_trust_list() {
        let trust: Vec<Cidr> = ["127.0.0.0/8", "::1/128", "10.1.0.0/16"]
            .iter()
            .map(|cidr| cidr.parse().expect("a CIDR"))
            .collect();
        let trusted = |addr: &str| MediaTarget::Trusted {
            remote: addr.parse().expect("an address"),
            source: None,
        };
        // (c= line, port, expected target)
        let cases = [
            ("c=IN IP4 127.0.0.1", 4000, Some(trusted("127.0.0.1:4000"))),
            ("c=IN IP4 10.1.2.3", 4000, Some(trusted("10.1.2.3:4000"))),
            ("c=IN IP6 ::1", 4000, Some(trusted("[::1]:4000"))),
            ("c=IN IP4 192.0.2.1", 4000, Some(MediaTarget::Latch)),
            ("c=IN IP4 10.2.0.1", 4000, Some(MediaTarget::Latch)),
            ("c=IN IP6 2001:db8::1", 4000, Some(MediaTarget::Latch)),
            ("c=IN IP4 0.0.0.0", 4000, Some(MediaTarget::Latch)),
        ];
        for (connection, port, expected) in cases {
            assert_eq!(
                media_target(&negotiated(connection, port), &trust),
                expected,
                "{connection}"
            );
        }
        // Nothing is trusted with an empty list.
        assert_eq!(
            media_target(&negotiated("c=IN IP4 127.0.0.1", 4000), &[]),
            Some(MediaTarget::Latch)
        );
    }

    #[test]
    fn an_answer_whose_address_does_not_parse_is_unusable() {
        let trust: Vec<Cidr> = vec!["127.0.0.0/8".parse().expect("a CIDR")];
        let answer = |connection: &str| {
            let text = format!(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n{connection}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
            );
            SessionDescription::parse(text.as_bytes()).expect("an SDP")
        };
        assert!(answer_config(&answer("c=IN IP6 2001:db8::zz"), &trust).is_none());
        assert!(answer_config(&answer("c=IN IP4 media.example.com"), &trust).is_none());
        let usable = answer_config(&answer("c=IN IP4 127.0.0.1"), &trust).expect("usable");
        assert_eq!(
            usable.target.destination(),
            Some("127.0.0.1:4000".parse().expect("an address"))
        );
    }
}
