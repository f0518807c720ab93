//! Performing the flow's actions: each becomes its transcript event (product.md) and, where it
//! has one, its effect on the far end of the call's media (`media::MediaEnd`, whichever it
//! is), the store or the network.

use serde_json::json;
use switchboard_flow::{Action, Alert, CallStatus, Direction, Input, PlayMedia};
use switchboard_twiml::Level;
use switchboard_twiml::verb::GatherInput;
use switchboard_webhook::{AlertLevel, AlertRecord, Channel, CookieJar, FetchPlan, fetch_twiml};

use crate::messaging::{self, Outbound};
use crate::voice::driver::{Driver, FarEnd};
use crate::voice::fetch;
use crate::voice::leg;
use crate::voice::live::LiveSettings;
use crate::voice::media::Listening;
use crate::voice::timers::Due;
use crate::{Engine, session};

/// The longest a call may last once answered (§8.5).
const MAX_CALL_S: u32 = 4 * 3600;

impl Driver {
    pub(crate) async fn perform(&mut self, action: Action) {
        match action {
            Action::Fetch(request) if request.reply_ignored => self.fetch_and_forget(request),
            Action::Fetch(mut request) => {
                if request.purpose == switchboard_flow::FetchPurpose::WaitUrl {
                    request.params.extend(self.hold_params());
                }
                let initial = request.purpose == switchboard_flow::FetchPurpose::Initial;
                // The document this fetch brings is the session's first only if the fetch is.
                self.document_initial = initial;
                if initial && std::mem::take(&mut self.drill) {
                    self.drill_primary(request).await;
                    return;
                }
                self.fetch = Some(fetch::start(
                    &self.state,
                    &self.account.auth_token,
                    self.cookies.clone(),
                    request,
                    self.fallback.clone(),
                    initial,
                    self.breaker,
                ));
            }
            Action::ExecutionFailed(failure) => {
                let alert = Alert {
                    code: failure.code,
                    level: Level::Error,
                    message: failure.message.clone(),
                    url: failure.error_url.clone(),
                };
                let (alert, pending) = fetch::after_failure(
                    &self.state,
                    &self.account.auth_token,
                    self.cookies.clone(),
                    failure,
                    flow_alert(&alert),
                    self.fallback.clone(),
                    self.document_initial,
                );
                self.record_alert(&alert).await;
                match pending {
                    Some(pending) => self.fetch = Some(pending),
                    None => {
                        let input = self.instead_of_giving_up(false).await;
                        self.feed(input);
                    }
                }
            }
            Action::Answer => self.media_answer(),
            Action::Bridge => {
                self.log.push("bridge", json!({}));
                self.media_bridge_to_parent();
            }
            Action::Say(say) => {
                self.log.push(
                    "say",
                    json!({"text": say.text, "voice": say.voice, "language": say.language,
                           "loop": say.loop_count, "source": say.source.as_str()}),
                );
                self.media_say(&say).await;
            }
            Action::Play(play) => {
                let fields = match &play.media {
                    PlayMedia::Url(url) => json!({"url": url, "loop": play.loop_count}),
                    PlayMedia::Digits(digits) => json!({"digits": digits, "loop": play.loop_count}),
                };
                self.log.push("play", fields);
                self.media_play(&play).await;
            }
            Action::Pause { length_s } => self.log.push("pause", json!({"length": length_s})),
            Action::StopMedia => self.media_stop_playback(),
            Action::Gather(gather) => {
                let input: Vec<String> = gather.input.iter().map(ToString::to_string).collect();
                self.log.push(
                    "gather",
                    json!({"input": input.join(" "), "timeout": gather.timeout_s,
                           "num_digits": gather.num_digits,
                           "finish_on_key": gather.finish_on_key.map(String::from).unwrap_or_default()}),
                );
                let speech = gather.input.contains(&GatherInput::Speech);
                self.listen(Listening::Gather { speech });
                if speech {
                    self.media_listen_for_speech(&gather).await;
                }
            }
            Action::GatherResult(result) => {
                self.log.push(
                    "gather_result",
                    json!({"digits": result.digits, "speech": result.speech,
                           "finished_on_key": result.finished_on_key.map(String::from)}),
                );
                self.stop_listening();
                self.media_stop_listening_for_speech();
            }
            Action::Record(record) => {
                self.log.push(
                    "record",
                    json!({"max_length": record.max_length_s, "timeout": record.timeout_s,
                           "finish_on_key": record.finish_on_key}),
                );
                self.transcribe = crate::voice::transcription::Wanted::of(&record);
                self.media_start_recording(&record);
                self.listen(Listening::Record);
            }
            Action::StopRecording => self.media_stop_recording().await,
            Action::RecordResult {
                recording_sid,
                duration_s,
            } => {
                self.log.push(
                    "record_result",
                    json!({"recording_sid": recording_sid.as_str(), "duration": duration_s}),
                );
                self.stop_listening();
            }
            Action::Dial(dial) => {
                let targets: Vec<&str> = dial.targets.iter().map(|t| t.number.as_str()).collect();
                self.log.push("dial", json!({"targets": targets}));
                Box::pin(self.start_dial(dial)).await;
                self.listen(Listening::Dial);
            }
            Action::EndDial => Box::pin(self.end_dial()).await,
            Action::JoinConference(join) => {
                self.log.push(
                    "dial",
                    json!({"targets": [format!("conference:{}", join.name)]}),
                );
                self.join_conference(join);
                self.listen(Listening::Dial);
            }
            Action::DequeueCall(dequeue) => {
                self.log.push(
                    "dial",
                    json!({"targets": [format!("queue:{}", dequeue.name)]}),
                );
                Box::pin(self.dequeue_call(dequeue)).await;
                self.listen(Listening::Dial);
            }
            Action::Enqueue(enqueue) => Box::pin(self.enqueue(enqueue)).await,
            Action::LeaveQueue => self.leave_queue(),
            Action::EnqueueResult {
                result,
                queue_time_s,
            } => self.log.push(
                "enqueue_result",
                json!({"result": result, "queue_time": queue_time_s}),
            ),
            Action::DialResult(result) => {
                self.log.push(
                    "dial_result",
                    json!({"dial_call_status": result.status.as_str(),
                           "dial_call_sid": result.dial_call_sid.as_str(),
                           "duration": result.duration_s, "bridged": result.bridged}),
                );
                self.stop_listening();
                self.dial = None;
                self.media_unbridge();
            }
            Action::SendSms(sms) => Box::pin(self.send_sms(sms)).await,
            Action::StartStream(open) | Action::ConnectStream(open) => {
                self.open_stream(open);
            }
            Action::StopStream { name } => self.stop_streams(name.as_deref()),
            Action::EndConnect => self.end_connect(),
            Action::Redirect { url } => self.log.push("redirect", json!({"url": url})),
            Action::Hangup { by } => self.log.push("hangup", json!({"by": by.as_str()})),
            Action::Reject { reason } => {
                self.log
                    .push("reject", json!({"reason": reason.to_string()}));
            }
            Action::Alert(alert) => self.record_alert(&flow_alert(&alert)).await,
            Action::StatusChanged(status) => self.status_changed(status).await,
        }
    }

    async fn send_sms(&mut self, sms: switchboard_flow::SendSms) {
        self.log.push(
            "message",
            json!({"to": sms.to, "from": sms.from, "body": sms.body, "media": []}),
        );
        let outbound = Outbound {
            from: sms.from,
            to: sms.to,
            body: sms.body,
            media: Vec::new(),
            status_callback: sms.status_callback.map(|callback| callback.url),
            direction: "outbound-call",
            messaging_service_sid: None,
        };
        let (sid, status) = match messaging::send(&self.state, &self.account, outbound).await {
            Ok(doc) => (
                doc["sid"].as_str().unwrap_or_default().to_owned(),
                "sending",
            ),
            Err(error) => {
                tracing::error!(?error, "sending <Sms> failed");
                (String::new(), "failed")
            }
        };
        if sms.wants_result {
            let sid = switchboard_core::Sid::parse(switchboard_core::SidKind::Message, &sid)
                .unwrap_or_else(|| {
                    switchboard_core::Sid::generate(switchboard_core::SidKind::Message)
                });
            self.feed(Input::SmsSent {
                sms_sid: sid,
                status: status.to_owned(),
            });
        }
    }

    /// A drill's first fetch: the primary is treated as failed with 11200 without being
    /// requested, through the same policy a document that cannot run takes (the fallback gets
    /// `ErrorCode=11200` and `ErrorUrl` = the primary). No alert is recorded: nothing failed.
    async fn drill_primary(&mut self, request: switchboard_flow::FetchRequest) {
        let code = switchboard_core::error_code::HTTP_RETRIEVAL_FAILURE;
        self.log.push(
            "drill",
            json!({"url": request.url, "error_code": code.code}),
        );
        let alert = Alert {
            code,
            level: Level::Error,
            message: "Drill: the primary URL is treated as failed".to_owned(),
            url: Some(request.url.clone()),
        };
        let failure = switchboard_flow::ExecutionFailure {
            code,
            message: alert.message.clone(),
            error_url: Some(request.url),
            params: request.params,
        };
        let (_, pending) = fetch::after_failure(
            &self.state,
            &self.account.auth_token,
            self.cookies.clone(),
            failure,
            flow_alert(&alert),
            self.fallback.clone(),
            true,
        );
        match pending {
            Some(pending) => self.fetch = Some(pending),
            // No fallback: what a real failure of the first fetch would leave.
            None => {
                let input = self.instead_of_giving_up(true).await;
                self.feed(input);
            }
        }
    }

    /// `reply_ignored` fetches (the caller already hung up): sent, their answer unused.
    pub(crate) fn fetch_and_forget(&mut self, request: switchboard_flow::FetchRequest) {
        let plan = FetchPlan {
            primary: switchboard_webhook::Endpoint::new(request.url.clone(), request.method),
            fallback: None,
            params: request.params,
            initial: false,
            scope: self.state.fallback_scope,
            breaker: false,
        };
        let target = self.alert_target();
        self.state.spawn(async move {
            let result = fetch_twiml(
                &target.state.webhooks,
                &target.auth_token,
                &mut CookieJar::default(),
                plan,
                Channel::Voice,
                |_| Ok(()),
            )
            .await;
            for event in &result.events {
                target
                    .log
                    .push("webhook", serde_json::to_value(event).unwrap_or_default());
            }
        });
    }

    async fn status_changed(&mut self, status: CallStatus) {
        self.log.push("status", json!({"status": status.as_str()}));
        let mut params = self.call.params_at(status);
        let duration = self.call.call_duration_s();
        if status.is_terminal() {
            params.push(("CallDuration".into(), duration.unwrap_or(0).to_string()));
            if let Some(code) = self.media_response_code(status) {
                params.push(("SipResponseCode".into(), code.to_string()));
            }
            self.finish_recordings(&mut params).await;
        }
        let target = self.alert_target();
        self.callbacks.status_changed(&target, status, params).await;
        // The record is created with its first status: no write for it.
        let rest = rest_status(status);
        if self.stored_status != rest {
            self.stored_status = rest;
            let (state, sid) = (self.state.clone(), self.call_sid().to_owned());
            store_status(&state, &sid, rest, status.is_terminal(), duration).await;
        }
        if status == CallStatus::InProgress {
            self.answered();
            self.record_from_answer().await;
        }
        if status.is_terminal() {
            // The far end learns at once (BYE, or the final response of an unanswered call).
            self.media_hang_up();
        }
    }

    /// The leg was answered: `SendDigits` are played, and an outbound handset presses its
    /// digits and hangs up on schedule.
    fn answered(&mut self) {
        let now = self.clock.now_ms();
        if let Some(digits) = self.send_digits.take() {
            self.log.push("send_digits", json!({"digits": digits}));
            self.media_send_digits(&digits);
        }
        self.start_detection();
        self.answered_at_ms = Some(now);
        self.arm_time_limit();
        if let FarEnd::Handset { handset, .. } = &self.far_end {
            let (digits, hangup_after) = (handset.digits.clone(), handset.hangup_after_s);
            if let Some(digits) = digits {
                self.press(&digits);
            }
            if let Some(seconds) = hangup_after {
                let at = now + u64::from(seconds) * 1000;
                self.timers.add(at, Due::Input(Input::CallerHungUp));
            }
        }
    }

    /// Arms the `TimeLimit` timer of an answered call, counted from its answer and capped by
    /// the platform's maximum call length (§8.5: 4 hours); an earlier one is replaced. A limit
    /// already past ends the call at once.
    pub(crate) fn arm_time_limit(&mut self) {
        let Some(answered) = self.answered_at_ms else {
            return;
        };
        let limit = self.time_limit_s.unwrap_or(MAX_CALL_S).min(MAX_CALL_S);
        self.timers
            .cancel_where(|due| matches!(due, Due::TimeLimit));
        self.timers
            .add(answered + u64::from(limit) * 1000, Due::TimeLimit);
    }

    /// A REST update's `StatusCallback` and `TimeLimit`: the callbacks still to come go to the
    /// new URL (kept in the record, so a takeover after a crash sends the final one there), and
    /// the time limit counts from the answer.
    pub(crate) async fn apply_settings(&mut self, settings: LiveSettings) {
        if let Some(endpoint) = settings.status_callback {
            let callback = self.callbacks.redirect(endpoint).to_json();
            self.log.push(
                "status_callback_changed",
                json!({"url": callback["url"], "method": callback["method"]}),
            );
            let (state, sid) = (self.state.clone(), self.call_sid().to_owned());
            leg::store_status_callback(&state, &sid, callback).await;
        }
        if let Some(limit) = settings.time_limit_s {
            self.time_limit_s = Some(limit);
            self.log
                .push("time_limit_changed", json!({"time_limit_s": limit}));
            self.arm_time_limit();
        }
    }

    /// Stores `alert` for this call and adds it to the transcript.
    pub(crate) async fn record_alert(&mut self, alert: &AlertRecord) {
        self.record_alerts(std::slice::from_ref(alert)).await;
    }

    pub(crate) async fn record_alerts(&mut self, alerts: &[AlertRecord]) {
        let call_sid = self.call_sid().to_owned();
        session::record_alerts(&self.state, &self.account.sid, &call_sid, &self.log, alerts).await;
    }

    /// Outbound-API legs start ringing their handset; engine numbers answer at once.
    pub(crate) async fn start_far_end(&mut self) {
        use switchboard_flow::Progress;
        let direction = self.call.setup().direction;
        if direction == Direction::Inbound {
            return;
        }
        if let FarEnd::Sip {
            uri,
            auth,
            ring_timeout_s,
        } = self.far_end.clone()
        {
            return self.start_sip_invite(uri, auth, ring_timeout_s).await;
        }
        let now = self.clock.now_ms();
        self.feed(Input::Progress(Progress::Initiated));
        self.feed(Input::Progress(Progress::Ringing));
        let outcome = match &self.far_end {
            FarEnd::Handset {
                handset,
                ring_timeout_s,
            } => match handset.answer.as_deref() {
                Some("busy") => (now, Progress::Busy),
                Some("fail") => (now, Progress::Failed),
                Some("no-answer") => (now + u64::from(*ring_timeout_s) * 1000, Progress::NoAnswer),
                _ => (now, Progress::Answered),
            },
            FarEnd::EngineNumber | FarEnd::Caller | FarEnd::Sip { .. } => (now, Progress::Answered),
        };
        if outcome.0 == now {
            self.feed(Input::Progress(outcome.1));
        } else {
            self.timers
                .add(outcome.0, Due::Input(Input::Progress(outcome.1)));
        }
    }
}

/// Writes a status change to the stored call. The driver keeps no copy of the document
/// (parked calls stay small): it is read back, from the store's cache, when it changes.
async fn store_status(
    state: &Engine,
    sid: &str,
    status: &str,
    terminal: bool,
    duration: Option<u64>,
) {
    let stored = match state.store.get(switchboard_store::Kind::Call, sid).await {
        Ok(Some(mut record)) => {
            leg::set_status(state, &mut record, status, terminal, duration).await
        }
        Ok(None) => return,
        Err(error) => Err(error.into()),
    };
    if let Err(error) = stored {
        tracing::error!(?error, call = %sid, "storing a call status failed");
    }
}

/// The REST spelling of a status (the REST enum has no `initiated`: it shows as `queued`).
pub(crate) fn rest_status(status: CallStatus) -> &'static str {
    match status {
        CallStatus::Initiated => "queued",
        other => other.as_str(),
    }
}

/// An alert the interpreter raised (document limits, TwiML warnings, unsupported nouns).
pub(crate) fn flow_alert(alert: &Alert) -> AlertRecord {
    let level = match alert.level {
        Level::Error => AlertLevel::Error,
        Level::Warning => AlertLevel::Warning,
    };
    session::session_alert(
        Channel::Voice,
        alert.code,
        level,
        alert.message.clone(),
        alert.url.clone().unwrap_or_default(),
    )
}
