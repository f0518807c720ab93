//! `<Dial><Number>`: the child leg. A number provisioned on this engine gets a full leg of its
//! own running that number's Voice URL (another driver task, like calling another customer);
//! any other number reaches a virtual handset that answers at once unless
//! `POST /sandbox/Phones/{Number}` says `busy`, `no-answer` or `fail`, and hangs up after
//! `HangupAfter` seconds (else at `timeLimit` or when the caller's side drops it).
//!
//! Targets are tried as if rung together: the first one that would answer wins; when none
//! does, the first target's outcome is reported.

use switchboard_core::{Sid, SidKind};
use switchboard_flow::{
    CallSetup, CallStatus, Dial, DialCallStatus, DialOutcome, Direction, Initial, Input,
    base_params,
};
use switchboard_store::Record;
use tokio::sync::oneshot;

use crate::voice::callbacks::{CallbackQueue, StatusCallback};
use crate::voice::driver::{Driver, LegEnd};
use crate::voice::leg::{self, LegInfo};
use crate::voice::live::{CallInput, LiveCalls};
use crate::voice::perform::rest_status;
use crate::voice::start;
use crate::voice::timers::Due;

/// The virtual handset's side of a dial.
pub(crate) struct HandsetLeg {
    record: Record,
    setup: CallSetup,
    callbacks: CallbackQueue,
    hangup_after_s: Option<u32>,
}

enum Child {
    Handset(Box<HandsetLeg>),
    Engine {
        sid: String,
        done: Option<oneshot::Receiver<LegEnd>>,
    },
}

/// A running `<Dial>`.
pub(crate) struct DialLeg {
    child_sid: Sid,
    child: Child,
    answered_ms: Option<u64>,
    time_limit_ms: u64,
    ended: bool,
}

impl DialLeg {
    /// Whether the dial waits on another task (an engine leg), not on the call's own timers.
    pub(crate) fn is_external(&self) -> bool {
        matches!(self.child, Child::Engine { done: Some(_), .. })
    }

    /// Resolves when a dialled engine leg ends; never otherwise.
    pub(crate) async fn next_external_end(dial: &mut Option<DialLeg>) -> LegEnd {
        let receiver = match dial {
            Some(DialLeg {
                child: Child::Engine {
                    done: Some(done), ..
                },
                ..
            }) => done,
            _ => return std::future::pending().await,
        };
        let end = receiver.await.unwrap_or(LegEnd {
            status: CallStatus::Failed,
            duration_s: 0,
            sip_response_code: None,
        });
        if let Some(DialLeg {
            child: Child::Engine { done, .. },
            ..
        }) = dial
        {
            *done = None;
        }
        end
    }

    /// A bridged engine leg hears the caller's keys.
    pub(crate) fn forward_digits(&self, live: &LiveCalls, digits: &str) {
        if let Child::Engine { sid, .. } = &self.child {
            live.send(sid, CallInput::Digits(digits.to_owned()));
        }
    }

    /// The caller's leg ended: drop the child.
    pub(crate) fn abandon(self, live: &LiveCalls) {
        if let Child::Engine { sid, .. } = &self.child {
            live.send(sid, CallInput::Hangup);
        }
    }
}

fn dial_status(status: CallStatus) -> DialCallStatus {
    match status {
        CallStatus::Completed | CallStatus::InProgress => DialCallStatus::Completed,
        CallStatus::Busy => DialCallStatus::Busy,
        CallStatus::NoAnswer => DialCallStatus::NoAnswer,
        CallStatus::Canceled => DialCallStatus::Canceled,
        _ => DialCallStatus::Failed,
    }
}

impl Driver {
    pub(crate) async fn start_dial(&mut self, dial: Dial) {
        let child_sid = Sid::generate(SidKind::Call);
        let now = self.clock.now_ms();
        let mut chosen = None;
        for target in &dial.targets {
            if target.number.starts_with("sip:") {
                return Box::pin(self.dial_sip(&dial, target.clone(), child_sid, now)).await;
            }
            let provisioned = self.state.find_number(&target.number).await.ok().flatten();
            if provisioned.is_none()
                && self
                    .state
                    .telephony
                    .as_ref()
                    .is_some_and(|telephony| telephony.route(&target.number).is_some())
            {
                return Box::pin(self.dial_sip(&dial, target.clone(), child_sid, now)).await;
            }
            if let Some(number) = &provisioned
                && !crate::account::is_sid_active(&*self.state.store, &number.account_sid)
                    .await
                    .unwrap_or(false)
            {
                // A number of an account that is not active does not answer a `<Dial>` either:
                // its Voice URL is not requested (with no other target, the dial fails).
                continue;
            }
            let handset = self
                .state
                .sandbox
                .handset(&self.account.sid, &target.number);
            let answers =
                provisioned.is_some() || matches!(handset.answer.as_deref(), None | Some("answer"));
            if answers || chosen.is_none() {
                chosen = Some((target.clone(), provisioned, handset));
            }
            if answers {
                break;
            }
        }
        let Some((target, provisioned, handset)) = chosen else {
            return self.dial_ended(child_sid, DialCallStatus::Failed, 0, false, None);
        };
        let time_limit_ms = u64::from(dial.time_limit_s) * 1000;
        let whisper = provisioned.is_none() && target.url.is_some();
        if provisioned.is_some() || whisper {
            let parent = start::DialParent {
                state: self.state.clone(),
                account: self.account.clone(),
                call_sid: self.call.setup().call_sid.clone(),
                fast: self.clock.is_fast(),
            };
            let done = match &provisioned {
                Some(number) => {
                    start::dial_child(
                        parent,
                        number,
                        child_sid.as_str(),
                        &dial.caller_id,
                        &target.number,
                    )
                    .await
                }
                None => {
                    start::whisper_child(
                        parent,
                        child_sid.as_str(),
                        &dial.caller_id,
                        &target,
                        handset,
                        dial.timeout_s,
                    )
                    .await
                }
            };
            return self.attach_child(child_sid, done, now, time_limit_ms, !whisper);
        }
        let mut setup = CallSetup::new(
            child_sid.clone(),
            self.call.setup().account_sid.clone(),
            dial.caller_id.clone(),
            target.number.clone(),
            Direction::OutboundDial,
            Initial::Inline(Default::default()),
        );
        setup.parent_call_sid = Some(self.call.setup().call_sid.clone());
        let info = LegInfo {
            sid: child_sid.as_str().to_owned(),
            account_sid: self.account.sid.clone(),
            from: dial.caller_id.clone(),
            to: target.number.clone(),
            direction: "outbound-dial",
            status: "queued",
            parent_call_sid: Some(self.call_sid().to_owned()),
            phone_number_sid: None,
            caller_name: None,
            forwarded_from: None,
            status_callback: target.status_callback.as_ref().map(|callback| {
                StatusCallback::new(
                    callback.url.clone(),
                    callback.method,
                    callback.events.clone(),
                )
            }),
        };
        let record = leg::new_record(&info, &self.state.node_id);
        if let Err(error) = self.state.store.insert(&record).await {
            tracing::error!(?error, "storing a dialled leg failed");
        }
        let callbacks = CallbackQueue::new(info.status_callback);
        self.dial = Some(DialLeg {
            child_sid,
            child: Child::Handset(Box::new(HandsetLeg {
                record,
                setup,
                callbacks,
                hangup_after_s: handset.hangup_after_s,
            })),
            answered_ms: None,
            time_limit_ms,
            ended: false,
        });
        self.handset_status(CallStatus::Initiated, None).await;
        self.handset_status(CallStatus::Ringing, None).await;
        match handset.answer.as_deref() {
            Some("busy") => self.handset_ends(CallStatus::Busy).await,
            Some("fail") => self.handset_ends(CallStatus::Failed).await,
            Some("no-answer") => {
                self.timers
                    .add(now + u64::from(dial.timeout_s) * 1000, Due::DialNoAnswer);
            }
            _ => self.dial_answered().await,
        }
    }

    /// A SIP target (`<Sip>`, or a number through `--sip-gateway`): a child leg of its own that
    /// sends the INVITE and, once answered, has its RTP bridged to this leg's. The caller
    /// hears ringback meanwhile.
    async fn dial_sip(
        &mut self,
        dial: &switchboard_flow::Dial,
        target: switchboard_flow::DialTarget,
        child_sid: Sid,
        now: u64,
    ) {
        let route = self
            .state
            .telephony
            .as_ref()
            .and_then(|telephony| telephony.route(&target.number));
        let Some(uri) = route else {
            let alert = switchboard_flow::Alert {
                code: switchboard_core::error_code::DIAL_GENERIC,
                level: switchboard_twiml::Level::Error,
                message: format!(
                    "<Dial> to {} needs SIP, and SIP is off on this engine (--sip off)",
                    target.number
                ),
                url: None,
            };
            self.record_alert(&crate::voice::perform::flow_alert(&alert))
                .await;
            return self.dial_ended(child_sid, DialCallStatus::Failed, 0, false, None);
        };
        let parent = start::DialParent {
            state: self.state.clone(),
            account: self.account.clone(),
            call_sid: self.call.setup().call_sid.clone(),
            fast: false,
        };
        let done = start::sip_child(
            parent,
            child_sid.as_str(),
            &dial.caller_id,
            &target,
            uri,
            dial.timeout_s,
        )
        .await;
        self.media_ringback();
        let time_limit_ms = u64::from(dial.time_limit_s) * 1000;
        self.attach_child(child_sid, done, now, time_limit_ms, false);
    }

    /// The dialled SIP leg answered and its media is bridged to this leg's.
    pub(crate) fn dial_child_connected(&mut self) {
        let now = self.clock.now_ms();
        if let Some(dial) = &mut self.dial
            && !dial.ended
            && dial.answered_ms.is_none()
        {
            dial.answered_ms = Some(now);
            self.feed(Input::DialConnected);
        }
    }

    /// A child leg with a driver of its own was started (or failed to start).
    fn attach_child(
        &mut self,
        child_sid: Sid,
        done: crate::error::EngineResult<oneshot::Receiver<LegEnd>>,
        now: u64,
        time_limit_ms: u64,
        answered: bool,
    ) {
        match done {
            Ok(done) => {
                self.dial = Some(DialLeg {
                    child_sid: child_sid.clone(),
                    child: Child::Engine {
                        sid: child_sid.as_str().to_owned(),
                        done: Some(done),
                    },
                    answered_ms: answered.then_some(now),
                    time_limit_ms,
                    ended: false,
                });
                if answered {
                    self.feed(Input::DialConnected);
                }
                self.timers.add(now + time_limit_ms, Due::DialHangup);
            }
            Err(error) => {
                tracing::error!(?error, "starting a dialled leg failed");
                self.dial_ended(child_sid, DialCallStatus::Failed, 0, false, None);
            }
        }
    }

    /// Moves the virtual handset's leg to `status` (store and status callbacks).
    async fn handset_status(&mut self, status: CallStatus, duration_s: Option<u64>) {
        let target = self.alert_target();
        let state = self.state.clone();
        let Some(DialLeg {
            child: Child::Handset(handset),
            ..
        }) = &mut self.dial
        else {
            return;
        };
        let mut params = base_params(&handset.setup, status);
        if status.is_terminal() {
            params.push(("CallDuration".into(), duration_s.unwrap_or(0).to_string()));
        }
        handset
            .callbacks
            .status_changed(&target, status, params)
            .await;
        let stored = leg::set_status(
            &state,
            &mut handset.record,
            rest_status(status),
            status.is_terminal(),
            duration_s,
        )
        .await;
        if let Err(error) = stored {
            tracing::error!(?error, "storing a dialled leg's status failed");
        }
    }

    pub(crate) async fn dial_answered(&mut self) {
        let now = self.clock.now_ms();
        let hangup_after = match &mut self.dial {
            Some(dial) if !dial.ended => {
                dial.answered_ms = Some(now);
                match &dial.child {
                    Child::Handset(handset) => handset.hangup_after_s,
                    Child::Engine { .. } => None,
                }
                .map(|s| u64::from(s) * 1000)
                .unwrap_or(dial.time_limit_ms)
                .min(dial.time_limit_ms)
            }
            _ => return,
        };
        self.handset_status(CallStatus::InProgress, None).await;
        self.feed(Input::DialConnected);
        self.timers.add(now + hangup_after, Due::DialHangup);
    }

    pub(crate) async fn dial_no_answer(&mut self) {
        if self.agent_timed_out() {
            return;
        }
        self.handset_ends(CallStatus::NoAnswer).await;
    }

    /// The handset's leg ends with `status`; the caller's `<Dial>` learns it.
    async fn handset_ends(&mut self, status: CallStatus) {
        let now = self.clock.now_ms();
        let Some(dial) = &mut self.dial else { return };
        if dial.ended {
            return;
        }
        dial.ended = true;
        let duration_ms = dial.answered_ms.map_or(0, |at| now.saturating_sub(at));
        let (sid, bridged) = (dial.child_sid.clone(), dial.answered_ms.is_some());
        let duration_s = duration_ms / 1000;
        self.handset_status(status, Some(duration_s)).await;
        if let Some(DialLeg {
            child: Child::Handset(handset),
            ..
        }) = &mut self.dial
        {
            let mut callbacks = std::mem::replace(&mut handset.callbacks, CallbackQueue::new(None));
            self.state.spawn(async move { callbacks.drain().await });
        }
        self.timers
            .cancel_where(|due| matches!(due, Due::DialHangup | Due::DialNoAnswer));
        let duration = u32::try_from(duration_s).unwrap_or(u32::MAX);
        self.dial_ended(sid, dial_status(status), duration, bridged, None);
    }

    /// `EndDial`, `timeLimit` or the handset hanging up.
    pub(crate) async fn end_dial(&mut self) {
        if self.end_seat_dial() {
            return;
        }
        let Some(dial) = &self.dial else { return };
        if dial.ended {
            return;
        }
        match &dial.child {
            Child::Engine { sid, .. } => {
                self.state.live.send(sid, CallInput::Hangup);
            }
            Child::Handset(_) => {
                let status = if dial.answered_ms.is_some() {
                    CallStatus::Completed
                } else {
                    CallStatus::Canceled
                };
                self.handset_ends(status).await;
            }
        }
    }

    pub(crate) fn on_dial_external_end(&mut self, end: LegEnd) {
        let Some(dial) = &mut self.dial else { return };
        if dial.ended {
            return;
        }
        dial.ended = true;
        let sid = dial.child_sid.clone();
        self.timers
            .cancel_where(|due| matches!(due, Due::DialHangup));
        let bridged = end.status == CallStatus::Completed;
        let duration = u32::try_from(end.duration_s).unwrap_or(u32::MAX);
        self.dial_ended(
            sid,
            dial_status(end.status),
            duration,
            bridged,
            end.sip_response_code,
        );
    }

    fn dial_ended(
        &mut self,
        sid: Sid,
        status: DialCallStatus,
        duration_s: u32,
        bridged: bool,
        sip_response_code: Option<u16>,
    ) {
        self.feed(Input::DialEnded(DialOutcome {
            status,
            dial_call_sid: sid,
            duration_s,
            bridged,
            recording: None,
            sip_response_code,
        }));
    }
}
