//! Mid-call SIP for inbound and outbound calls alike: re-INVITE and UPDATE with an SDP offer
//! (hold, resume, a new codec or address; RFC 3264), session refreshes without one, and RFC 4028
//! session timers as UAS (`422` below `--sip-min-se`, `Session-Expires` in the 2xx, the
//! session ended when the refresher stops refreshing, UPDATE sent when we are the refresher).
//!
//! What the peer's new offer means for the media goes to the call driver as
//! `CallEvent::MediaChanged`/`OutgoingEvent::MediaChanged` (the answer is already on its way;
//! the driver applies the media-address rule to the new address, as for the first); a session
//! that expired is `SessionExpired`, after our BYE was sent. An offer with no common codec is
//! `488` and the session keeps its media (RFC 3264 §8). The answer is built from the last
//! description we sent (`reanswer`), so a re-INVITE needs nothing from the driver.

use switchboard_sip::{
    Method, Negotiated, Request, Response, SessionDescription, SessionTimer, TransactionKey,
    UasTimer, reanswer, uas_timer,
};

use super::{Actor, CallId, CallState, Side};
use crate::api::{CallEvent, OutgoingEvent};
use crate::transport::Peer;

/// The mid-call state of one call.
#[derive(Debug, Default)]
pub(super) struct MidCall {
    /// The last description we sent (our answer, or our offer on outbound calls).
    pub(super) local_sdp: Option<SessionDescription>,
    /// The timer agreed in the INVITE, applied once the call is answered.
    pub(super) offered_timer: Option<SessionTimer>,
    /// The running session timer and when the session was last refreshed.
    pub(super) timer: Option<(SessionTimer, u64)>,
    /// Our UPDATE refresh is in flight.
    pub(super) refreshing: bool,
    /// The re-INVITE whose 2xx waits for its ACK.
    pub(super) reinvite: Option<TransactionKey>,
    /// We answered the INVITE (so "uas" refreshers mean us).
    pub(super) we_are_uas: bool,
}

impl MidCall {
    /// When the timer needs us next: our refresh, or the end of a session not refreshed.
    pub(super) fn deadline(&self) -> Option<u64> {
        let (timer, refreshed) = self.timer?;
        if self.refreshes(&timer) && !self.refreshing {
            Some(timer.refresh_at_ms(refreshed))
        } else {
            Some(timer.deadline_ms(refreshed))
        }
    }

    fn refreshes(&self, timer: &SessionTimer) -> bool {
        (timer.refresher == switchboard_sip::Refresher::Uas) == self.we_are_uas
    }
}

/// What an in-dialog offer or refresh comes to.
enum Outcome {
    /// `2xx` with this body (empty: no SDP) and this timer header.
    Accept {
        sdp: Option<Box<SessionDescription>>,
        changed: Option<Box<Negotiated>>,
        timer: Option<SessionTimer>,
    },
    /// A final refusal; `Min-SE` for `422`.
    Refuse { status: u16, min_se: Option<u32> },
}

impl Actor {
    /// The SDP and timer of an in-dialog INVITE or UPDATE of call `id`.
    fn mid_call_outcome(&mut self, id: CallId, request: &Request) -> Outcome {
        let Some(call) = self.calls.get(&id) else {
            return Outcome::Refuse {
                status: 481,
                min_se: None,
            };
        };
        let timer = match uas_timer(&request.headers, self.settings.min_se_s) {
            UasTimer::TooSmall(min_se) => {
                return Outcome::Refuse {
                    status: 422,
                    min_se: Some(min_se),
                };
            }
            UasTimer::Run(timer) => Some(timer),
            UasTimer::None => None,
        };
        let last = call.mid.local_sdp.clone();
        if request.body.is_empty() {
            // A refresh without an offer: a re-INVITE gets our last description as an offer
            // (its answer in the ACK changes nothing we send); an UPDATE gets no body.
            let sdp = (request.method == Method::Invite)
                .then_some(last)
                .flatten()
                .map(Box::new);
            return Outcome::Accept {
                sdp,
                changed: None,
                timer,
            };
        }
        let Ok(offer) = SessionDescription::parse(&request.body) else {
            return Outcome::Refuse {
                status: 400,
                min_se: None,
            };
        };
        let Some(last) = last else {
            return Outcome::Refuse {
                status: 488,
                min_se: None,
            };
        };
        match reanswer(&offer, &last) {
            Ok((answer, negotiated)) => Outcome::Accept {
                sdp: Some(Box::new(answer)),
                changed: Some(Box::new(negotiated)),
                timer,
            },
            Err(error) => {
                tracing::info!(%error, "an in-dialog offer refused");
                Outcome::Refuse {
                    status: error.status(),
                    min_se: None,
                }
            }
        }
    }

    /// The response to an in-dialog INVITE or UPDATE after `outcome`, and its effects.
    fn mid_call_response(
        &mut self,
        id: CallId,
        request: &Request,
        outcome: Outcome,
        peer: Peer,
    ) -> Response {
        let tag = self
            .calls
            .get(&id)
            .and_then(|c| c.dialog.as_ref())
            .map(|d| d.local_tag.clone())
            .unwrap_or_default();
        match outcome {
            Outcome::Refuse { status, min_se } => {
                let mut response = self.response_for(request, status, &tag, peer);
                if let Some(min_se) = min_se {
                    response.headers.push("Min-SE", min_se.to_string());
                }
                response
            }
            Outcome::Accept {
                sdp,
                changed,
                timer,
            } => {
                let now = self.now();
                let mut response = self.response_for(request, 200, &tag, peer);
                response.headers.push("Supported", "timer");
                if let Some(timer) = timer {
                    response
                        .headers
                        .push("Session-Expires", timer.header_value());
                    response.headers.push("Require", "timer");
                }
                if let Some(sdp) = &sdp {
                    response.headers.push("Content-Type", "application/sdp");
                    response.body = sdp.to_string().into_bytes();
                }
                if let Some(call) = self.calls.get_mut(&id) {
                    if let Some(sdp) = sdp {
                        call.mid.local_sdp = Some(*sdp);
                    }
                    call.mid.timer = timer.map(|t| (t, now));
                    call.mid.refreshing = false;
                    if let Some(negotiated) = changed {
                        match &call.side {
                            Side::Inbound(leg) => {
                                let _ = leg.events.send(CallEvent::MediaChanged(*negotiated));
                            }
                            Side::Outbound(leg) => {
                                let _ = leg.events.send(OutgoingEvent::MediaChanged(*negotiated));
                            }
                        }
                    }
                }
                self.reschedule_session(id);
                response
            }
        }
    }

    /// A re-INVITE (To tag present) on a new server transaction: answered here, and its 2xx
    /// retransmitted until its ACK.
    pub(super) fn on_reinvite(&mut self, request: &Request, key: &TransactionKey, peer: Peer) {
        let Some(id) = self.find_dialog(request) else {
            let missing = self.response_for(request, 481, &crate::transport::random_token(), peer);
            return self.respond_invite(key, missing);
        };
        let in_order = self
            .calls
            .get_mut(&id)
            .and_then(|call| call.dialog.as_mut())
            .map(|dialog| dialog.handle_request(request).is_ok());
        let answered = self
            .calls
            .get(&id)
            .is_some_and(|c| c.state == CallState::Answered);
        let pending = self.calls.get(&id).and_then(|c| c.mid.reinvite.clone());
        let outcome = if in_order != Some(true) {
            Outcome::Refuse {
                status: 500,
                min_se: None,
            }
        } else if !answered || pending.is_some() {
            // RFC 3261 §14.2: an offer while ours is pending (or before the first answer).
            Outcome::Refuse {
                status: 491,
                min_se: None,
            }
        } else {
            self.mid_call_outcome(id, request)
        };
        let response = self.mid_call_response(id, request, outcome, peer);
        if response.status == 200 {
            if let Some(entry) = self.server_invites.get_mut(key) {
                entry.call = Some(id);
            }
            if let Some(call) = self.calls.get_mut(&id) {
                call.mid.reinvite = Some(key.clone());
            }
        }
        self.respond_invite(key, response);
    }

    /// An UPDATE inside a dialog (RFC 3311), answered on its non-INVITE transaction.
    pub(super) fn on_update(
        &mut self,
        id: CallId,
        request: &Request,
        key: &TransactionKey,
        peer: Peer,
    ) {
        let outcome = self.mid_call_outcome(id, request);
        let response = self.mid_call_response(id, request, outcome, peer);
        self.respond_request(key, response);
    }

    /// The ACK of a re-INVITE's 2xx: its transaction stops retransmitting. True when `ack`
    /// was that ACK.
    pub(super) fn on_reinvite_ack(&mut self, id: CallId, ack: &Request) -> bool {
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        let Some(key) = call.mid.reinvite.clone() else {
            return false;
        };
        let cseq = ack.headers.cseq().map(|c| c.sequence);
        let invite_cseq = self
            .server_invites
            .get(&key)
            .and_then(|e| e.tx.request().headers.cseq())
            .map(|c| c.sequence);
        if cseq.is_none() || cseq != invite_cseq {
            return false;
        }
        call.mid.reinvite = None;
        if let Some(entry) = self.server_invites.get_mut(&key) {
            entry.tx.handle_2xx_ack();
        }
        self.drive_server_invite(&key);
        true
    }

    /// The timer agreed for a new inbound INVITE: `Err(min_se)` refuses it with `422`.
    pub(super) fn initial_timer(&self, request: &Request) -> Result<Option<SessionTimer>, u32> {
        match uas_timer(&request.headers, self.settings.min_se_s) {
            UasTimer::Run(timer) => Ok(Some(timer)),
            UasTimer::None => Ok(None),
            UasTimer::TooSmall(min_se) => Err(min_se),
        }
    }

    /// The call was answered with `sdp`: the session's description and timer start now.
    pub(super) fn session_answered(&mut self, id: CallId, sdp: &[u8], response: &mut Response) {
        let now = self.now();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.mid.we_are_uas = true;
        call.mid.local_sdp = SessionDescription::parse(sdp).ok();
        response.headers.push("Supported", "timer");
        if let Some(timer) = call.mid.offered_timer.take() {
            response
                .headers
                .push("Session-Expires", timer.header_value());
            response.headers.push("Require", "timer");
            call.mid.timer = Some((timer, now));
        }
        self.reschedule_session(id);
    }

    /// Schedules the call's session-timer deadline.
    pub(super) fn reschedule_session(&mut self, id: CallId) {
        let at = self.calls.get(&id).and_then(|c| c.mid.deadline());
        self.deadlines
            .schedule(super::timers::TimerRef::Session(id), at);
    }

    /// The session timer fired: refresh it by UPDATE when we are the refresher, else end the
    /// session the peer stopped refreshing.
    pub(super) fn on_session_deadline(&mut self, id: CallId) {
        let now = self.now();
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Some((timer, refreshed)) = call.mid.timer else {
            return;
        };
        if call.state != CallState::Answered {
            return;
        }
        if now >= timer.deadline_ms(refreshed) {
            tracing::info!(call = id, "session timer expired without a refresh: BYE");
            match &call.side {
                Side::Inbound(leg) => {
                    let _ = leg.events.send(CallEvent::SessionExpired);
                }
                Side::Outbound(leg) => {
                    let _ = leg.events.send(OutgoingEvent::SessionExpired);
                }
            }
            if let Some(call) = self.calls.get_mut(&id) {
                call.mid.timer = None;
            }
            self.send_bye(id);
            return;
        }
        if call.mid.refreshes(&timer) && !call.mid.refreshing {
            self.send_refresh(id, timer);
        }
        self.reschedule_session(id);
    }

    /// Our refresh: an UPDATE without a body carrying the timer (RFC 4028 §7.4 allows either
    /// method; UPDATE needs no offer and no ACK).
    fn send_refresh(&mut self, id: CallId, timer: SessionTimer) {
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
        let mut update = dialog.build_request(Method::Update, &via);
        update.headers.push("Session-Expires", timer.header_value());
        update.headers.push("Supported", "timer");
        update.headers.push("User-Agent", "switchboard");
        call.mid.refreshing = true;
        self.start_client_request(update, destination, id);
    }

    /// Our UPDATE refresh got its final response (or none): a 2xx restarts the interval; a
    /// failure ends the session as an expiry would once the deadline comes.
    pub(super) fn on_refresh_done(&mut self, id: CallId, status: Option<u16>) {
        let now = self.now();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.mid.refreshing = false;
        if let (Some(status), Some((timer, _))) = (status, call.mid.timer)
            && (200..300).contains(&status)
        {
            call.mid.timer = Some((timer, now));
        } else if let Some((timer, _)) = call.mid.timer {
            // Refresh failed: let the deadline (from the original refresh) end the session.
            call.mid.timer = Some((
                switchboard_sip::SessionTimer {
                    refresher: if call.mid.we_are_uas {
                        switchboard_sip::Refresher::Uac
                    } else {
                        switchboard_sip::Refresher::Uas
                    },
                    ..timer
                },
                call.mid.timer.map_or(now, |(_, at)| at),
            ));
        }
        self.reschedule_session(id);
    }
}
