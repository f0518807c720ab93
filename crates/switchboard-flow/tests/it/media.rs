//! Say, Play, Pause, Hangup, Reject, Redirect and Sms, and when the call is answered.

use crate::{check, digits, played, timer};

const START: &str = "status ringing\nfetch POST https://app.example.com/voice Initial [ringing]";

#[test]
fn say_with_loop_voice_and_language_answers_then_runs_out() {
    check(
        r#"<Say loop="2" voice="Polly.Joanna" language="en-GB">Hello   there</Say>"#,
        vec![(1500, played())],
        &format!(
            "{START}
            answer
            status in-progress
            say twiml loop=2 voice=Polly.Joanna lang=en-GB: Hello there
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn play_url_digits_and_loop_zero() {
    let cases = [
        (
            r#"<Play loop="0">hold.mp3</Play>"#,
            "play https://app.example.com/hold.mp3 loop=0",
        ),
        (r#"<Play digits="1w2#"/>"#, "play digits=1w2# loop=1"),
        (
            r#"<Play>https://cdn.example/a.wav</Play>"#,
            "play https://cdn.example/a.wav loop=1",
        ),
    ];
    for (document, play) in cases {
        check(
            document,
            vec![(10, played())],
            &format!(
                "{START}
                answer
                status in-progress
                {play}
                hangup twiml
                status completed"
            ),
        );
    }
}

#[test]
fn leading_pause_rings_and_answers_at_the_first_media_verb() {
    check(
        r#"<Pause length="3"/><Say>Hi</Say>"#,
        vec![(2999, timer()), (3000, timer()), (4000, played())],
        &format!(
            "{START}
            pause 3
            answer
            status in-progress
            say twiml loop=1 voice=- lang=en-US: Hi
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn pause_deadline_is_reported_by_poll_timeout() {
    let mut harness = crate::Harness::inbound();
    harness.feed(200, crate::Feed::Doc(r#"<Pause length="2"/>"#));
    assert_eq!(harness.call.poll_timeout(), Some(2200));
    harness.feed(2200, timer());
    assert_eq!(harness.call.poll_timeout(), None);
    assert!(harness.call.is_finished());
}

#[test]
fn hangup_and_reject() {
    let cases = [
        (
            "<Hangup/><Say>never</Say>",
            "answer\nstatus in-progress\nhangup twiml\nstatus completed",
        ),
        (r#"<Reject reason="busy"/>"#, "reject busy\nstatus busy"),
        ("<Reject/>", "reject rejected\nstatus no-answer"),
        (
            "<Response/>",
            "answer\nstatus in-progress\nhangup twiml\nstatus completed",
        ),
    ];
    for (document, tail) in cases {
        check(document, vec![], &format!("{START}\n{tail}"));
    }
}

#[test]
fn reject_after_answering_hangs_up_completed() {
    check(
        "<Say>Hi</Say><Reject/>",
        vec![(5, played())],
        &format!(
            "{START}
            answer
            status in-progress
            say twiml loop=1 voice=- lang=en-US: Hi
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn redirect_resolves_relative_urls_and_abandons_the_rest() {
    check(
        r#"<Redirect method="GET">next?x=1</Redirect><Say>never</Say>"#,
        vec![(50, crate::Feed::Doc("<Hangup/>"))],
        &format!(
            "{START}
            redirect https://app.example.com/next?x=1
            fetch GET https://app.example.com/next?x=1 Redirect [ringing]
            answer
            status in-progress
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn sms_defaults_to_the_caller_and_our_number_and_carries_on() {
    check(
        "<Sms>Thanks</Sms><Sms to=\"+15005550009\" from=\"+15005550008\">Copy</Sms><Hangup/>",
        vec![],
        &format!(
            "{START}
            sms +15005550001 -> +15005550006: Thanks
            sms +15005550008 -> +15005550009: Copy
            answer
            status in-progress
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn sms_action_waits_for_the_message_and_requests_the_action() {
    let sms_sent = crate::Feed::In(switchboard_flow::Input::SmsSent {
        sms_sid: crate::sid(switchboard_core::SidKind::Message, 'e'),
        status: "sent".to_owned(),
    });
    check(
        r#"<Sms action="/sms-done">Hi</Sms><Say>never</Say>"#,
        vec![(5, digits("1")), (10, sms_sent)],
        &format!(
            "{START}
            sms +15005550001 -> +15005550006: Hi (wants result)
            fetch POST https://app.example.com/sms-done SmsAction [ringing] SmsSid=SMeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee SmsStatus=sent"
        ),
    );
}

#[test]
fn unsupported_verbs_alert_and_carry_on() {
    check(
        "<Connect><Room>r</Room></Connect><Hangup/>",
        vec![],
        &format!(
            "{START}
            alert 13750 Error: <Connect> is not supported by this engine yet; it was skipped
            answer
            status in-progress
            hangup twiml
            status completed"
        ),
    );
}
