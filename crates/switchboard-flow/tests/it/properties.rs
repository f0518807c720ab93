//! Property tests: random input sequences never panic, a terminal status is final and nothing
//! follows it; a driver that honours the drive-loop contract always brings a call to a terminal
//! status, and never finds it waiting for nothing.

use proptest::prelude::*;
use switchboard_core::SidKind;
use switchboard_flow::{
    Action, ApiEnd, Call, CallStatus, DialCallStatus, DialOutcome, Direction, Initial, Input,
    Progress,
};
use switchboard_twiml::Method;

use crate::{setup, sid, twiml};

const POOL: &[&str] = &[
    "<Say>Hi</Say>",
    r#"<Play loop="2">a.mp3</Play>"#,
    r#"<Pause length="2"/><Say>late</Say>"#,
    r#"<Gather numDigits="1" action="/g"><Say>Menu</Say></Gather><Say>none</Say>"#,
    r#"<Gather input="speech dtmf" bargeIn="false"><Play digits="12"/><Pause/></Gather>"#,
    r#"<Gather actionOnEmptyResult="true" timeout="1"/>"#,
    r#"<Record action="/r" maxLength="5"/>"#,
    "<Record/><Say>after</Say>",
    r#"<Dial action="/d" hangupOnStar="true">+15005550003</Dial>"#,
    "<Dial><Client>x</Client></Dial><Say>next</Say>",
    "<Dial>+15005550003</Dial><Hangup/>",
    "<Redirect>/loop</Redirect>",
    r#"<Sms action="/s">x</Sms>"#,
    r#"<Sms>x</Sms><Reject reason="busy"/>"#,
    "<Reject/>",
    "<Hangup/>",
    "<Response/>",
    "<Enqueue>q</Enqueue><Say>x</Say>",
    "<Gather/>",
    r#"<Dial><Number url="w">+15005550003</Number></Dial>"#,
    r#"<Dial action="/d"><Conference waitUrl="/w">room</Conference></Dial><Say>x</Say>"#,
    r#"<Enqueue action="/q" waitUrl="/h">q</Enqueue>"#,
    "<Dial><Queue>q</Queue></Dial><Leave/>",
    "<Say>hold</Say><Leave/><Pause/>",
];

const URLS: &[Option<&str>] = &[
    Some("https://app.example.com/voice"),
    Some("https://b.example/x/y"),
    None,
];

fn document(index: usize, url: usize) -> Input {
    Input::Document {
        document: twiml(POOL[index % POOL.len()]),
        url: URLS[url % URLS.len()].map(str::to_owned),
        from_fallback: url % 2 == 1,
        warnings: Vec::new(),
    }
}

fn dial_ended(choice: u8) -> Input {
    let statuses = [
        DialCallStatus::Completed,
        DialCallStatus::Busy,
        DialCallStatus::NoAnswer,
        DialCallStatus::Failed,
        DialCallStatus::Canceled,
    ];
    Input::DialEnded(DialOutcome {
        status: statuses[usize::from(choice) % statuses.len()],
        dial_call_sid: sid(SidKind::Call, 'c'),
        duration_s: u32::from(choice % 3),
        bridged: choice.is_multiple_of(2),
        recording: None,
        sip_response_code: None,
    })
}

fn recording(choice: u8) -> Input {
    Input::RecordingFinished {
        recording_sid: sid(SidKind::Recording, 'd'),
        recording_url: "https://engine.example/Recordings/RE".to_owned(),
        duration_s: u32::from(choice % 3),
        digits: if choice.is_multiple_of(4) {
            "#".to_owned()
        } else {
            String::new()
        },
    }
}

/// Any input at all, from a small alphabet of shapes.
fn arbitrary_input(kind: u8, choice: u8) -> Input {
    let choice_usize = usize::from(choice);
    match kind % 18 {
        0 | 1 => document(choice_usize, choice_usize / 7),
        2 => Input::TextResponse(format!("text {choice}")),
        3 => Input::AudioResponse {
            url: "https://a.example/x.wav".to_owned(),
        },
        4 if choice.is_multiple_of(2) => Input::NoUsableTwiml,
        4 => match document(choice_usize, choice_usize / 7) {
            Input::Document { document, .. } => Input::LastResort(document),
            other => other,
        },
        5 => Input::Progress(
            [
                Progress::Initiated,
                Progress::Ringing,
                Progress::Answered,
                Progress::Busy,
                Progress::NoAnswer,
                Progress::Failed,
            ][choice_usize % 6],
        ),
        6 => Input::Digits(["1", "*", "#", "12#", "w9", ""][choice_usize % 6].to_owned()),
        7 => Input::Speech {
            result: "yes".to_owned(),
            confidence: [0.5, f64::NAN, -3.0, 2.0][choice_usize % 4],
        },
        8 | 9 => Input::PlaybackFinished,
        10 => recording(choice),
        11 => dial_ended(choice),
        12 => Input::SmsSent {
            sms_sid: sid(SidKind::Message, 'e'),
            status: "sent".to_owned(),
        },
        13 => Input::CallerHungUp,
        14 => Input::ApiEnd(if choice.is_multiple_of(2) {
            ApiEnd::Completed
        } else {
            ApiEnd::Canceled
        }),
        15 if choice.is_multiple_of(3) => Input::DialConnected,
        15 if choice % 3 == 1 => Input::MachineDetected {
            answered_by: ["human", "machine_start", "unknown"][choice_usize % 3].to_owned(),
            duration_ms: u32::from(choice) * 20,
        },
        15 => Input::Timer,
        16 if choice.is_multiple_of(2) => Input::Waiting(choice.is_multiple_of(4)),
        16 => Input::QueueEnded {
            result: ["bridged", "hangup", "error"][choice_usize % 3].to_owned(),
            queue_sid: "QU1".to_owned(),
            queue_time_s: u32::from(choice),
        },
        _ => Input::LiveUpdate(if choice.is_multiple_of(2) {
            Initial::Inline(twiml(POOL[choice_usize % POOL.len()]))
        } else {
            Initial::Fetch {
                url: "https://u.example/".to_owned(),
                method: Method::Get,
            }
        }),
    }
}

fn new_call(direction: u8, inline: Option<u8>, whisper: bool, max_documents: u32) -> Call {
    let direction = [
        Direction::Inbound,
        Direction::OutboundApi,
        Direction::OutboundDial,
    ][usize::from(direction) % 3];
    let initial = match inline {
        Some(index) => Initial::Inline(twiml(POOL[usize::from(index) % POOL.len()])),
        None => Initial::Fetch {
            url: crate::VOICE_URL.to_owned(),
            method: Method::Post,
        },
    };
    let mut setup = setup(direction, initial);
    setup.whisper = whisper;
    setup.max_documents = max_documents;
    // Synchronous machine detection on every other outbound leg.
    setup.machine_detection = direction != Direction::Inbound && max_documents.is_multiple_of(2);
    Call::new(setup)
}

/// Checks the output invariants over everything drained so far.
struct Checker {
    terminal: Option<CallStatus>,
    answers: usize,
    previous: Option<Action>,
}

impl Checker {
    fn drain(&mut self, call: &mut Call) {
        while let Some(action) = call.poll_action() {
            assert!(
                self.terminal.is_none(),
                "{action:?} emitted after the terminal status"
            );
            match &action {
                Action::Answer => self.answers += 1,
                Action::StatusChanged(status) if status.is_terminal() => {
                    let ended_by_verb = matches!(
                        self.previous,
                        Some(Action::Hangup { .. } | Action::Reject { .. })
                    );
                    let never_connected = matches!(
                        status,
                        CallStatus::Busy | CallStatus::NoAnswer | CallStatus::Failed
                    );
                    assert!(
                        ended_by_verb || never_connected,
                        "{status} after {:?}",
                        self.previous
                    );
                    self.terminal = Some(*status);
                }
                _ => {}
            }
            self.previous = Some(action);
        }
        assert!(self.answers <= 1, "answered twice");
        if let Some(terminal) = self.terminal {
            assert_eq!(call.status(), terminal);
            assert!(call.is_finished());
            assert_eq!(call.poll_timeout(), None);
        }
    }
}

proptest! {
    // 256 cases by default; `PROPTEST_CASES` raises it (ProptestConfig::default reads it).

    #[test]
    fn random_inputs_never_break_the_invariants(
        direction in any::<u8>(),
        inline in proptest::option::of(any::<u8>()),
        whisper in any::<bool>(),
        max_documents in 0u32..6,
        inputs in proptest::collection::vec((0u64..20_000, any::<u8>(), any::<u8>()), 0..60),
    ) {
        let mut call = new_call(direction, inline, whisper, max_documents);
        let mut checker = Checker { terminal: None, answers: 0, previous: None };
        checker.drain(&mut call);
        let mut now = 0u64;
        for (delta, kind, choice) in inputs {
            // Time sometimes goes backwards: the interpreter must cope.
            now = if kind % 29 == 0 { now.saturating_sub(delta) } else { now + delta };
            call.handle_input(now, arbitrary_input(kind, choice));
            checker.drain(&mut call);
        }
    }
}

/// What the driver owes the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owed {
    Nothing,
    Answer,
    Document,
    Media,
    Recording,
    DialEnd,
    SmsSent,
    /// A leg with synchronous machine detection was answered: its result is owed.
    Detection,
}

fn owed_after(owed: Owed, action: &Action, detecting: bool) -> Owed {
    match action {
        Action::StatusChanged(CallStatus::InProgress) if detecting => Owed::Detection,
        Action::Fetch(fetch) if !fetch.reply_ignored => Owed::Document,
        Action::ExecutionFailed(_) => Owed::Document,
        Action::Say(_) | Action::Play(_) => Owed::Media,
        Action::StopMedia if owed == Owed::Media => Owed::Nothing,
        Action::Record(_) => Owed::Recording,
        Action::Dial(_) => Owed::DialEnd,
        Action::SendSms(sms) if sms.wants_result => Owed::SmsSent,
        _ => owed,
    }
}

/// The driver's answer to what it owes, chosen by `choice`.
fn honour(owed: Owed, choice: u8, fetched: usize) -> Option<Input> {
    let input = match owed {
        Owed::Nothing => return None,
        Owed::Answer => Input::Progress(
            [
                Progress::Answered,
                Progress::Answered,
                Progress::Busy,
                Progress::Ringing,
            ][usize::from(choice) % 4],
        ),
        Owed::Document => match choice % 8 {
            0 => Input::NoUsableTwiml,
            1 => Input::TextResponse("spoken".to_owned()),
            2 => Input::AudioResponse {
                url: "https://a.example/x.wav".to_owned(),
            },
            _ => document(usize::from(choice) + fetched, usize::from(choice / 3)),
        },
        Owed::Media if choice.is_multiple_of(5) => Input::Digits("1".to_owned()),
        Owed::Media => Input::PlaybackFinished,
        Owed::Recording => recording(choice),
        Owed::DialEnd if choice.is_multiple_of(3) => Input::DialConnected,
        Owed::DialEnd => dial_ended(choice),
        Owed::Detection => Input::MachineDetected {
            answered_by: "human".to_owned(),
            duration_ms: u32::from(choice) * 20,
        },
        Owed::SmsSent => Input::SmsSent {
            sms_sid: sid(SidKind::Message, 'e'),
            status: "sent".to_owned(),
        },
    };
    Some(input)
}

proptest! {
    // 256 cases by default; `PROPTEST_CASES` raises it.

    #[test]
    fn a_driver_that_keeps_the_contract_always_ends_the_call(
        direction in 0u8..2,
        choices in proptest::collection::vec(any::<u8>(), 1..200),
        hang_up_after in 0usize..200,
    ) {
        let mut call = new_call(direction, None, false, 50);
        let mut owed = if direction == 0 { Owed::Nothing } else { Owed::Answer };
        let mut now = 0u64;
        let mut steps = 0usize;
        let mut partial = false;
        // A conference, queue or dequeue the driver owes an end (and maybe `Waiting`) for.
        let mut room: Option<bool> = None;
        while !call.is_finished() {
            while let Some(action) = call.poll_action() {
                owed = owed_after(owed, &action, call.setup().machine_detection);
                match action {
                    Action::JoinConference(_) | Action::DequeueCall(_) => room = Some(false),
                    Action::Enqueue(_) => room = Some(true),
                    Action::DialResult(_) | Action::EnqueueResult { .. } => room = None,
                    _ => {}
                }
            }
            if call.is_finished() {
                break;
            }
            prop_assert!(steps < 2_000, "the call did not end");
            let choice = choices[steps % choices.len()];
            steps += 1;
            now += 250;
            let stuck = owed == Owed::Nothing && call.poll_timeout().is_none();
            let input = if steps == hang_up_after {
                Input::CallerHungUp
            } else if let Some(queue) = room.filter(|_| choice.is_multiple_of(4) || stuck) {
                room = None;
                owed = Owed::Nothing;
                if queue {
                    Input::QueueEnded {
                        result: ["bridged", "queue-full", "leave"][usize::from(choice) % 3].to_owned(),
                        queue_sid: "QU1".to_owned(),
                        queue_time_s: u32::from(choice),
                    }
                } else {
                    dial_ended(choice)
                }
            } else if room.is_some() && choice % 4 == 1 {
                Input::Waiting(choice % 8 == 1)
            } else if let Some(input) = honour(owed, if partial { 1 } else { choice }, steps) {
                // Ringing does not answer, and digits do not end playback (unless barge-in
                // stops it, which `StopMedia` reports); the step after one of those answers
                // in full (choice 1), as a real peer eventually does.
                partial = matches!(
                    input,
                    Input::Progress(Progress::Ringing) | Input::Digits(_) | Input::DialConnected
                );
                if !partial {
                    owed = Owed::Nothing;
                }
                input
            } else if let Some(deadline) = call.poll_timeout() {
                now = now.max(deadline);
                Input::Timer
            } else {
                panic!("the call waits for nothing: {call:?}");
            };
            call.handle_input(now, input);
        }
        prop_assert!(call.status().is_terminal());
    }
}
