//! Real calls: inbound SIP INVITEs become call legs, and a leg with a SIP far end performs its
//! media actions on RTP instead of the sandbox's media model.
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
//! - A `<Say>` or `<Play>` whose audio cannot be produced (the TTS program failed, the URL did
//!   not give decodable audio) records an ERROR alert and counts as played: the call goes on.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde_json::json;
use switchboard_core::{Sid, SidKind, error_code};
use switchboard_flow::{CallSetup, Direction, Input, Play, PlayMedia, Say};
use switchboard_media::fetch::AudioFetcher;
use switchboard_media::session::{
    MediaEvent, MediaHandle, PortPool, RecordOptions, RtpConfig, RtpSocket,
};
use switchboard_media::tts::Tts;
use switchboard_rtp::Law;
use switchboard_sip::{
    AudioCodec, LocalMedia, Negotiated, SessionDescription, build_answer, negotiate,
};
use switchboard_sip_ua::{
    CallEvent, ClientCall, IncomingCall, OutgoingEvent, OutgoingInvite, ServerCall, SipEndpoint,
};
use switchboard_twiml::Level;

use crate::Engine;
use crate::account;
use crate::voice::driver::{Driver, FarEnd};
use crate::voice::live::CallInput;
use crate::voice::perform::flow_alert;
use crate::voice::recording;
use crate::voice::start::{self, LegStart};

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
}

/// Our side of the dialog: the UAS of an inbound call or the UAC of an outbound one.
#[derive(Clone)]
enum Signalling {
    Server(ServerCall),
    Client(ClientCall),
}

/// The SIP side of one leg.
pub(crate) struct SipLeg {
    signalling: Signalling,
    /// Bound at accept (or before the INVITE), moved into the media task at answer.
    socket: Option<RtpSocket>,
    /// Known from the offer (inbound) or from the 200's answer (outbound).
    rtp: Option<RtpConfig>,
    answer_sdp: Vec<u8>,
    pub(crate) media: Option<MediaHandle>,
    /// The playback the flow waits for (`PlaybackFinished`).
    playing: Option<u64>,
    /// A `<Record>` in progress: its SID and status callback.
    recording: Option<(Sid, Option<switchboard_flow::Callback>)>,
    answered: bool,
    remote_gone: bool,
    /// The far end was told the call is over and the media stopped.
    finished: bool,
}

impl std::fmt::Debug for SipLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipLeg")
            .field("answered", &self.answered)
            .field("remote_gone", &self.remote_gone)
            .finish()
    }
}

/// Accepts inbound calls from the endpoint until it closes.
/// Accepts inbound calls from the endpoint until it closes or the engine shuts down (the
/// endpoint then answers new INVITEs itself until it is shut down).
pub(crate) fn serve_incoming(
    state: Engine,
    mut incoming: tokio::sync::mpsc::Receiver<IncomingCall>,
) {
    let engine = state.clone();
    engine.spawn(async move {
        loop {
            let call = tokio::select! {
                call = incoming.recv() => call,
                () = state.closed() => None,
            };
            let Some(call) = call else { return };
            let task_state = state.clone();
            state.spawn(async move { accept(&task_state, call).await });
        }
    });
}

/// A number as the webhooks show it: E.164 when the user part is digits, else as it came.
pub fn number_of(user: &str) -> String {
    let digits = user.strip_prefix('+').unwrap_or(user);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{digits}")
    } else {
        user.to_owned()
    }
}

async fn accept(state: &Engine, call: IncomingCall) {
    let Some(telephony) = state.telephony.clone() else {
        return call.handle.reject(503);
    };
    let (number, account) = match callee(state, &call).await {
        Ok(found) => found,
        Err(status) => return call.handle.reject(status),
    };
    let leg = match media_leg(&telephony, &call).await {
        Ok(leg) => leg,
        Err(status) => return call.handle.reject(status),
    };
    let leg_start = match inbound_start(state, &call, &number, account).await {
        Ok(leg_start) => leg_start,
        Err(status) => return call.handle.reject(status),
    };
    let call_sid = leg_start.setup.call_sid.as_str().to_owned();
    call.handle.ringing();
    match start::start_sip_leg(state, leg_start, leg).await {
        Ok(_) => forward(state, call_sid, call.events, signalling_input),
        Err(error) => {
            tracing::error!(?error, "starting a SIP call failed");
            call.handle.reject(500);
        }
    }
}

/// The provisioned number the INVITE is for (404 otherwise) and its account (403 unless
/// active).
async fn callee(
    state: &Engine,
    call: &IncomingCall,
) -> Result<(switchboard_store::Record, account::Account), u16> {
    let to = number_of(&call.to_user);
    let number = match state.find_number(&to).await {
        Ok(Some(number)) => number,
        Ok(None) => return Err(404),
        Err(error) => {
            tracing::error!(?error, "looking up a SIP call's number failed");
            return Err(500);
        }
    };
    match account::load(&*state.store, &number.account_sid).await {
        Ok(Some(account)) if account.status == "active" => Ok((number, account)),
        Ok(_) => Err(403),
        Err(error) => {
            tracing::error!(?error, "loading a SIP call's account failed");
            Err(500)
        }
    }
}

/// The offer negotiated (488 without a usable audio stream; a late offer, an INVITE without
/// SDP, is not supported) and an RTP port bound for the answer (503 when none is left).
async fn media_leg(telephony: &Telephony, call: &IncomingCall) -> Result<SipLeg, u16> {
    let offer = call.offer.as_ref().ok_or(488u16)?;
    let negotiated = negotiate(offer).map_err(|error| error.status())?;
    let remote = remote_addr(&negotiated, call.source).ok_or(488u16)?;
    let socket = RtpSocket::bind(&telephony.ports).await.map_err(|error| {
        tracing::error!(?error, "no RTP port left");
        503u16
    })?;
    let answer_sdp = answer_of(offer, &negotiated, telephony.media_ip, socket.local_addr());
    Ok(SipLeg {
        signalling: Signalling::Server(call.handle.clone()),
        socket: Some(socket),
        rtp: Some(rtp_config(&negotiated, remote)),
        answer_sdp,
        media: None,
        playing: None,
        recording: None,
        answered: false,
        remote_gone: false,
        finished: false,
    })
}

/// The inbound leg: From/To from the user parts, the number's (or its application's) URLs.
async fn inbound_start(
    state: &Engine,
    call: &IncomingCall,
    number: &switchboard_store::Record,
    account: account::Account,
) -> Result<LegStart, u16> {
    let handler = start::number_handler(state, &number.doc)
        .await
        .map_err(|error| {
            tracing::error!(?error, "a SIP call's number has no usable handler");
            500u16
        })?;
    let mut setup = CallSetup::new(
        Sid::generate(SidKind::Call),
        start::account_sid_of(&account),
        number_of(&call.from_user),
        number_of(&call.to_user),
        Direction::Inbound,
        start::initial_of(&handler),
    );
    setup.caller_name = call.from_display.clone();
    setup.application_sid = handler
        .application_sid
        .as_deref()
        .and_then(|sid| Sid::parse(SidKind::Application, sid));
    Ok(LegStart {
        account,
        setup,
        fallback: handler.fallback,
        status_callback: handler.status_callback,
        far_end: FarEnd::Caller,
        fast: false,
        time_limit_s: None,
        phone_number_sid: Some(number.sid.clone()),
        record: false,
        send_digits: None,
    })
}

/// Where to send RTP: the SDP's address, or the signalling source when the SDP says nothing
/// routable (symmetric RTP latches on the first packet anyway).
fn remote_addr(negotiated: &Negotiated, source: SocketAddr) -> Option<SocketAddr> {
    let ip = negotiated
        .remote_address
        .parse::<IpAddr>()
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(source.ip());
    (negotiated.remote_port != 0).then(|| SocketAddr::new(ip, negotiated.remote_port))
}

fn rtp_config(negotiated: &Negotiated, remote: SocketAddr) -> RtpConfig {
    RtpConfig {
        remote,
        law: match negotiated.codec {
            AudioCodec::Pcmu => Law::Mu,
            AudioCodec::Pcma => Law::A,
        },
        payload_type: negotiated.payload_type,
        telephone_event_payload_type: negotiated
            .telephone_event
            .as_ref()
            .map(|event| event.payload_type),
        symmetric: true,
    }
}

fn answer_of(
    offer: &SessionDescription,
    negotiated: &Negotiated,
    ip: IpAddr,
    rtp: SocketAddr,
) -> Vec<u8> {
    let local = LocalMedia {
        session_id: rand::random::<u32>().into(),
        session_version: 1,
        address_type: if ip.is_ipv6() { "IP6" } else { "IP4" }.to_owned(),
        address: ip.to_string(),
        rtp_port: rtp.port(),
    };
    build_answer(offer, negotiated, &local).to_bytes()
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

fn signalling_input(event: CallEvent) -> Option<CallInput> {
    match event {
        CallEvent::Bye | CallEvent::Cancelled | CallEvent::AckTimeout => {
            Some(CallInput::Sip(Box::new(SipInput::RemoteEnded)))
        }
        CallEvent::Dtmf(key) => Some(CallInput::Digits(key.to_string())),
        CallEvent::Acked | CallEvent::Ended => None,
    }
}

fn media_input(event: MediaEvent) -> Option<CallInput> {
    Some(match event {
        MediaEvent::Digit(key) => CallInput::Digits(key.to_string()),
        other => CallInput::Sip(Box::new(SipInput::Media(other))),
    })
}

fn outgoing_input(event: OutgoingEvent) -> Option<CallInput> {
    Some(match event {
        OutgoingEvent::Bye => CallInput::Sip(Box::new(SipInput::RemoteEnded)),
        OutgoingEvent::Dtmf(key) => CallInput::Digits(key.to_string()),
        OutgoingEvent::Ended | OutgoingEvent::Trying => return None,
        other => CallInput::Sip(Box::new(SipInput::Outgoing(Box::new(other)))),
    })
}

/// The SIP status a leg that never answered ends with.
fn unanswered_status(status: switchboard_flow::CallStatus) -> u16 {
    use switchboard_flow::CallStatus;
    match status {
        CallStatus::Busy => 486,
        CallStatus::NoAnswer => 603,
        CallStatus::Canceled => 487,
        _ => 480,
    }
}

impl Driver {
    fn telephony(&self) -> Option<Arc<Telephony>> {
        self.state.telephony.clone()
    }

    /// The flow answers: `200 OK` with our SDP, and RTP starts flowing.
    pub(crate) fn sip_answer(&mut self) {
        let call_sid = self.call_sid().to_owned();
        let Some(leg) = self.sip.as_mut() else {
            return;
        };
        if leg.answered || leg.remote_gone {
            return;
        }
        let Signalling::Server(server) = &leg.signalling else {
            return;
        };
        server.answer(leg.answer_sdp.clone());
        leg.answered = true;
        leg.start_media(&self.state, call_sid);
    }

    /// `<Say>`: the TTS program's audio (cached), played `loop_count` times.
    pub(crate) async fn sip_say(&mut self, say: &Say) {
        let Some(telephony) = self.telephony() else {
            return;
        };
        let voice = say.voice.as_deref().unwrap_or("woman");
        match telephony.tts.speak(&say.text, voice, &say.language).await {
            Ok(pcm) => self.sip_play_pcm(pcm, say.loop_count),
            Err(error) => {
                let message = format!("Text-to-speech failed for <Say>: {error}");
                self.media_failed(error_code::INTERNAL_FAILURE, message)
                    .await
            }
        }
    }

    /// `<Play>`: a URL's audio (fetched once, cached) or RFC 4733 digits.
    pub(crate) async fn sip_play(&mut self, play: &Play) {
        let Some(telephony) = self.telephony() else {
            return;
        };
        match &play.media {
            PlayMedia::Digits(digits) => {
                if let Some(media) = self.sip.as_ref().and_then(|leg| leg.media.clone()) {
                    let id = media.play_digits(digits);
                    self.set_playing(id);
                }
            }
            PlayMedia::Url(url) => match telephony.audio.fetch(url).await {
                Ok(pcm) => self.sip_play_pcm(pcm, play.loop_count),
                Err(error) => {
                    let message = format!("<Play> could not play {url}: {error}");
                    self.media_failed(error_code::HTTP_RETRIEVAL_FAILURE, message)
                        .await
                }
            },
        }
    }

    fn sip_play_pcm(&mut self, pcm: switchboard_media::Pcm, loops: u32) {
        if let Some(media) = self.sip.as_ref().and_then(|leg| leg.media.clone()) {
            let id = media.play(pcm, loops);
            self.set_playing(id);
        }
    }

    fn set_playing(&mut self, id: u64) {
        if let Some(leg) = self.sip.as_mut() {
            leg.playing = Some(id);
        }
    }

    /// Media that could not be produced: an ERROR alert, and it counts as played.
    async fn media_failed(&mut self, code: switchboard_core::ErrorCode, message: String) {
        let alert = switchboard_flow::Alert {
            code,
            level: Level::Error,
            message,
            url: None,
        };
        self.record_alert(&flow_alert(&alert)).await;
        self.feed(Input::PlaybackFinished);
    }

    pub(crate) fn sip_stop_media(&mut self) {
        if let Some(leg) = self.sip.as_mut() {
            leg.playing = None;
            if let Some(media) = &leg.media {
                media.stop_playback();
            }
        }
    }

    /// `<Record>`: the beep, then the caller's audio until silence, a key or `maxLength`.
    pub(crate) fn sip_record(&mut self, record: &switchboard_flow::Record) {
        let Some(leg) = self.sip.as_mut() else {
            return;
        };
        let Some(media) = leg.media.clone() else {
            return;
        };
        if record.play_beep {
            media.play_tone(1000, 500);
        }
        leg.recording = Some((
            Sid::generate(SidKind::Recording),
            record.recording_status_callback.clone(),
        ));
        media.start_recording(RecordOptions {
            silence_timeout_ms: (record.timeout_s > 0).then(|| u64::from(record.timeout_s) * 1000),
            max_ms: u64::from(record.max_length_s.max(1)) * 1000,
            trim_silence: record.trim == switchboard_twiml::keyword::Trim::TrimSilence,
        });
    }

    pub(crate) fn sip_stop_recording(&mut self) {
        if let Some(media) = self.sip.as_ref().and_then(|leg| leg.media.as_ref()) {
            media.stop_recording();
        }
    }

    /// What the SIP side or the media task reported.
    pub(crate) async fn on_sip_input(&mut self, input: SipInput) {
        match input {
            SipInput::RemoteEnded => {
                if let Some(leg) = self.sip.as_mut() {
                    leg.remote_gone = true;
                }
                self.feed(Input::CallerHungUp);
            }
            SipInput::Media(MediaEvent::PlaybackFinished(id)) => {
                let current = self.sip.as_ref().and_then(|leg| leg.playing);
                if current == Some(id) {
                    self.set_playing_none();
                    self.feed(Input::PlaybackFinished);
                }
            }
            SipInput::Media(MediaEvent::RecordingFinished { pcm, talked_ms, .. }) => {
                Box::pin(self.sip_recording_finished(pcm, talked_ms)).await;
            }
            SipInput::Outgoing(event) => self.on_outgoing(*event),
            SipInput::ChildAnswered(child) => {
                if let Some(own) = self.sip.as_ref().and_then(|leg| leg.media.as_ref()) {
                    own.stop_playback();
                    own.bridge(&child);
                }
                self.dial_child_connected();
            }
            SipInput::Media(MediaEvent::Digit(key)) => self.deliver_digits(key.to_string()),
            SipInput::Media(MediaEvent::RemoteLatched(_)) => {}
        }
    }

    fn set_playing_none(&mut self) {
        if let Some(leg) = self.sip.as_mut() {
            leg.playing = None;
        }
    }

    async fn sip_recording_finished(&mut self, pcm: Vec<i16>, talked_ms: u64) {
        let Some((sid, status_callback)) = self.sip.as_mut().and_then(|leg| leg.recording.take())
        else {
            return;
        };
        let total_ms = pcm.len() as u64 * 1000 / 8000;
        let duration_s = if talked_ms == 0 {
            0
        } else {
            u32::try_from(total_ms.div_ceil(1000)).unwrap_or(u32::MAX)
        };
        let url = recording::url(&self.state, &self.account.sid, sid.as_str());
        if duration_s > 0 {
            let call_sid = self.call_sid().to_owned();
            let new = recording::NewRecording {
                account_sid: &self.account.sid,
                call_sid: &call_sid,
                sid: sid.as_str(),
                duration_s,
                audio: recording::Audio {
                    lead_ms: 0,
                    tone_ms: total_ms,
                    total_ms,
                },
                pcm: Some(pcm),
                source: "RecordVerb",
            };
            if let Err(error) = recording::store(&self.state, new).await {
                tracing::error!(?error, "storing a recording failed");
            }
            if let Some(callback) = &status_callback {
                let target = self.alert_target();
                recording::status_callback(target, callback, sid.as_str(), &url, duration_s);
            }
        }
        self.feed(Input::RecordingFinished {
            recording_sid: sid,
            recording_url: url,
            duration_s,
            digits: String::new(),
        });
    }

    /// The leg reached its terminal status: BYE an answered call, refuse one that never
    /// answered (486 busy, 603 rejected), and stop the media.
    pub(crate) fn sip_finish(&mut self) {
        let status = self.call.status();
        let Some(leg) = self.sip.as_mut() else {
            return;
        };
        if leg.finished {
            return;
        }
        leg.finished = true;
        if !leg.remote_gone {
            match (&leg.signalling, leg.answered) {
                (Signalling::Server(server), true) => server.hangup(),
                (Signalling::Server(server), false) => server.reject(unanswered_status(status)),
                (Signalling::Client(client), true) => client.hangup(),
                (Signalling::Client(client), false) => client.cancel(),
            }
            leg.remote_gone = true;
        }
        if let Some(media) = leg.media.take() {
            media.close();
        }
        self.log.push("sip_end", json!({"answered": leg.answered}));
    }
}

impl SipLeg {
    /// RTP starts flowing (once): the socket moves into its media task.
    fn start_media(&mut self, state: &Engine, call_sid: String) {
        if let (Some(socket), Some(config)) = (self.socket.take(), self.rtp.clone()) {
            let (handle, events) = socket.start(config);
            forward(state, call_sid, events, media_input);
            self.media = Some(handle);
        }
    }
}

/// The call progress a final SIP failure means (issue 7: 486 busy, 408/480 no answer).
fn progress_of_failure(status: u16) -> switchboard_flow::Progress {
    use switchboard_flow::Progress;
    match status {
        486 | 600 => Progress::Busy,
        408 | 480 | 487 => Progress::NoAnswer,
        _ => Progress::Failed,
    }
}

impl Driver {
    /// An outbound leg to a SIP URI: binds its RTP port, sends the INVITE with our offer, and
    /// reports `initiated`; the rest of the progress arrives as `SipInput::Outgoing`.
    pub(crate) async fn start_sip_invite(
        &mut self,
        uri: String,
        auth: Option<(String, String)>,
        ring_timeout_s: u32,
    ) {
        use switchboard_flow::Progress;
        self.feed(Input::Progress(Progress::Initiated));
        let Some(telephony) = self.telephony() else {
            return self.feed(Input::Progress(Progress::Failed));
        };
        let socket = match RtpSocket::bind(&telephony.ports).await {
            Ok(socket) => socket,
            Err(error) => {
                tracing::error!(?error, "no RTP port for an outbound call");
                return self.feed(Input::Progress(Progress::Failed));
            }
        };
        let local = LocalMedia {
            session_id: rand::random::<u32>().into(),
            session_version: 1,
            address_type: if telephony.media_ip.is_ipv6() {
                "IP6"
            } else {
                "IP4"
            }
            .to_owned(),
            address: telephony.media_ip.to_string(),
            rtp_port: socket.local_addr().port(),
        };
        let offer =
            switchboard_sip::build_offer(&local, &[AudioCodec::Pcmu, AudioCodec::Pcma], Some(101));
        let setup = self.call.setup();
        let invite = OutgoingInvite {
            target: uri,
            from_user: setup.from.clone(),
            from_display: setup.caller_name.clone(),
            sdp_offer: offer.to_bytes(),
            auth,
            headers: Vec::new(),
            ring_timeout: std::time::Duration::from_secs(u64::from(ring_timeout_s.max(1))),
        };
        match telephony.endpoint.invite(invite).await {
            Ok(outgoing) => {
                forward(
                    &self.state,
                    self.call_sid().to_owned(),
                    outgoing.events,
                    outgoing_input,
                );
                self.sip = Some(SipLeg {
                    signalling: Signalling::Client(outgoing.handle),
                    socket: Some(socket),
                    rtp: None,
                    answer_sdp: Vec::new(),
                    media: None,
                    playing: None,
                    recording: None,
                    answered: false,
                    remote_gone: false,
                    finished: false,
                });
            }
            Err(error) => {
                tracing::warn!(?error, "an outbound INVITE could not be sent");
                self.feed(Input::Progress(Progress::Failed));
            }
        }
    }

    fn on_outgoing(&mut self, event: OutgoingEvent) {
        use switchboard_flow::Progress;
        let call_sid = self.call_sid().to_owned();
        let Some(leg) = self.sip.as_mut() else {
            return;
        };
        match event {
            OutgoingEvent::Ringing { .. } => self.feed(Input::Progress(Progress::Ringing)),
            OutgoingEvent::Answered { sdp } => {
                let negotiated = sdp.as_ref().map(|sdp| (negotiate(sdp), sdp));
                let config = match negotiated {
                    Some((Ok(negotiated), _)) => {
                        let fallback = SocketAddr::from(([127, 0, 0, 1], negotiated.remote_port));
                        remote_addr(&negotiated, fallback)
                            .map(|remote| rtp_config(&negotiated, remote))
                    }
                    _ => None,
                };
                leg.answered = true;
                match config {
                    Some(config) => {
                        leg.rtp = Some(config);
                        leg.start_media(&self.state, call_sid);
                        self.feed(Input::Progress(Progress::Answered));
                    }
                    None => {
                        // Answered with an SDP we cannot use: hang up, the call failed.
                        if let Signalling::Client(client) = &leg.signalling {
                            client.hangup();
                        }
                        leg.remote_gone = true;
                        self.feed(Input::Progress(Progress::Failed));
                    }
                }
            }
            OutgoingEvent::Failed { status } => {
                leg.remote_gone = true;
                self.feed(Input::Progress(progress_of_failure(status)));
            }
            OutgoingEvent::Trying
            | OutgoingEvent::Bye
            | OutgoingEvent::Dtmf(_)
            | OutgoingEvent::Ended => {}
        }
    }
}

/// US ringback (440 + 480 Hz, 2 s on, 4 s off), one cycle, made once.
fn ringback() -> switchboard_media::Pcm {
    static TONE: std::sync::OnceLock<switchboard_media::Pcm> = std::sync::OnceLock::new();
    TONE.get_or_init(|| {
        let on = 2 * 8000;
        (0..6 * 8000)
            .map(|index| {
                if index >= on {
                    return 0;
                }
                let t = f64::from(index) / 8000.0;
                let two_pi = 2.0 * std::f64::consts::PI;
                let sample = (two_pi * 440.0 * t).sin() + (two_pi * 480.0 * t).sin();
                (sample * 4000.0) as i16
            })
            .collect()
    })
    .clone()
}

impl Driver {
    /// The caller hears ringback while a dialled SIP leg rings.
    pub(crate) fn start_ringback(&mut self) {
        if let Some(media) = self.sip.as_ref().and_then(|leg| leg.media.as_ref()) {
            media.play(ringback(), 0);
        }
    }

    /// A dialled SIP leg's whisper ended: its parent bridges to this leg's media.
    pub(crate) fn sip_bridge_to_parent(&mut self) {
        let Some(parent) = self.call.setup().parent_call_sid.clone() else {
            return;
        };
        if let Some(media) = self.sip.as_ref().and_then(|leg| leg.media.clone()) {
            self.state.live.send(
                parent.as_str(),
                CallInput::Sip(Box::new(SipInput::ChildAnswered(media))),
            );
        }
    }

    /// The `<Dial>` ended: this leg's media is its own again.
    pub(crate) fn sip_unbridge(&mut self) {
        if let Some(media) = self.sip.as_ref().and_then(|leg| leg.media.as_ref()) {
            media.stop_playback();
            media.unbridge();
        }
    }
}
