//! The UAS side of the endpoint task: new INVITEs (trust, capacity, dialog, hand-over to the
//! TU), the TU's ringing/answer/reject/hangup, the ACK of our 2xx, CANCEL, and the requests
//! inside a dialog (BYE, INFO DTMF, OPTIONS) for both inbound and outbound calls.

use std::net::SocketAddr;

use switchboard_sip::header::split_list;
use switchboard_sip::{
    Dialog, Headers, InviteServerOutput, InviteServerState, InviteServerTransaction, Method,
    NonInviteServerOutput, NonInviteServerTransaction, Request, Response, SessionDescription,
    SipUri, TransactionKey, Via,
};
use tokio::sync::mpsc;

use super::{
    Actor, Call, CallId, CallState, ServerAction, ServerInvite, ServerRequest, Side, count_response,
};
use crate::api::{CallEvent, IncomingCall, ServerCall};
use crate::transport::{Peer, random_token};

/// The methods we answer, for `Allow`.
pub(super) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE";

/// What an inbound call keeps besides its dialog.
pub(super) struct InboundLeg {
    pub(super) invite_key: TransactionKey,
    pub(super) to_tag: String,
    pub(super) events: mpsc::UnboundedSender<CallEvent>,
    pub(super) acked: bool,
}

impl Actor {
    pub(super) fn on_request(&mut self, mut request: Request, peer: Peer) {
        stamp_via(&mut request, peer.addr());
        let Some(key) = TransactionKey::for_server(&request) else {
            tracing::debug!("request without a Via branch ignored");
            return;
        };
        let now = self.now();
        match request.method {
            Method::Ack => self.on_ack(&request, &key),
            Method::Invite => match self.server_invites.get_mut(&key) {
                Some(entry) => {
                    entry.tx.handle_request(now, &request);
                    self.drive_server_invite(&key);
                }
                None => self.on_new_invite(request, key, peer),
            },
            _ => match self.server_requests.get_mut(&key) {
                Some(entry) => {
                    entry.tx.handle_request(now, &request);
                    self.drive_server_request(&key);
                }
                None => self.on_new_request(request, key, peer),
            },
        }
    }

    fn on_new_invite(&mut self, request: Request, key: TransactionKey, peer: Peer) {
        let tx = InviteServerTransaction::new(request.clone(), peer.kind(), self.settings.timers);
        count_response(100);
        self.server_invites.insert(
            key.clone(),
            ServerInvite {
                tx,
                peer,
                call: None,
            },
        );
        if request.headers.to().is_some_and(|to| to.tag().is_some()) {
            self.on_reinvite(&request, &key, peer);
            self.drive_server_invite(&key);
            return;
        }
        if let Err(status) = self.admit_invite(&request, &key, peer) {
            let refusal = crate::api::Refusal {
                status,
                source: peer.addr(),
                to_user: user_of(&request.uri),
                call_id: request.headers.call_id().unwrap_or_default().to_owned(),
            };
            if self.shared.refusals.try_send(refusal).is_err() {
                metrics::counter!("sip_refusal_reports_dropped_total").increment(1);
            }
            let mut response = self.response_for(&request, status, &random_token(), peer);
            if status == 422 {
                let min_se = self
                    .settings
                    .min_se_s
                    .max(switchboard_sip::session_timer::MIN_SE_FLOOR_S);
                response.headers.push("Min-SE", min_se.to_string());
            }
            self.respond_invite(&key, response);
        }
        self.drive_server_invite(&key);
    }

    /// Checks an out-of-dialog INVITE and hands it to the TU, or says which status refuses it.
    fn admit_invite(
        &mut self,
        request: &Request,
        key: &TransactionKey,
        peer: Peer,
    ) -> Result<(), u16> {
        request.headers.to().ok_or(400u16)?;
        if !self
            .settings
            .trust
            .iter()
            .any(|cidr| cidr.contains(peer.addr().ip()))
        {
            return Err(403);
        }
        if self.stopping.is_some()
            || self
                .shared
                .draining
                .load(std::sync::atomic::Ordering::SeqCst)
            || self.calls.len() >= self.settings.max_calls
        {
            metrics::counter!("sip_calls_rejected_total", "reason" => "capacity").increment(1);
            return Err(503);
        }
        let offered_timer = self.initial_timer(request).map_err(|_| 422u16)?;
        let to_tag = random_token();
        let dialog = Dialog::uas(request, &to_tag).map_err(|_| 400u16)?;
        let offer = match request.body.is_empty() {
            true => None,
            false => Some(SessionDescription::parse(&request.body).map_err(|_| 400u16)?),
        };
        let from = request.headers.from().ok_or(400u16)?;
        let (events, receiver) = mpsc::unbounded_channel();
        let id = self.next_call;
        let incoming = IncomingCall {
            call_id: dialog.call_id.clone(),
            from_user: user_of(&from.uri),
            to_user: user_of(&request.uri),
            from_display: from.display_name.clone(),
            source: peer.addr(),
            offer,
            headers: request
                .headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
            handle: ServerCall {
                id,
                inputs: self.shared.inputs.clone(),
            },
            events: receiver,
        };
        if self.incoming.try_send(incoming).is_err() {
            metrics::counter!("sip_calls_rejected_total", "reason" => "unavailable").increment(1);
            return Err(503);
        }
        let leg = InboundLeg {
            invite_key: key.clone(),
            to_tag,
            events,
            acked: false,
        };
        let added = self.add_call(Call {
            peer,
            dialog: Some(dialog),
            state: CallState::Early,
            side: Side::Inbound(leg),
            mid: super::session::MidCall {
                offered_timer,
                ..Default::default()
            },
        });
        debug_assert_eq!(added, id);
        if let Some(entry) = self.server_invites.get_mut(key) {
            entry.call = Some(id);
        }
        Ok(())
    }

    /// A response to `request` with our tag, Contact on 18x/2xx and Allow on 2xx.
    pub(super) fn response_for(
        &self,
        request: &Request,
        status: u16,
        to_tag: &str,
        peer: Peer,
    ) -> Response {
        let mut response = request.response(status, to_tag);
        if (101..300).contains(&status) && request.method == Method::Invite {
            response
                .headers
                .push("Contact", format!("<{}>", self.contact_uri(peer)));
        }
        if (200..300).contains(&status) || status == 405 {
            response.headers.push("Allow", ALLOW);
        }
        response.headers.push("Server", "switchboard");
        response
    }

    pub(super) fn respond_invite(&mut self, key: &TransactionKey, response: Response) {
        let now = self.now();
        let status = response.status;
        if let Some(entry) = self.server_invites.get_mut(key)
            && entry.tx.respond(now, response)
        {
            count_response(status);
        }
        self.drive_server_invite(key);
    }

    /// Drains the transaction's outputs, then records its next deadline.
    pub(super) fn drive_server_invite(&mut self, key: &TransactionKey) {
        self.drive_server_invite_outputs(key);
        self.reschedule(super::timers::TimerRef::ServerInvite(key.clone()));
    }

    fn drive_server_invite_outputs(&mut self, key: &TransactionKey) {
        loop {
            let Some(entry) = self.server_invites.get_mut(key) else {
                return;
            };
            let Some(output) = entry.tx.poll_output() else {
                return;
            };
            let (peer, call) = (entry.peer, entry.call);
            match output {
                InviteServerOutput::Send(response) => self.send_response(&response, peer),
                InviteServerOutput::AckTimeout => {}
                InviteServerOutput::NoAckFor2xx => {
                    if let Some(id) = call {
                        self.on_no_ack(id);
                    }
                }
                InviteServerOutput::Terminated => {
                    self.server_invites.remove(key);
                    return;
                }
            }
        }
    }

    fn on_no_ack(&mut self, id: CallId) {
        let Some(Call {
            side: Side::Inbound(leg),
            state: CallState::Answered,
            ..
        }) = self.calls.get(&id)
        else {
            return;
        };
        if !leg.acked {
            let _ = leg.events.send(CallEvent::AckTimeout);
            self.send_bye(id);
        }
    }

    pub(super) fn on_server_action(&mut self, id: CallId, action: ServerAction) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Side::Inbound(leg) = &call.side else {
            return;
        };
        let (key, tag, state, peer) = (
            leg.invite_key.clone(),
            leg.to_tag.clone(),
            call.state,
            call.peer,
        );
        let Some(invite) = self
            .server_invites
            .get(&key)
            .map(|e| e.tx.request().clone())
        else {
            return;
        };
        match (action, state) {
            (ServerAction::Ringing, CallState::Early) => {
                let ringing = self.response_for(&invite, 180, &tag, peer);
                self.respond_invite(&key, ringing);
            }
            (ServerAction::Answer(sdp), CallState::Early) => {
                let mut ok = self.response_for(&invite, 200, &tag, peer);
                self.session_answered(id, &sdp, &mut ok);
                ok.headers.push("Content-Type", "application/sdp");
                ok.body = sdp;
                if let Some(call) = self.calls.get_mut(&id) {
                    call.state = CallState::Answered;
                }
                self.respond_invite(&key, ok);
            }
            (ServerAction::Reject(status), CallState::Early) => {
                let status = if (300..700).contains(&status) {
                    status
                } else {
                    500
                };
                let refusal = self.response_for(&invite, status, &tag, peer);
                self.end_call(id);
                self.respond_invite(&key, refusal);
            }
            (ServerAction::Hangup, CallState::Early) => {
                let refusal = self.response_for(&invite, 480, &tag, peer);
                self.end_call(id);
                self.respond_invite(&key, refusal);
            }
            (ServerAction::Hangup, CallState::Answered) => self.send_bye(id),
            _ => {}
        }
    }

    /// An ACK: for a non-2xx it belongs to the INVITE transaction; for our 2xx, to the dialog.
    fn on_ack(&mut self, ack: &Request, key: &TransactionKey) {
        let now = self.now();
        if let Some(entry) = self.server_invites.get_mut(key)
            && entry.tx.state() == InviteServerState::Completed
        {
            entry.tx.handle_request(now, ack);
            self.drive_server_invite(key);
            return;
        }
        let Some(id) = self.find_dialog(ack) else {
            return;
        };
        if self.on_reinvite_ack(id, ack) {
            return;
        }
        let Some(Call {
            side: Side::Inbound(leg),
            state: CallState::Answered,
            ..
        }) = self.calls.get_mut(&id)
        else {
            return;
        };
        if leg.acked {
            return;
        }
        leg.acked = true;
        let _ = leg.events.send(CallEvent::Acked);
        let invite_key = leg.invite_key.clone();
        if let Some(entry) = self.server_invites.get_mut(&invite_key) {
            entry.tx.handle_2xx_ack();
        }
        self.drive_server_invite(&invite_key);
    }

    pub(super) fn find_dialog(&self, request: &Request) -> Option<CallId> {
        self.calls
            .iter()
            .find(|(_, call)| {
                call.dialog
                    .as_ref()
                    .is_some_and(|d| d.matches_request(request))
            })
            .map(|(id, _)| *id)
    }

    fn on_new_request(&mut self, request: Request, key: TransactionKey, peer: Peer) {
        let tx =
            NonInviteServerTransaction::new(request.clone(), peer.kind(), self.settings.timers);
        self.server_requests
            .insert(key.clone(), ServerRequest { tx, peer });
        let in_dialog = request.headers.to().is_some_and(|to| to.tag().is_some());
        match request.method {
            Method::Cancel => self.on_cancel(&request, &key, peer),
            _ if in_dialog => self.on_in_dialog(&request, &key, peer),
            Method::Options => {
                let draining = self.stopping.is_some()
                    || self
                        .shared
                        .draining
                        .load(std::sync::atomic::Ordering::SeqCst);
                let code = if draining { 503 } else { 200 };
                let mut answer = self.response_for(&request, code, &random_token(), peer);
                answer.headers.push("Accept", "application/sdp");
                self.respond_request(&key, answer);
            }
            Method::Bye | Method::Info | Method::Prack | Method::Update => {
                let missing = self.response_for(&request, 481, &random_token(), peer);
                self.respond_request(&key, missing);
            }
            _ => {
                let refused = self.response_for(&request, 405, &random_token(), peer);
                self.respond_request(&key, refused);
            }
        }
    }

    /// CANCEL (RFC 3261 §9.2): `200` to it, then `487` to the INVITE if still unanswered.
    fn on_cancel(&mut self, cancel: &Request, key: &TransactionKey, peer: Peer) {
        let target = TransactionKey::cancel_target(cancel);
        let Some(entry) = target.as_ref().and_then(|t| self.server_invites.get(t)) else {
            let missing = self.response_for(cancel, 481, &random_token(), peer);
            self.respond_request(key, missing);
            return;
        };
        let pending = entry.tx.state() == InviteServerState::Proceeding;
        let (invite, call) = (entry.tx.request().clone(), entry.call);
        let tag = call
            .and_then(|id| match self.calls.get(&id).map(|c| &c.side) {
                Some(Side::Inbound(leg)) => Some(leg.to_tag.clone()),
                _ => None,
            })
            .unwrap_or_else(random_token);
        let ok = self.response_for(cancel, 200, &tag, peer);
        self.respond_request(key, ok);
        if !pending {
            return;
        }
        if let Some(id) = call {
            if let Some(Side::Inbound(leg)) = self.calls.get(&id).map(|c| &c.side) {
                let _ = leg.events.send(CallEvent::Cancelled);
            }
            self.end_call(id);
        }
        let terminated = self.response_for(&invite, 487, &tag, peer);
        if let Some(target) = target {
            self.respond_invite(&target, terminated);
        }
    }

    pub(super) fn respond_request(&mut self, key: &TransactionKey, response: Response) {
        let now = self.now();
        let status = response.status;
        if let Some(entry) = self.server_requests.get_mut(key)
            && entry.tx.respond(now, response)
        {
            count_response(status);
        }
        self.drive_server_request(key);
    }

    /// Drains the transaction's outputs, then records its next deadline.
    pub(super) fn drive_server_request(&mut self, key: &TransactionKey) {
        self.drive_server_request_outputs(key);
        self.reschedule(super::timers::TimerRef::ServerRequest(key.clone()));
    }

    fn drive_server_request_outputs(&mut self, key: &TransactionKey) {
        loop {
            let Some(entry) = self.server_requests.get_mut(key) else {
                return;
            };
            let Some(output) = entry.tx.poll_output() else {
                return;
            };
            let peer = entry.peer;
            match output {
                NonInviteServerOutput::Send(response) => self.send_response(&response, peer),
                NonInviteServerOutput::Terminated => {
                    self.server_requests.remove(key);
                    return;
                }
            }
        }
    }
}

/// The user part of a SIP URI, or empty.
fn user_of(uri: &str) -> String {
    SipUri::parse(uri).and_then(|u| u.user).unwrap_or_default()
}

/// Adds `received`/`rport` to the top Via when the source differs (RFC 3261 §18.2.1, RFC 3581).
fn stamp_via(request: &mut Request, source: SocketAddr) {
    let mut headers = Headers::new();
    let mut stamped = false;
    for header in request.headers.iter() {
        if stamped || header.name != "Via" {
            headers.push(header.name.clone(), header.value.clone());
            continue;
        }
        stamped = true;
        let mut vias = split_list(&header.value);
        if let Some(first) = vias.first_mut()
            && let Some(mut via) = Via::parse(first)
        {
            via.stamp_source(&source.ip().to_string(), source.port());
            *first = via.to_string();
        }
        headers.push("Via", vias.join(", "));
    }
    request.headers = headers;
}
