//! `<Record>` and `<Dial>`.

use switchboard_flow::{Action, DialCallStatus, Direction, Initial};

use crate::{Feed, Harness, check, dial_ended, digits, hung_up, recorded, timer};

const START: &str = "status ringing
    fetch POST https://app.example.com/voice Initial [ringing]
    answer
    status in-progress";

const RECORDING: &str = "RecordingUrl=https://engine.example/Recordings/REdd \
    RecordingDuration=7 RecordingSid=REdddddddddddddddddddddddddddddddd";

#[test]
fn record_posts_the_recording_to_the_action() {
    check(
        r#"<Record action="/rec" maxLength="30" timeout="3" playBeep="false"/><Say>never</Say>"#,
        vec![(7000, recorded(7, ""))],
        &format!(
            "{START}
            record max=30 timeout=3 keys=1234567890*# beep=false
            record-result 7s
            fetch POST https://app.example.com/rec RecordAction [in-progress] {RECORDING} Digits="
        ),
    );
}

#[test]
fn record_finish_key_is_seen_by_the_interpreter() {
    check(
        r##"<Record finishOnKey="#"/>"##,
        vec![(3000, digits("5#")), (3100, recorded(7, ""))],
        &format!(
            "{START}
            record max=3600 timeout=5 keys=# beep=true
            stop-recording
            record-result 7s
            fetch POST https://app.example.com/voice RecordAction [in-progress] {RECORDING} Digits=#"
        ),
    );
}

#[test]
fn record_max_length_is_timed_by_the_interpreter() {
    let mut harness = Harness::inbound();
    harness.feed(0, Feed::Doc(r#"<Record maxLength="10"/>"#));
    assert_eq!(harness.call.poll_timeout(), Some(10_000));
    harness.feed(10_000, timer());
    assert_eq!(harness.actions.last(), Some(&Action::StopRecording));
    // No result within the grace period: treated as empty, the document carries on.
    harness.feed(15_000, timer());
    assert!(harness.call.is_finished());
    assert!(harness.transcript().contains("alert 12400 Warning"));
}

#[test]
fn empty_recording_skips_the_action() {
    check(
        r#"<Record action="/rec"/><Say>Nothing recorded</Say>"#,
        vec![(5000, recorded(0, "")), (6000, crate::played())],
        &format!(
            "{START}
            record max=3600 timeout=5 keys=1234567890*# beep=true
            record-result 0s
            say twiml loop=1 voice=- lang=en-US: Nothing recorded
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn caller_hanging_up_during_record_posts_digits_hangup() {
    check(
        r#"<Record action="/rec"/>"#,
        vec![(7000, hung_up()), (7100, recorded(7, ""))],
        &format!(
            "{START}
            record max=3600 timeout=5 keys=1234567890*# beep=true
            stop-recording
            record-result 7s
            fetch POST https://app.example.com/rec RecordAction [completed] reply-ignored {RECORDING} Digits=hangup
            hangup caller
            status completed"
        ),
    );
}

#[test]
fn dial_number_with_action_posts_the_dial_parameters() {
    check(
        r#"<Dial action="/dialed" timeout="20" timeLimit="600" callerId="+15005550002"><Number>+15005550003</Number></Dial><Say>never</Say>"#,
        vec![(30_000, dial_ended(DialCallStatus::Completed, 12, true))],
        &format!(
            "{START}
            dial +15005550003 timeout=20 limit=600 caller_id=+15005550002 star=false
            dial-result completed 12s bridged=true
            fetch POST https://app.example.com/dialed DialAction [in-progress] DialCallStatus=completed DialCallSid=CAcccccccccccccccccccccccccccccccc DialCallDuration=12 DialBridged=true"
        ),
    );
}

#[test]
fn dial_without_action_continues_with_the_next_verb() {
    check(
        "<Dial>+15005550003</Dial><Hangup/>",
        vec![(30_000, dial_ended(DialCallStatus::Busy, 0, false))],
        &format!(
            "{START}
            dial +15005550003 timeout=30 limit=14400 caller_id=+15005550006 star=false
            dial-result busy 0s bridged=false
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn hangup_on_star_ends_the_child_leg() {
    check(
        r#"<Dial hangupOnStar="true">+15005550003</Dial>"#,
        vec![
            (1000, digits("1*")),
            (1100, dial_ended(DialCallStatus::Completed, 1, true)),
        ],
        &format!(
            "{START}
            dial +15005550003 timeout=30 limit=14400 caller_id=+15005550006 star=true
            end-dial
            dial-result completed 1s bridged=true
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn sip_nouns_are_dialled_and_unsupported_nouns_are_error_alerts_not_silent_skips() {
    check(
        "<Dial><Client>alice</Client><Sip>sip:a@example.com</Sip><Number>+15005550003</Number></Dial>",
        vec![(10, dial_ended(DialCallStatus::NoAnswer, 0, false))],
        "status ringing
            fetch POST https://app.example.com/voice Initial [ringing]
            alert 13000 Error: <Dial><Client> is not supported by this engine yet; only <Number>, <Sip>, <Conference> and <Queue> are dialled
            answer
            status in-progress
            dial sip:a@example.com,+15005550003 timeout=30 limit=14400 caller_id=+15005550006 star=false
            dial-result no-answer 0s bridged=false
            hangup twiml
            status completed",
    );
    for noun in [
        "<Client>alice</Client>",
        "<Sim>DE00000000000000000000000000000000</Sim>",
    ] {
        let document: &'static str = format!("<Dial>{noun}</Dial><Say>next</Say>").leak();
        let got = crate::run(document, vec![]);
        assert!(got.contains("alert 13000 Error: <Dial><"), "{got}");
        assert!(
            got.contains("say twiml loop=1 voice=- lang=en-US: next"),
            "{got}"
        );
    }
}

#[test]
fn caller_hanging_up_during_dial_still_posts_the_action() {
    check(
        r#"<Dial action="/dialed">+15005550003</Dial>"#,
        vec![(5000, hung_up()), (5100, dial_ended(DialCallStatus::Completed, 4, true))],
        &format!(
            "{START}
            dial +15005550003 timeout=30 limit=14400 caller_id=+15005550006 star=false
            end-dial
            dial-result completed 4s bridged=true
            fetch POST https://app.example.com/dialed DialAction [completed] reply-ignored DialCallStatus=completed DialCallSid=CAcccccccccccccccccccccccccccccccc DialCallDuration=4 DialBridged=true
            hangup caller
            status completed"
        ),
    );
}

#[test]
fn whisper_url_is_resolved_and_whisper_legs_cannot_dial_and_bridge_at_the_end() {
    let got = crate::run(
        r#"<Dial><Number url="whisper">+15005550003</Number></Dial>"#,
        vec![],
    );
    assert!(got.contains("dial +15005550003"), "{got}");
    let mut setup = crate::setup(
        Direction::OutboundDial,
        Initial::Inline(crate::twiml(
            "<Say>Call for you</Say><Dial>+15005550004</Dial>",
        )),
    );
    setup.whisper = true;
    let mut harness = Harness::new(setup);
    harness.feed(
        0,
        Feed::In(switchboard_flow::Input::Progress(
            switchboard_flow::Progress::Answered,
        )),
    );
    harness.feed(900, crate::played());
    harness.feed(5000, hung_up());
    crate::assert_transcript(
        &harness.transcript(),
        "status initiated
        status in-progress
        say twiml loop=1 voice=- lang=en-US: Call for you
        alert 13201 Error: <Dial> cannot run in a whisper (<Number url>) document
        bridge
        hangup caller
        status completed",
    );
}

#[test]
fn whisper_target_carries_the_resolved_url() {
    let mut harness = Harness::inbound();
    harness.feed(
        0,
        Feed::Doc(r#"<Dial><Number url="/whisper" method="GET">+15005550003</Number></Dial>"#),
    );
    let dial = harness.actions.iter().find_map(|action| match action {
        Action::Dial(dial) => Some(dial.clone()),
        _ => None,
    });
    let target = &dial.expect("a dial action").targets[0];
    assert_eq!(
        target.url.as_deref(),
        Some("https://app.example.com/whisper")
    );
    assert_eq!(target.method, switchboard_twiml::Method::Get);
}

#[test]
fn sip_targets_carry_their_uri_and_credentials() {
    let mut harness = Harness::inbound();
    harness.feed(
        0,
        Feed::Doc(
            r#"<Dial><Sip username="alice" password="secret">sip:bob@pbx.example.com:5070</Sip><Sip><Uri username="carol" password="pw">sip:carol@pbx.example.com</Uri></Sip></Dial>"#,
        ),
    );
    let dial = harness.actions.iter().find_map(|action| match action {
        Action::Dial(dial) => Some(dial.clone()),
        _ => None,
    });
    let targets = dial.expect("a dial action").targets;
    assert_eq!(targets[0].number, "sip:bob@pbx.example.com:5070");
    assert_eq!(
        targets[0].sip_auth,
        Some(("alice".to_owned(), "secret".to_owned()))
    );
    assert_eq!(targets[1].number, "sip:carol@pbx.example.com");
    assert_eq!(
        targets[1].sip_auth,
        Some(("carol".to_owned(), "pw".to_owned()))
    );
}

#[test]
fn answer_on_bridge_keeps_the_caller_ringing_until_the_child_answers() {
    check(
        r#"<Dial answerOnBridge="true">+15005550003</Dial>"#,
        vec![
            (4000, Feed::In(switchboard_flow::Input::DialConnected)),
            (9000, dial_ended(DialCallStatus::Completed, 5, true)),
        ],
        "status ringing
        fetch POST https://app.example.com/voice Initial [ringing]
        dial +15005550003 timeout=30 limit=14400 caller_id=+15005550006 star=false
        answer
        status in-progress
        dial-result completed 5s bridged=true
        hangup twiml
        status completed",
    );
}

#[test]
fn record_and_dial_callbacks_are_resolved_against_the_document() {
    let mut harness = Harness::inbound();
    harness.feed(
        0,
        Feed::Doc(r#"<Record recordingStatusCallback="/rsc" recordingStatusCallbackEvent="in-progress completed"/>"#),
    );
    let Some(Action::Record(record)) = harness
        .actions
        .iter()
        .find(|a| matches!(a, Action::Record(_)))
    else {
        panic!("a record action");
    };
    let callback = record
        .recording_status_callback
        .as_ref()
        .expect("a callback");
    assert_eq!(callback.url, "https://app.example.com/rsc");
    assert_eq!(callback.events, ["in-progress", "completed"]);
}

#[test]
fn a_recorded_dial_sends_the_recording_parameters() {
    let ended = Feed::In(switchboard_flow::Input::DialEnded(
        switchboard_flow::DialOutcome {
            status: DialCallStatus::Completed,
            dial_call_sid: crate::sid(switchboard_core::SidKind::Call, 'c'),
            duration_s: 9,
            bridged: true,
            recording: Some(switchboard_flow::DialRecording {
                sid: crate::sid(switchboard_core::SidKind::Recording, 'd'),
                url: "https://engine.example/Recordings/REdd".to_owned(),
                duration_s: 9,
            }),
            sip_response_code: None,
        },
    ));
    let got = crate::run(
        r#"<Dial action="/d" record="record-from-answer">+15005550003</Dial>"#,
        vec![(9000, ended)],
    );
    assert!(
        got.ends_with(
            "DialBridged=true RecordingUrl=https://engine.example/Recordings/REdd \
             RecordingSid=REdddddddddddddddddddddddddddddddd RecordingDuration=9"
        ),
        "{got}"
    );
}

#[test]
fn a_live_update_stops_the_running_record_or_dial() {
    let cases = [
        ("<Record/>", "stop-recording"),
        ("<Dial>+15005550003</Dial>", "end-dial"),
        (r#"<Gather><Say>Menu</Say></Gather>"#, "stop-media"),
    ];
    for (document, stop) in cases {
        let mut harness = Harness::inbound();
        harness.feed(0, Feed::Doc(document));
        let update = switchboard_flow::Initial::Fetch {
            url: "https://other.example/u".to_owned(),
            method: switchboard_twiml::Method::Post,
        };
        harness.feed(100, Feed::In(switchboard_flow::Input::LiveUpdate(update)));
        // A late result of the abandoned verb is ignored.
        harness.feed(150, recorded(3, ""));
        harness.feed(150, dial_ended(DialCallStatus::Completed, 1, true));
        assert!(
            harness.transcript().ends_with(&format!(
                "{stop}\nfetch POST https://other.example/u LiveUpdate [in-progress]"
            )),
            "{}",
            harness.transcript()
        );
    }
}
