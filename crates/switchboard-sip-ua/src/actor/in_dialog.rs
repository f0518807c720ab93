//! Requests inside a dialog, both directions: the peer's BYE, INFO (DTMF) and OPTIONS for
//! inbound and outbound calls alike, and our BYE through a non-INVITE client transaction.

use switchboard_sip::{
    DialogError, Method, NonInviteClientTransaction, Request, TransactionKey, parse_dtmf_relay,
};

use super::{Actor, CallId, CallState, ClientRequest, Side};
use crate::api::{CallEvent, OutgoingEvent};
use crate::transport::{Peer, random_token};

impl Actor {
    pub(super) fn on_in_dialog(&mut self, request: &Request, key: &TransactionKey, peer: Peer) {
        let Some(id) = self.find_dialog(request) else {
            let missing = self.response_for(request, 481, &random_token(), peer);
            self.respond_request(key, missing);
            return;
        };
        let checked = self
            .calls
            .get_mut(&id)
            .and_then(|call| call.dialog.as_mut())
            .map(|dialog| dialog.handle_request(request));
        if let Some(Err(DialogError::CseqOutOfOrder { .. })) = checked {
            let refused = self.response_for(request, 500, "", peer);
            self.respond_request(key, refused);
            return;
        }
        if request.method == Method::Update {
            return self.on_update(id, request, key, peer);
        }
        let status = match request.method {
            Method::Bye | Method::Info | Method::Options => 200,
            _ => 405,
        };
        let answer = self.response_for(request, status, "", peer);
        self.respond_request(key, answer);
        match request.method {
            Method::Bye => self.on_remote_bye(id),
            Method::Info => {
                let is_relay = request
                    .headers
                    .content_type()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/dtmf-relay"));
                if let Some(relay) = parse_dtmf_relay(&request.body).filter(|_| is_relay) {
                    self.emit_dtmf(id, relay.digit);
                }
            }
            _ => {}
        }
    }

    /// The peer's BYE (already answered `200`): report it and forget the call.
    pub(super) fn on_remote_bye(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let early_invite = match &call.side {
            Side::Inbound(leg) => {
                let _ = leg.events.send(CallEvent::Bye);
                (call.state == CallState::Early)
                    .then(|| (leg.invite_key.clone(), leg.to_tag.clone()))
            }
            Side::Outbound(leg) => {
                let _ = leg.events.send(OutgoingEvent::Bye);
                None
            }
        };
        let peer = call.peer;
        self.end_call(id);
        if let Some((key, tag)) = early_invite
            && let Some(invite) = self
                .server_invites
                .get(&key)
                .map(|e| e.tx.request().clone())
        {
            let terminated = self.response_for(&invite, 487, &tag, peer);
            self.respond_invite(&key, terminated);
        }
    }

    pub(super) fn emit_dtmf(&self, id: CallId, digit: char) {
        match self.calls.get(&id).map(|c| &c.side) {
            Some(Side::Inbound(leg)) => {
                let _ = leg.events.send(CallEvent::Dtmf(digit));
            }
            Some(Side::Outbound(leg)) => {
                let _ = leg.events.send(OutgoingEvent::Dtmf(digit));
            }
            None => {}
        }
    }

    pub(super) fn start_client_request(&mut self, request: Request, peer: Peer, call: CallId) {
        let Some(key) = TransactionKey::for_client_request(&request) else {
            return;
        };
        let tx =
            NonInviteClientTransaction::new(self.now(), request, peer.kind(), self.settings.timers);
        self.client_requests
            .insert(key.clone(), ClientRequest { tx, peer, call });
        self.drive_client_request(&key);
    }

    /// Drains the transaction's outputs, then records its next deadline.
    pub(super) fn drive_client_request(&mut self, key: &TransactionKey) {
        self.drive_client_request_outputs(key);
        self.reschedule(super::timers::TimerRef::ClientRequest(key.clone()));
    }

    fn drive_client_request_outputs(&mut self, key: &TransactionKey) {
        use switchboard_sip::NonInviteClientOutput as Out;
        loop {
            let Some(entry) = self.client_requests.get_mut(key) else {
                return;
            };
            let Some(output) = entry.tx.poll_output() else {
                return;
            };
            let (peer, call, method) = (entry.peer, entry.call, entry.tx.request().method.clone());
            match output {
                Out::Send(request) => {
                    if !self.send_bytes(peer, request.to_bytes()) {
                        self.client_requests.remove(key);
                        self.on_client_request_done(call, &method, None);
                        return;
                    }
                }
                Out::Response(response) if response.status >= 200 => {
                    self.on_client_request_done(call, &method, Some(response.status));
                }
                Out::Response(_) => {}
                Out::Timeout => self.on_client_request_done(call, &method, None),
                Out::Terminated => {
                    self.client_requests.remove(key);
                    return;
                }
            }
        }
    }

    /// Our BYE (or CANCEL) got its final response, timed out or could not be sent.
    pub(super) fn on_client_request_done(
        &mut self,
        call: CallId,
        method: &Method,
        status: Option<u16>,
    ) {
        if *method == Method::Update {
            return self.on_refresh_done(call, status);
        }
        if *method != Method::Bye {
            return;
        }
        let Some(ended) = self.calls.get(&call) else {
            return;
        };
        match &ended.side {
            Side::Inbound(leg) => {
                let _ = leg.events.send(CallEvent::Ended);
            }
            Side::Outbound(leg) if !leg.quiet => {
                let _ = leg.events.send(OutgoingEvent::Ended);
            }
            Side::Outbound(_) => {}
        }
        self.end_call(call);
    }

    /// Sends BYE in the call's dialog.
    pub(super) fn send_bye(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let destination = self.request_destination(call);
        let via = self.new_via(destination);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(dialog) = call.dialog.as_mut() else {
            return;
        };
        let mut bye = dialog.build_request(Method::Bye, &via);
        bye.headers.push("User-Agent", "switchboard");
        call.state = CallState::Ending;
        self.start_client_request(bye, destination, id);
    }
}
