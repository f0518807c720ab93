//! `<Dial>` with `<Number>` and `<Sip>` nouns or a number as text (§7.7), `<Conference>` (join
//! a conference: `JoinConference`, holding with its `waitUrl` until it starts) and `<Queue>`
//! (bridge the front caller of a queue: `DequeueCall`). A `<Conference>` or `<Queue>` is the
//! `<Dial>`'s only target (the first one found wins).
//!
//! Other nouns (`<Client>`, …) are parsed but not dialled yet: each draws an ERROR alert
//! (13000), and a `<Dial>` left with nothing to ring continues with the next verb. Ring timeout and `timeLimit` are the driver's (it knows when the child
//! answers); `hangupOnStar` is seen here. With `answerOnBridge` the caller keeps ringing until
//! `DialConnected`. When the leg ends, `action` is requested with
//! `DialCallStatus`/`DialCallSid`/`DialCallDuration`/`DialBridged`, or, without `action`, the
//! next verb runs. A whisper leg cannot dial (13201).

use switchboard_core::error_code::DIAL_FROM_DIAL_SEGMENT;
use switchboard_twiml::keyword::Keyword;
use switchboard_twiml::noun::{Conference, LegCallbacks, Number, Queue, Sip};
use switchboard_twiml::verb::Dial;
use switchboard_twiml::{Level, Method, Noun, support};

use crate::action::{
    self, Action, Callback, DequeueCall, DialResult, DialTarget, FetchPurpose, HangupBy,
    JoinConference, WaitUrl,
};
use crate::call::{Call, STOP_GRACE_MS, Step};
use crate::input::DialOutcome;
use crate::params::{Params, push};
use crate::program::UrlError;
use crate::verb::record::words;

/// A running `<Dial>`.
#[derive(Debug)]
pub(crate) struct DialRun {
    action: Option<String>,
    method: Method,
    hangup_on_star: bool,
    /// `EndDial` was sent.
    ending: bool,
    caller_hung_up: bool,
    /// After the caller hung up: give up waiting for `DialEnded` then.
    grace_until_ms: Option<u64>,
    /// A conference's hold document.
    wait: Option<WaitUrl>,
}

impl DialRun {
    pub(crate) fn deadline(&self) -> Option<u64> {
        self.grace_until_ms
    }

    pub(crate) fn is_ending(&self) -> bool {
        self.ending
    }

    pub(crate) fn wait(&self) -> Option<&WaitUrl> {
        self.wait.as_ref()
    }

    fn new(dial: &Dial, wait: Option<WaitUrl>) -> Box<DialRun> {
        Box::new(DialRun {
            action: dial.action.clone(),
            method: dial.method,
            hangup_on_star: dial.hangup_on_star,
            ending: false,
            caller_hung_up: false,
            grace_until_ms: None,
            wait,
        })
    }
}

fn noun_name(noun: &Noun) -> &'static str {
    match noun {
        Noun::Number(_) => "Number",
        Noun::Client(_) => "Client",
        Noun::Sip(_) => "Sip",
        Noun::Conference(_) => "Conference",
        Noun::Queue(_) => "Queue",
        Noun::Application(_) => "Application",
        Noun::Sim(_) => "Sim",
        Noun::WhatsApp(_) => "WhatsApp",
    }
}

impl Call {
    pub(crate) fn start_dial(&mut self, dial: Dial) {
        let url = self.program.url().map(str::to_owned);
        if self.setup.whisper {
            let message = "<Dial> cannot run in a whisper (<Number url>) document".to_owned();
            return self.alert(DIAL_FROM_DIAL_SEGMENT, Level::Error, message, url);
        }
        for noun in &dial.nouns {
            match noun {
                Noun::Conference(conference) => {
                    let conference = conference.clone();
                    return self.start_conference(dial, conference);
                }
                Noun::Queue(queue) => {
                    let queue = queue.clone();
                    return self.start_dequeue(dial, queue);
                }
                _ => {}
            }
        }
        let mut targets = Vec::new();
        for noun in &dial.nouns {
            let name = noun_name(noun);
            let target = match noun {
                Noun::Number(number) if support::dial_noun_runs(name) => self.dial_target(number),
                Noun::Sip(sip) if support::dial_noun_runs(name) => self.sip_target(sip),
                _ => {
                    let (code, message) = support::unsupported_dial_noun(name);
                    self.alert(code, Level::Error, message, url.clone());
                    continue;
                }
            };
            match target {
                Ok(target) => targets.push(target),
                Err(error) => {
                    let params = self.params();
                    return self.execution_failure(error, params);
                }
            }
        }
        if !targets.is_empty() {
            self.ring(dial, targets);
        }
    }

    /// A hold document's URL resolved: `None` when not given (or empty); 11100 when unusable.
    pub(crate) fn wait_url(
        &mut self,
        written: Option<&str>,
        method: Method,
    ) -> Result<Option<WaitUrl>, UrlError> {
        match written.map(str::trim).filter(|url| !url.is_empty()) {
            Some(written) => Ok(Some(WaitUrl {
                url: self.program.resolve(written)?,
                method,
            })),
            None => Ok(None),
        }
    }

    /// `<Dial><Conference>`: the caller is answered and joins; the `<Dial>` waits for
    /// `DialEnded`, holding meanwhile if the driver says the conference has not started.
    fn start_conference(&mut self, dial: Dial, conference: Conference) {
        let wait = match self.wait_url(conference.wait_url.as_deref(), conference.wait_method) {
            Ok(wait) => wait,
            Err(error) => {
                let params = self.params();
                return self.execution_failure(error, params);
            }
        };
        let status_callback = self
            .resolve_callback(conference.status_callback.as_deref())
            .map(|url| Callback {
                url,
                method: conference.status_callback_method,
                events: words(&conference.status_callback_event),
            });
        self.ensure_answered();
        self.emit(Action::JoinConference(JoinConference {
            name: conference.name,
            muted: conference.muted,
            beep: conference.beep.keyword().to_owned(),
            start_conference_on_enter: conference.start_conference_on_enter,
            end_conference_on_exit: conference.end_conference_on_exit,
            wait: wait.clone(),
            max_participants: conference.max_participants,
            record: conference.record.keyword() == "record-from-start",
            status_callback,
            label: conference.participant_label,
        }));
        self.step = Step::Dial(DialRun::new(&dial, wait));
    }

    /// `<Dial><Queue>`: the caller is answered and bridged with the queue's front caller.
    fn start_dequeue(&mut self, dial: Dial, queue: Queue) {
        let url = match self.wait_url(queue.url.as_deref(), queue.method) {
            Ok(url) => url,
            Err(error) => {
                let params = self.params();
                return self.execution_failure(error, params);
            }
        };
        self.ensure_answered();
        self.emit(Action::DequeueCall(DequeueCall {
            name: queue.name,
            url,
            timeout_s: dial.timeout,
        }));
        self.step = Step::Dial(DialRun::new(&dial, None));
    }

    /// A `<Number>` with its whisper URL (11100 when unusable) and status callback resolved.
    fn dial_target(&mut self, number: &Number) -> Result<DialTarget, UrlError> {
        let mut target = self.leg_target(number.phone_number.clone(), &number.callbacks)?;
        target.send_digits = number.send_digits.clone();
        Ok(target)
    }

    /// A `<Sip>`: its URI (the text, else the first `<Uri>`) and credentials.
    fn sip_target(&mut self, sip: &Sip) -> Result<DialTarget, UrlError> {
        let first = sip.uris.first();
        let uri = if sip.uri.is_empty() {
            first.map(|uri| uri.uri.clone()).unwrap_or_default()
        } else {
            sip.uri.clone()
        };
        let username = sip
            .username
            .clone()
            .or_else(|| first.and_then(|uri| uri.username.clone()));
        let password = sip
            .password
            .clone()
            .or_else(|| first.and_then(|uri| uri.password.clone()));
        let mut target = self.leg_target(uri, &sip.callbacks)?;
        target.sip_auth = username.map(|username| (username, password.unwrap_or_default()));
        Ok(target)
    }

    fn leg_target(
        &mut self,
        number: String,
        callbacks: &LegCallbacks,
    ) -> Result<DialTarget, UrlError> {
        let whisper = match callbacks.url.as_deref() {
            Some(written) => Some(self.program.resolve(written)?),
            None => None,
        };
        let status_callback = self
            .resolve_callback(callbacks.status_callback.as_deref())
            .map(|url| Callback {
                url,
                method: callbacks.status_callback_method,
                events: words(&callbacks.status_callback_event),
            });
        Ok(DialTarget {
            number,
            sip_auth: None,
            send_digits: None,
            url: whisper,
            method: callbacks.method,
            status_callback,
        })
    }

    /// Answers the caller first, unless `answerOnBridge` keeps it ringing until the child
    /// answers (`DialConnected`).
    fn ring(&mut self, dial: Dial, targets: Vec<DialTarget>) {
        let run = DialRun::new(&dial, None);
        if !dial.answer_on_bridge {
            self.ensure_answered();
        }
        let recording_status_callback = self
            .resolve_callback(dial.recording_status_callback.as_deref())
            .map(|url| Callback {
                url,
                method: dial.recording_status_callback_method,
                events: words(&dial.recording_status_callback_event),
            });
        self.emit(Action::Dial(action::Dial {
            targets,
            timeout_s: dial.timeout,
            time_limit_s: dial.time_limit,
            caller_id: dial.caller_id.unwrap_or_else(|| self.setup.from.clone()),
            hangup_on_star: dial.hangup_on_star,
            record: dial.record,
            recording_status_callback,
            answer_on_bridge: dial.answer_on_bridge,
            ring_tone: dial.ring_tone,
            sequential: dial.sequential,
        }));
        self.step = Step::Dial(run);
    }

    pub(crate) fn on_dial_connected(&mut self) {
        if matches!(self.step, Step::Dial(_)) {
            self.ensure_answered();
        }
    }

    pub(crate) fn dial_digits(&mut self, mut run: Box<DialRun>, digits: &str) {
        if run.hangup_on_star && !run.ending && digits.contains('*') {
            self.emit(Action::EndDial);
            run.ending = true;
        }
        self.step = Step::Dial(run);
    }

    pub(crate) fn dial_caller_hung_up(&mut self, mut run: Box<DialRun>) {
        if !run.ending {
            self.emit(Action::EndDial);
            run.ending = true;
        }
        if run.action.is_none() {
            return self.hang_up(HangupBy::Caller);
        }
        run.caller_hung_up = true;
        run.grace_until_ms = Some(self.now_ms.saturating_add(STOP_GRACE_MS));
        self.step = Step::Dial(run);
    }

    pub(crate) fn dial_timer(&mut self, run: Box<DialRun>) {
        match run.grace_until_ms {
            Some(until) if self.now_ms >= until => self.hang_up(HangupBy::Caller),
            _ => self.step = Step::Dial(run),
        }
    }

    pub(crate) fn on_dial_ended(&mut self, outcome: DialOutcome) {
        self.end_hold();
        let run = match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Dial(run) => run,
            other => return self.step = other,
        };
        self.emit(Action::DialResult(DialResult {
            status: outcome.status,
            dial_call_sid: outcome.dial_call_sid.clone(),
            duration_s: outcome.duration_s,
            bridged: outcome.bridged,
        }));
        if outcome.bridged {
            // The caller talked to someone: that is caller input for the document limit.
            self.documents_without_input = 0;
        }
        let extra = outcome_params(outcome);
        let (action, purpose) = (run.action.as_deref(), FetchPurpose::DialAction);
        if run.caller_hung_up {
            self.request_action_after_hangup(action, run.method, extra, purpose, "Dial");
            return self.hang_up(HangupBy::Caller);
        }
        if action.is_some() {
            let mut params = self.params();
            params.extend(extra);
            self.request_action(action, run.method, params, purpose, "Dial");
        }
    }
}

/// §3.6 parameters.
fn outcome_params(outcome: DialOutcome) -> Params {
    let mut params = Params::new();
    push(&mut params, "DialCallStatus", outcome.status.as_str());
    push(
        &mut params,
        "DialCallSid",
        outcome.dial_call_sid.into_string(),
    );
    push(
        &mut params,
        "DialCallDuration",
        outcome.duration_s.to_string(),
    );
    push(&mut params, "DialBridged", outcome.bridged.to_string());
    if let Some(code) = outcome.sip_response_code {
        push(&mut params, "SipResponseCode", code.to_string());
    }
    if let Some(recording) = outcome.recording {
        push(&mut params, "RecordingUrl", recording.url);
        push(&mut params, "RecordingSid", recording.sid.into_string());
        push(
            &mut params,
            "RecordingDuration",
            recording.duration_s.to_string(),
        );
    }
    params
}
