//! The accept path of an inbound INVITE: the provisioned number it is for and that number's
//! account, the offer negotiated and an RTP port bound for the answer, then `180 Ringing` and
//! the leg's driver. Each refusal is a SIP status (404 no such number, 403 account not
//! active, 488 no usable audio or an SDP address that does not parse, 503 no RTP port or no
//! telephony, 500 an engine failure).

use std::sync::Arc;

use switchboard_core::{Sid, SidKind};
use switchboard_flow::{CallSetup, Direction};
use switchboard_media::session::RtpSocket;
use switchboard_sip::{Negotiated, SessionDescription, build_answer, negotiate};
use switchboard_sip_ua::{CallEvent, IncomingCall};

use crate::Engine;
use crate::account;
use crate::voice::driver::FarEnd;
use crate::voice::live::CallInput;
use crate::voice::sip::leg::{SipLeg, local_media, media_target, rtp_config};
use crate::voice::sip::refusals::{self, Refused};
use crate::voice::sip::{SipInput, Telephony, forward};
use crate::voice::start::{self, LegStart};
use tokio::sync::mpsc::Sender;

/// Accepts inbound calls from the endpoint until it closes or the engine shuts down (the
/// endpoint then answers new INVITEs itself until it is shut down).
/// Refusals, the endpoint's and this path's, become alerts (`refusals.rs`).
pub(crate) fn serve_incoming(
    state: Engine,
    mut incoming: tokio::sync::mpsc::Receiver<IncomingCall>,
) {
    let (refused, refusals) = tokio::sync::mpsc::channel(refusals::QUEUE);
    let endpoint_refusals = state
        .telephony
        .as_ref()
        .and_then(|telephony| telephony.endpoint.take_refusals());
    refusals::serve(state.clone(), refusals, endpoint_refusals);
    let engine = state.clone();
    engine.spawn(async move {
        loop {
            let call = tokio::select! {
                call = incoming.recv() => call,
                () = state.closed() => None,
            };
            let Some(call) = call else { return };
            let task_state = state.clone();
            let refused = refused.clone();
            state.spawn(async move { accept(&task_state, call, &refused).await });
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

async fn accept(state: &Engine, call: IncomingCall, refused: &Sender<Refused>) {
    // Refuses the INVITE and reports it for an alert (dropped when a flood fills the queue).
    let refuse = |status: u16, account_sid: Option<String>, why: &'static str| {
        call.handle.reject(status);
        let report = Refused {
            status,
            source: call.source,
            to_user: call.to_user.clone(),
            call_id: call.call_id.clone(),
            account_sid,
            why,
        };
        if refused.try_send(report).is_err() {
            metrics::counter!("sip_refusal_reports_dropped_total").increment(1);
        }
    };
    let Some(telephony) = state.telephony.clone() else {
        return refuse(503, None, "telephony is not running");
    };
    let (number, account) = match callee(state, &call).await {
        Ok(found) => found,
        Err((status, account_sid, why)) => return refuse(status, account_sid, why),
    };
    let leg = match media_leg(&telephony, &call).await {
        Ok(leg) => leg,
        Err(status) => {
            let why = if status == 488 {
                "no audio stream it offered is usable (no PCMU or PCMA, or a c= address that is not an IP address)"
            } else {
                "no RTP port is free in --rtp-ports"
            };
            return refuse(status, Some(account.sid.clone()), why);
        }
    };
    let account_sid = account.sid.clone();
    let leg_start = match inbound_start(state, &call, &number, account).await {
        Ok(leg_start) => leg_start,
        Err(status) => {
            return refuse(
                status,
                Some(account_sid),
                "the number's handler could not be read",
            );
        }
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

/// Why an INVITE is refused: its status, the account it concerns (when a number was found)
/// and the reason in words.
type Refusal = (u16, Option<String>, &'static str);

/// The provisioned number the INVITE is for (404 otherwise) and its account (403 unless
/// active).
async fn callee(
    state: &Engine,
    call: &IncomingCall,
) -> Result<(switchboard_store::Record, account::Account), Refusal> {
    let to = number_of(&call.to_user);
    let number = match state.find_number(&to).await {
        Ok(Some(number)) => number,
        Ok(None) => return Err((404, None, "no number of this engine is called so")),
        Err(error) => {
            tracing::error!(?error, "looking up a SIP call's number failed");
            return Err((500, None, "the number could not be looked up"));
        }
    };
    let owner = Some(number.account_sid.clone());
    let account = match account::load(&*state.store, &number.account_sid).await {
        Ok(Some(account)) => account,
        Ok(None) => return Err((403, None, "the number's account does not exist")),
        Err(error) => {
            tracing::error!(?error, "loading a SIP call's account failed");
            return Err((500, owner, "the number's account could not be read"));
        }
    };
    // A suspended or closed account (or a subaccount of one) answers nothing. `403 Forbidden`
    // rather than `480 Temporarily Unavailable`: 480 says the callee is reachable but not now
    // and invites the caller's proxy to try again (or another route) shortly, while this is an
    // administrative refusal that lasts until the account's parent reactivates it; 403 (RFC
    // 3261 21.4.4, "the server understood the request, but is refusing to fulfill it"; the
    // request should not be repeated) says so, and it is what the engine already answers for
    // other refusals of policy (`--sip-trust`).
    match account::is_active(&*state.store, &account).await {
        Ok(true) => Ok((number, account)),
        Ok(false) => Err((403, owner, "the number's account is suspended or closed")),
        Err(error) => {
            tracing::error!(?error, "loading a SIP call's parent account failed");
            Err((500, owner, "the number's parent account could not be read"))
        }
    }
}

/// The offer negotiated (488 without a usable audio stream; a late offer, an INVITE without
/// SDP, is not supported) and an RTP port bound for the answer (503 when none is left).
async fn media_leg(telephony: &Arc<Telephony>, call: &IncomingCall) -> Result<SipLeg, u16> {
    let offer = call.offer.as_ref().ok_or(488u16)?;
    // A `c=` address that does not parse, like no common codec, is 488 (`NegotiationError`).
    let negotiated = negotiate(offer).map_err(|error| {
        tracing::info!(%error, source = %call.source, "an SDP offer refused");
        error.status()
    })?;
    let target = media_target(&negotiated, &telephony.media_trust).ok_or(488u16)?;
    let socket = RtpSocket::bind(&telephony.ports).await.map_err(|error| {
        tracing::error!(?error, "no RTP port left");
        503u16
    })?;
    let answer_sdp = answer_of(offer, &negotiated, telephony, socket.local_addr().port());
    Ok(SipLeg::inbound(
        telephony.clone(),
        call.handle.clone(),
        socket,
        rtp_config(&negotiated, target),
        answer_sdp,
    ))
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
    setup.sip_call_id = Some(call.call_id.clone());
    setup.application_sid = handler
        .application_sid
        .as_deref()
        .and_then(|sid| Sid::parse(SidKind::Application, sid));
    Ok(LegStart {
        account,
        setup,
        fallback: handler.fallback,
        breaker: handler.breaker,
        resilience: handler.resilience,
        status_callback: handler.status_callback,
        far_end: FarEnd::Caller,
        fast: false,
        time_limit_s: None,
        phone_number_sid: Some(number.sid.clone()),
        record: None,
        send_digits: None,
        drill: false,
        amd: None,
    })
}

/// Our SDP answer to `offer`, announcing the RTP port `rtp_port`.
fn answer_of(
    offer: &SessionDescription,
    negotiated: &Negotiated,
    telephony: &Telephony,
    rtp_port: u16,
) -> Vec<u8> {
    let local = local_media(telephony.media_ip, rtp_port);
    build_answer(offer, negotiated, &local).to_bytes()
}

/// What the inbound dialog reports, as the call's input (`None`: nothing the call hears).
fn signalling_input(event: CallEvent) -> Option<CallInput> {
    match event {
        CallEvent::Bye | CallEvent::Cancelled | CallEvent::AckTimeout => {
            Some(CallInput::Sip(Box::new(SipInput::RemoteEnded)))
        }
        CallEvent::Dtmf(key) => Some(CallInput::Digits(key.to_string())),
        CallEvent::MediaChanged(negotiated) => Some(CallInput::Sip(Box::new(
            SipInput::MediaChanged(Box::new(negotiated)),
        ))),
        CallEvent::SessionExpired => Some(CallInput::Sip(Box::new(SipInput::SessionExpired))),
        CallEvent::Acked | CallEvent::Ended => None,
    }
}
