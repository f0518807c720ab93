//! The integration tests of `switchboard-flow`: one binary, one module per concern.
//!
//! Scenario tests are data: a TwiML document, the inputs fed at given times, and the expected
//! transcript of actions, one line per action (see [`render`]). Fetch lines show only the
//! parameters beyond the §3.2 set, which `params.rs` checks in full.

mod documents;
mod gather;
mod media;
mod outbound;
mod params;
mod properties;
mod record_dial;
mod rooms;
mod stream;
mod urls;

use switchboard_core::{Sid, SidKind};
use switchboard_flow::{
    Action, Call, CallSetup, DialCallStatus, DialOutcome, Direction, Initial, Input, PlayMedia,
    base_params,
};
use switchboard_twiml::{Context, Document, Method, parse};

pub const VOICE_URL: &str = "https://app.example.com/voice";

/// A SID of `kind` whose hex digits are all `digit`.
pub fn sid(kind: SidKind, digit: char) -> Sid {
    let text = format!("{}{}", kind.prefix(), digit.to_string().repeat(32));
    Sid::parse(kind, &text).unwrap_or_else(|| panic!("{text} is a well-formed SID"))
}

/// Parses a voice document (wrapped in `<Response>` unless it is one), panicking on rejection.
pub fn twiml(fragment: &str) -> Document {
    let text = if fragment.starts_with("<Response") {
        fragment.to_owned()
    } else {
        format!("<Response>{fragment}</Response>")
    };
    match parse(text.as_bytes(), Context::Voice) {
        Ok(parsed) => parsed.document,
        Err(rejected) => panic!("test TwiML rejected: {:?}", rejected.error),
    }
}

pub fn setup(direction: Direction, initial: Initial) -> CallSetup {
    CallSetup::new(
        sid(SidKind::Call, 'a'),
        sid(SidKind::Account, 'b'),
        "+15005550006",
        "+15005550001",
        direction,
        initial,
    )
}

/// Something to feed the call.
pub enum Feed {
    /// A document answering the last fetch, from that fetch's URL.
    Doc(&'static str),
    /// A document from an explicit URL (a fallback URL, say).
    DocFrom(&'static str, &'static str),
    In(Input),
}

pub fn digits(keys: &str) -> Feed {
    Feed::In(Input::Digits(keys.to_owned()))
}

pub fn played() -> Feed {
    Feed::In(Input::PlaybackFinished)
}

pub fn timer() -> Feed {
    Feed::In(Input::Timer)
}

pub fn hung_up() -> Feed {
    Feed::In(Input::CallerHungUp)
}

pub fn dial_ended(status: DialCallStatus, duration_s: u32, bridged: bool) -> Feed {
    Feed::In(Input::DialEnded(DialOutcome {
        status,
        dial_call_sid: sid(SidKind::Call, 'c'),
        duration_s,
        bridged,
        recording: None,
        sip_response_code: None,
    }))
}

pub fn recorded(duration_s: u32, digits: &str) -> Feed {
    Feed::In(Input::RecordingFinished {
        recording_sid: sid(SidKind::Recording, 'd'),
        recording_url: "https://engine.example/Recordings/REdd".to_owned(),
        duration_s,
        digits: digits.to_owned(),
    })
}

/// A call under test and everything it emitted.
pub struct Harness {
    pub call: Call,
    pub actions: Vec<Action>,
    last_fetch_url: Option<String>,
    base_len: usize,
}

impl Harness {
    pub fn new(setup: CallSetup) -> Self {
        let base_len = base_params(&setup, switchboard_flow::CallStatus::Ringing).len();
        let mut harness = Harness {
            call: Call::new(setup),
            actions: Vec::new(),
            last_fetch_url: None,
            base_len,
        };
        harness.drain();
        harness
    }

    /// An inbound call whose Voice URL is [`VOICE_URL`].
    pub fn inbound() -> Self {
        let initial = Initial::Fetch {
            url: VOICE_URL.to_owned(),
            method: Method::Post,
        };
        Harness::new(setup(Direction::Inbound, initial))
    }

    pub fn feed(&mut self, now_ms: u64, feed: Feed) {
        let input = match feed {
            Feed::Doc(text) => Input::Document {
                document: twiml(text),
                url: self.last_fetch_url.clone(),
                from_fallback: false,
                warnings: Vec::new(),
            },
            Feed::DocFrom(url, text) => Input::Document {
                document: twiml(text),
                url: Some(url.to_owned()),
                from_fallback: true,
                warnings: Vec::new(),
            },
            Feed::In(input) => input,
        };
        self.call.handle_input(now_ms, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(action) = self.call.poll_action() {
            if let Action::Fetch(fetch) = &action {
                self.last_fetch_url = Some(fetch.url.clone());
            }
            self.actions.push(action);
        }
    }

    pub fn transcript(&self) -> String {
        let lines: Vec<String> = self
            .actions
            .iter()
            .map(|a| render(a, self.base_len))
            .collect();
        lines.join("\n")
    }
}

/// Runs an inbound call: the Voice URL answers `document`, then `feeds` at their times; returns
/// the transcript.
pub fn run(document: &'static str, feeds: Vec<(u64, Feed)>) -> String {
    let mut harness = Harness::inbound();
    harness.feed(0, Feed::Doc(document));
    for (now_ms, feed) in feeds {
        harness.feed(now_ms, feed);
    }
    harness.transcript()
}

/// Compares transcripts line by line, ignoring indentation and blank lines.
pub fn assert_transcript(got: &str, expected: &str) {
    let expected: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let got: Vec<&str> = got.lines().collect();
    assert!(
        got == expected,
        "transcript differs\n--- got ---\n{}\n--- expected ---\n{}",
        got.join("\n"),
        expected.join("\n")
    );
}

/// Runs and compares (the common case).
pub fn check(document: &'static str, feeds: Vec<(u64, Feed)>, expected: &str) {
    assert_transcript(&run(document, feeds), expected);
}

/// One line per action.
pub fn render(action: &Action, base_len: usize) -> String {
    match action {
        Action::Fetch(fetch) => {
            let status = fetch
                .params
                .iter()
                .find(|(name, _)| name == "CallStatus")
                .map_or("?", |(_, value)| value.as_str());
            let extra: Vec<String> = fetch.params[base_len.min(fetch.params.len())..]
                .iter()
                .map(|(name, value)| format!(" {name}={value}"))
                .collect();
            let ignored = if fetch.reply_ignored {
                " reply-ignored"
            } else {
                ""
            };
            format!(
                "fetch {} {} {:?} [{status}]{ignored}{}",
                fetch.method,
                fetch.url,
                fetch.purpose,
                extra.concat()
            )
        }
        Action::ExecutionFailed(failure) => format!(
            "execution-failed {} {:?}: {}",
            failure.code.code, failure.error_url, failure.message
        ),
        Action::Say(say) => format!(
            "say {} loop={} voice={} lang={}: {}",
            say.source.as_str(),
            say.loop_count,
            say.voice.as_deref().unwrap_or("-"),
            say.language,
            say.text
        ),
        Action::Play(play) => match &play.media {
            PlayMedia::Url(url) => format!("play {url} loop={}", play.loop_count),
            PlayMedia::Digits(digits) => format!("play digits={digits} loop={}", play.loop_count),
        },
        Action::Pause { length_s } => format!("pause {length_s}"),
        Action::Gather(gather) => format!(
            "gather {:?} timeout={} num_digits={:?} finish={:?} barge_in={}",
            gather.input,
            gather.timeout_s,
            gather.num_digits,
            gather.finish_on_key,
            gather.barge_in
        ),
        Action::GatherResult(result) => format!(
            "gather-result digits={:?} speech={:?} key={:?}",
            result.digits, result.speech, result.finished_on_key
        ),
        Action::Record(record) => format!(
            "record max={} timeout={} keys={} beep={}",
            record.max_length_s, record.timeout_s, record.finish_on_key, record.play_beep
        ),
        Action::RecordResult { duration_s, .. } => format!("record-result {duration_s}s"),
        Action::Dial(dial) => {
            let targets: Vec<&str> = dial.targets.iter().map(|t| t.number.as_str()).collect();
            format!(
                "dial {} timeout={} limit={} caller_id={} star={}",
                targets.join(","),
                dial.timeout_s,
                dial.time_limit_s,
                dial.caller_id,
                dial.hangup_on_star
            )
        }
        Action::DialResult(result) => format!(
            "dial-result {} {}s bridged={}",
            result.status.as_str(),
            result.duration_s,
            result.bridged
        ),
        Action::SendSms(sms) => format!(
            "sms {} -> {}: {}{}",
            sms.from,
            sms.to,
            sms.body,
            if sms.wants_result {
                " (wants result)"
            } else {
                ""
            }
        ),
        Action::Redirect { url } => format!("redirect {url}"),
        Action::Hangup { by } => format!("hangup {}", by.as_str()),
        Action::Reject { reason } => format!("reject {reason}"),
        Action::Alert(alert) => format!(
            "alert {} {:?}: {}",
            alert.code.code, alert.level, alert.message
        ),
        Action::StatusChanged(status) => format!("status {status}"),
        Action::Answer => "answer".to_owned(),
        Action::StopMedia => "stop-media".to_owned(),
        Action::StopRecording => "stop-recording".to_owned(),
        Action::EndDial => "end-dial".to_owned(),
        Action::JoinConference(join) => format!(
            "join-conference {} wait={} start={} end={} muted={} label={}",
            join.name,
            join.wait.as_ref().map_or("-", |wait| wait.url.as_str()),
            join.start_conference_on_enter,
            join.end_conference_on_exit,
            join.muted,
            join.label.as_deref().unwrap_or("-"),
        ),
        Action::DequeueCall(dequeue) => format!(
            "dequeue {} url={} timeout={}",
            dequeue.name,
            dequeue.url.as_ref().map_or("-", |url| url.url.as_str()),
            dequeue.timeout_s
        ),
        Action::Enqueue(enqueue) => format!(
            "enqueue {} wait={}",
            enqueue.name,
            enqueue.wait.as_ref().map_or("-", |wait| wait.url.as_str())
        ),
        Action::LeaveQueue => "leave-queue".to_owned(),
        Action::EnqueueResult {
            result,
            queue_time_s,
        } => format!("enqueue-result {result} {queue_time_s}s"),
        Action::StartStream(open) | Action::ConnectStream(open) => {
            let parameters: Vec<String> = open
                .parameters
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            format!(
                "{} {} name={} track={} callback={} {} [{}]",
                if open.two_way {
                    "connect-stream"
                } else {
                    "start-stream"
                },
                open.url,
                open.name.as_deref().unwrap_or("-"),
                open.track,
                open.status_callback.as_deref().unwrap_or("-"),
                open.status_callback_method,
                parameters.join(" ")
            )
        }
        Action::StopStream { name } => format!("stop-stream {}", name.as_deref().unwrap_or("-")),
        Action::EndConnect => "end-connect".to_owned(),
        Action::Bridge => "bridge".to_owned(),
    }
}
