//! The UAC side of the endpoint task: our INVITE through its client transaction, provisional
//! and final responses turned into `OutgoingEvent`s, the ACK for a 2xx built by the dialog,
//! CANCEL on ring timeout or `cancel()` (sent only once a provisional arrived, RFC 3261 §9.1),
//! and one digest retry per challenge (RFC 3261 §22.2).

use switchboard_sip::{
    Dialog, InviteClientOutput, InviteClientTransaction, Method, NameAddr, NewRequest, Params,
    Request, Response, SessionDescription, TransactionKey, cancel_for,
};
use tokio::sync::{mpsc, oneshot};

use super::{Actor, Call, CallId, CallState, ClientAction, ClientInvite, Destination, Side};
use crate::api::{ClientCall, OutgoingCall, OutgoingEvent, OutgoingInvite};
use crate::digest::Challenge;
use crate::error::SipUaError;
use crate::transport::{Peer, random_token, serve_connection};

/// How many challenges one call answers before giving up with the challenge's status.
const MAX_AUTH_RETRIES: usize = 2;

/// What an outbound call keeps besides its dialog.
pub(super) struct OutboundLeg {
    pub(super) events: mpsc::UnboundedSender<OutgoingEvent>,
    invite_key: TransactionKey,
    template: NewRequest,
    sdp_offer: Vec<u8>,
    extra_headers: Vec<(String, String)>,
    auth: Option<(String, String)>,
    answered_nonces: Vec<String>,
    deadline: Option<(u64, Deadline)>,
    /// The status to report once a CANCEL was asked for (408 ring timeout, 487 `cancel()`),
    /// and whether the CANCEL went out.
    cancel: Option<(u16, bool)>,
    ack: Option<Request>,
    /// After a Failed already reported (a 2xx that raced our CANCEL): end without `Ended`.
    pub(super) quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    /// Ring timeout: CANCEL.
    Ring,
    /// A CANCEL got no final response to the INVITE within 64·T1: give up (§9.1).
    GiveUp,
}

/// When an outbound call wants to be woken.
pub(super) fn call_deadline(call: &Call) -> Option<u64> {
    match &call.side {
        Side::Outbound(leg) => leg.deadline.map(|(at, _)| at),
        Side::Inbound(_) => None,
    }
}

fn sdp_of(response: &Response) -> Option<SessionDescription> {
    let is_sdp = response
        .headers
        .content_type()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"));
    (is_sdp && !response.body.is_empty())
        .then(|| SessionDescription::parse(&response.body).ok())
        .flatten()
}

impl Actor {
    pub(super) fn start_invite(
        &mut self,
        invite: OutgoingInvite,
        destination: Destination,
        reply: oneshot::Sender<Result<OutgoingCall, SipUaError>>,
    ) {
        if self.stopping.is_some() {
            let _ = reply.send(Err(SipUaError::Shutdown));
            return;
        }
        if self.calls.len() >= self.settings.max_calls {
            metrics::counter!("sip_calls_rejected_total", "reason" => "capacity").increment(1);
            let _ = reply.send(Err(SipUaError::AtCapacity(self.settings.max_calls)));
            return;
        }
        let (events, receiver) = mpsc::unbounded_channel();
        let call_id = format!("{}@{}", random_token(), self.settings.host);
        let peer = match destination {
            Destination::Udp(addr) => Peer::Udp(addr),
            Destination::Tcp(stream, addr) => {
                let conn = self
                    .shared
                    .conn_ids
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (writes, pending) = mpsc::unbounded_channel();
                self.conns.insert(conn, writes.clone());
                let inputs = self.shared.inputs.clone();
                self.tasks.spawn(serve_connection(
                    stream, conn, addr, inputs, writes, pending,
                ));
                Peer::Tcp { conn, addr }
            }
            Destination::Unreachable => {
                let _ = events.send(OutgoingEvent::Failed { status: 503 });
                let handle = ClientCall {
                    id: 0,
                    inputs: self.shared.inputs.clone(),
                };
                let _ = reply.send(Ok(OutgoingCall {
                    call_id,
                    handle,
                    events: receiver,
                }));
                return;
            }
        };
        let template = NewRequest {
            target: invite.target.clone(),
            from: NameAddr {
                display_name: invite.from_display.clone(),
                uri: format!("sip:{}@{}", invite.from_user, self.settings.host),
                params: Params::default(),
            },
            from_tag: random_token(),
            call_id: call_id.clone(),
            via: self.new_via(peer),
            contact: self.contact_uri(peer),
            sequence: 1,
            route: None,
        };
        let request = build_invite(&template, &invite.sdp_offer, &invite.headers, None);
        let Some(invite_key) = TransactionKey::for_client_request(&request) else {
            return; // unreachable: new_via always carries a branch
        };
        let ring_ms = u64::try_from(invite.ring_timeout.as_millis()).unwrap_or(u64::MAX);
        let offer_sdp = invite.sdp_offer.clone();
        let leg = OutboundLeg {
            events,
            invite_key: invite_key.clone(),
            template,
            sdp_offer: invite.sdp_offer,
            extra_headers: invite.headers,
            auth: invite.auth,
            answered_nonces: Vec::new(),
            deadline: Some((self.now().saturating_add(ring_ms), Deadline::Ring)),
            cancel: None,
            ack: None,
            quiet: false,
        };
        let id = self.add_call(Call {
            peer,
            dialog: None,
            state: CallState::Early,
            side: Side::Outbound(Box::new(leg)),
            mid: super::session::MidCall {
                local_sdp: switchboard_sip::SessionDescription::parse(&offer_sdp).ok(),
                ..Default::default()
            },
        });
        let handle = ClientCall {
            id,
            inputs: self.shared.inputs.clone(),
        };
        let _ = reply.send(Ok(OutgoingCall {
            call_id,
            handle,
            events: receiver,
        }));
        self.start_client_invite(request, peer, id);
    }

    fn start_client_invite(&mut self, request: Request, peer: Peer, call: CallId) {
        let Some(key) = TransactionKey::for_client_request(&request) else {
            return;
        };
        let tx =
            InviteClientTransaction::new(self.now(), request, peer.kind(), self.settings.timers);
        self.client_invites
            .insert(key.clone(), ClientInvite { tx, peer, call });
        self.drive_client_invite(&key);
    }

    /// Drains the transaction's outputs, then records its next deadline.
    pub(super) fn drive_client_invite(&mut self, key: &TransactionKey) {
        self.drive_client_invite_outputs(key);
        self.reschedule(super::timers::TimerRef::ClientInvite(key.clone()));
    }

    fn drive_client_invite_outputs(&mut self, key: &TransactionKey) {
        loop {
            let Some(entry) = self.client_invites.get_mut(key) else {
                return;
            };
            let Some(output) = entry.tx.poll_output() else {
                return;
            };
            let (peer, call) = (entry.peer, entry.call);
            match output {
                InviteClientOutput::Send(request) => {
                    if !self.send_bytes(peer, request.to_bytes()) {
                        self.fail_outbound(call, 503);
                    }
                }
                InviteClientOutput::Response(response) => {
                    self.on_invite_response(call, key, response);
                }
                InviteClientOutput::Timeout => self.fail_outbound(call, 408),
                InviteClientOutput::Terminated => {
                    self.client_invites.remove(key);
                    return;
                }
            }
        }
    }

    fn outbound_leg(&mut self, id: CallId) -> Option<&mut OutboundLeg> {
        match &mut self.calls.get_mut(&id)?.side {
            Side::Outbound(leg) => Some(leg),
            Side::Inbound(_) => None,
        }
    }

    /// Reports `Failed` (with the CANCEL's status if one was asked for) and forgets the call.
    fn fail_outbound(&mut self, id: CallId, status: u16) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Side::Outbound(leg) = &call.side else {
            return;
        };
        if call.state == CallState::Early {
            let status = leg
                .cancel
                .map_or(status, |(cancel_status, _)| cancel_status);
            let _ = leg.events.send(OutgoingEvent::Failed { status });
        } else if !leg.quiet {
            let _ = leg.events.send(OutgoingEvent::Ended);
        }
        self.end_call(id);
    }

    fn on_invite_response(&mut self, id: CallId, key: &TransactionKey, response: Response) {
        let status = response.status;
        let Some(leg) = self.outbound_leg(id) else {
            return;
        };
        if leg.invite_key != *key {
            return; // a late response to an INVITE superseded by its authenticated retry
        }
        match status {
            100 => {
                let _ = leg.events.send(OutgoingEvent::Trying);
                self.send_pending_cancel(id);
            }
            101..=199 => {
                let _ = leg.events.send(OutgoingEvent::Ringing {
                    sdp: sdp_of(&response),
                });
                self.send_pending_cancel(id);
            }
            200..=299 => self.on_invite_2xx(id, key, &response),
            401 | 407 if self.retry_with_auth(id, &response) => {}
            _ => self.fail_outbound(id, status),
        }
    }

    fn on_invite_2xx(&mut self, id: CallId, key: &TransactionKey, response: &Response) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.dialog.is_some() {
            // A retransmitted 2xx: our ACK was lost (RFC 3261 §13.2.2.4).
            if let Side::Outbound(leg) = &call.side
                && let Some(ack) = leg.ack.clone()
            {
                let destination = self.request_destination(call);
                self.send_bytes(destination, ack.to_bytes());
            }
            return;
        }
        let Some(invite) = self.client_invites.get(key).map(|e| e.tx.request().clone()) else {
            return;
        };
        let Ok(dialog) = Dialog::uac(&invite, response) else {
            tracing::warn!("2xx without a usable Contact or To tag");
            self.fail_outbound(id, 502);
            return;
        };
        let sequence = invite.headers.cseq().map_or(1, |c| c.sequence);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.dialog = Some(dialog);
        call.state = CallState::Answered;
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let destination = self.request_destination(call);
        let via = self.new_via(destination);
        let Some(ack) = call.dialog.as_ref().map(|d| d.build_ack(sequence, &via)) else {
            return;
        };
        self.send_bytes(destination, ack.to_bytes());
        let Some(leg) = self.outbound_leg(id) else {
            return;
        };
        leg.ack = Some(ack);
        leg.deadline = None;
        if let Some((status, _)) = leg.cancel {
            // The answer raced our CANCEL: the call is unwanted, so end it with BYE.
            leg.quiet = true;
            let _ = leg.events.send(OutgoingEvent::Failed { status });
            self.send_bye(id);
        } else {
            let _ = leg.events.send(OutgoingEvent::Answered {
                sdp: sdp_of(response),
            });
        }
    }

    /// Resends the INVITE with credentials for a 401/407; false when we cannot or did already.
    fn retry_with_auth(&mut self, id: CallId, challenge_response: &Response) -> bool {
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        let peer = call.peer;
        let via = self.new_via(peer);
        let Some(leg) = self.outbound_leg(id) else {
            return false;
        };
        let (Some((username, password)), None) = (leg.auth.clone(), leg.cancel) else {
            return false;
        };
        let (challenge_header, credentials_header) = match challenge_response.status {
            407 => ("Proxy-Authenticate", "Proxy-Authorization"),
            _ => ("WWW-Authenticate", "Authorization"),
        };
        let Some(challenge) = challenge_response
            .headers
            .get_all(challenge_header)
            .find_map(Challenge::parse)
        else {
            return false;
        };
        if leg.answered_nonces.contains(&challenge.nonce)
            || leg.answered_nonces.len() >= MAX_AUTH_RETRIES
        {
            return false;
        }
        leg.answered_nonces.push(challenge.nonce.clone());
        leg.template.sequence += 1;
        leg.template.via = via;
        let credentials = challenge.credentials(
            &username,
            &password,
            "INVITE",
            &leg.template.target,
            &random_token(),
        );
        let request = build_invite(
            &leg.template,
            &leg.sdp_offer,
            &leg.extra_headers,
            Some((credentials_header, credentials)),
        );
        let Some(key) = TransactionKey::for_client_request(&request) else {
            return false;
        };
        leg.invite_key = key;
        self.start_client_invite(request, peer, id);
        true
    }

    /// Asks for a CANCEL (sent now if a provisional arrived, else when one does).
    pub(super) fn cancel_outbound(&mut self, id: CallId, status: u16) {
        let early = self
            .calls
            .get(&id)
            .is_some_and(|c| c.state == CallState::Early);
        let Some(leg) = self.outbound_leg(id) else {
            return;
        };
        if !early || leg.cancel.is_some() {
            return;
        }
        leg.cancel = Some((status, false));
        leg.deadline = None;
        self.send_pending_cancel(id);
    }

    fn send_pending_cancel(&mut self, id: CallId) {
        let now = self.now();
        let give_up = now.saturating_add(self.settings.timers.transaction_timeout_ms());
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let peer = call.peer;
        let Side::Outbound(leg) = &call.side else {
            return;
        };
        let Some((status, false)) = leg.cancel else {
            return;
        };
        let Some(cancel) = self
            .client_invites
            .get(&leg.invite_key)
            .filter(|entry| entry.tx.can_cancel())
            .map(|entry| cancel_for(entry.tx.request()))
        else {
            return;
        };
        if let Some(leg) = self.outbound_leg(id) {
            leg.cancel = Some((status, true));
            leg.deadline = Some((give_up, Deadline::GiveUp));
        }
        self.start_client_request(cancel, peer, id);
    }

    pub(super) fn on_call_deadline(&mut self, id: CallId) {
        let Some(leg) = self.outbound_leg(id) else {
            return;
        };
        let Some((_, kind)) = leg.deadline.take() else {
            return;
        };
        match kind {
            Deadline::Ring => self.cancel_outbound(id, 408),
            Deadline::GiveUp => self.fail_outbound(id, 408),
        }
    }

    pub(super) fn on_client_action(&mut self, id: CallId, action: ClientAction) {
        let Some(state) = self.calls.get(&id).map(|c| c.state) else {
            return;
        };
        match (action, state) {
            (_, CallState::Early) => self.cancel_outbound(id, 487),
            (ClientAction::Hangup, CallState::Answered) => self.send_bye(id),
            _ => {}
        }
    }
}

fn build_invite(
    template: &NewRequest,
    sdp: &[u8],
    extra_headers: &[(String, String)],
    credentials: Option<(&str, String)>,
) -> Request {
    let body = (!sdp.is_empty()).then(|| ("application/sdp", sdp.to_vec()));
    let mut request = template.build(Method::Invite, body);
    request.headers.push("Allow", super::inbound::ALLOW);
    request.headers.push("User-Agent", "switchboard");
    if let Some((name, value)) = credentials {
        request.headers.push(name, value);
    }
    for (name, value) in extra_headers {
        request.headers.push(name.clone(), value.clone());
    }
    request
}
