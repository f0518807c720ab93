//! `<Gather>`: prompts and barge-in, timeout, numDigits, finishOnKey, speech,
//! actionOnEmptyResult, the default action and the fall-through.

use switchboard_flow::Input;

use crate::{Feed, Harness, check, digits, hung_up, played, timer};

const START: &str = "status ringing
    fetch POST https://app.example.com/voice Initial [ringing]
    answer
    status in-progress";

const GATHER: &str = "gather [Dtmf] timeout=5 num_digits=None finish=Some('#') barge_in=true";

fn speech(result: &str) -> Feed {
    Feed::In(Input::Speech {
        result: result.to_owned(),
        confidence: 0.875,
    })
}

#[test]
fn digits_after_prompts_end_on_the_finish_key_and_post_to_the_action() {
    check(
        r#"<Gather action="/menu"><Say>Press</Say><Pause length="2"/></Gather><Say>never</Say>"#,
        vec![(1000, played()), (3000, timer()), (4000, digits("12#9"))],
        &format!(
            "{START}
            {GATHER}
            say twiml loop=1 voice=- lang=en-US: Press
            pause 2
            gather-result digits=\"12\" speech=None key=Some('#')
            fetch POST https://app.example.com/menu GatherAction [in-progress] Digits=12 FinishedOnKey=#"
        ),
    );
}

#[test]
fn barge_in_stops_the_prompt_and_num_digits_ends_input() {
    check(
        r#"<Gather numDigits="2"><Say>Long menu</Say><Say>More</Say></Gather>"#,
        vec![(500, digits("4")), (900, digits("27"))],
        &format!(
            "{START}
            gather [Dtmf] timeout=5 num_digits=Some(2) finish=Some('#') barge_in=true
            say twiml loop=1 voice=- lang=en-US: Long menu
            stop-media
            gather-result digits=\"42\" speech=None key=None
            fetch POST https://app.example.com/voice GatherAction [in-progress] Digits=42 FinishedOnKey="
        ),
    );
}

#[test]
fn speech_starting_stops_the_prompt_and_waits_for_the_result_past_the_timeout() {
    let mut harness = Harness::inbound();
    harness.feed(
        0,
        Feed::Doc(r#"<Gather input="speech" timeout="3" maxSpeechTime="20"><Say>Long menu</Say></Gather><Say>Nothing</Say>"#),
    );
    assert_eq!(harness.call.poll_timeout(), None, "the prompt plays");
    harness.feed(500, Feed::In(Input::SpeechStarted));
    // maxSpeechTime (20 s) plus the grace for its end and recognition (10 s).
    assert_eq!(harness.call.poll_timeout(), Some(30_500));
    harness.feed(4000, Feed::In(Input::SpeechUnrecognised));
    assert_eq!(
        harness.call.poll_timeout(),
        Some(7000),
        "the timeout runs again"
    );
    harness.feed(5000, Feed::In(Input::SpeechStarted));
    harness.feed(6000, speech("billing"));
    let transcript = harness.transcript();
    assert!(transcript.contains("stop-media"), "{transcript}");
    assert!(
        transcript.contains("GatherAction [in-progress] SpeechResult=billing Confidence=0.875"),
        "{transcript}"
    );
    assert_eq!(transcript.matches("stop-media").count(), 1, "{transcript}");
}

#[test]
fn without_barge_in_input_during_prompts_is_ignored() {
    check(
        r#"<Gather bargeIn="false" numDigits="1"><Say>Menu</Say></Gather>"#,
        vec![(100, digits("5")), (800, played()), (900, digits("6"))],
        &format!(
            "{START}
            gather [Dtmf] timeout=5 num_digits=Some(1) finish=Some('#') barge_in=false
            say twiml loop=1 voice=- lang=en-US: Menu
            gather-result digits=\"6\" speech=None key=None
            fetch POST https://app.example.com/voice GatherAction [in-progress] Digits=6 FinishedOnKey="
        ),
    );
}

#[test]
fn timeout_runs_from_the_last_digit() {
    let mut harness = Harness::inbound();
    harness.feed(0, Feed::Doc(r#"<Gather timeout="3"/>"#));
    assert_eq!(harness.call.poll_timeout(), Some(3000));
    harness.feed(2000, digits("1"));
    assert_eq!(harness.call.poll_timeout(), Some(5000));
    harness.feed(4999, timer());
    harness.feed(5000, timer());
    crate::assert_transcript(
        &harness.transcript(),
        &format!(
            "{START}
            gather [Dtmf] timeout=3 num_digits=None finish=Some('#') barge_in=true
            gather-result digits=\"1\" speech=None key=None
            fetch POST https://app.example.com/voice GatherAction [in-progress] Digits=1 FinishedOnKey="
        ),
    );
}

#[test]
fn no_input_falls_through_to_the_next_verb() {
    let cases = [
        // Timeout with nothing.
        (
            r#"<Gather timeout="1"/><Say>Bye</Say>"#,
            vec![(1000, timer())],
            "",
        ),
        // The finish key alone is no input (§10 question 14).
        (
            r#"<Gather/><Say>Bye</Say>"#,
            vec![(300, digits("#"))],
            "key=Some('#')",
        ),
    ];
    for (document, feeds, key) in cases {
        let key = if key.is_empty() { "key=None" } else { key };
        check(
            document,
            feeds.into_iter().chain([(9000, played())]).collect(),
            &format!(
                "{START}
                gather [Dtmf] timeout={} num_digits=None finish=Some('#') barge_in=true
                gather-result digits=\"\" speech=None {key}
                say twiml loop=1 voice=- lang=en-US: Bye
                hangup twiml
                status completed",
                if document.contains("timeout") { 1 } else { 5 }
            ),
        );
    }
}

#[test]
fn action_on_empty_result_requests_the_action_with_empty_digits() {
    check(
        r#"<Gather actionOnEmptyResult="true" action="empty" timeout="2"/>"#,
        vec![(2000, timer())],
        &format!(
            "{START}
            gather [Dtmf] timeout=2 num_digits=None finish=Some('#') barge_in=true
            gather-result digits=\"\" speech=None key=None
            fetch POST https://app.example.com/empty GatherAction [in-progress] Digits= FinishedOnKey="
        ),
    );
}

#[test]
fn speech_result_and_confidence() {
    check(
        r#"<Gather input="speech dtmf" action="/speech"><Say>Say it</Say></Gather>"#,
        vec![(700, speech("check my balance"))],
        &format!(
            "{START}
            gather [Speech, Dtmf] timeout=5 num_digits=None finish=Some('#') barge_in=true
            say twiml loop=1 voice=- lang=en-US: Say it
            stop-media
            gather-result digits=\"\" speech=Some(\"check my balance\") key=None
            fetch POST https://app.example.com/speech GatherAction [in-progress] SpeechResult=check my balance Confidence=0.875"
        ),
    );
}

#[test]
fn speech_is_ignored_by_a_dtmf_gather_and_digits_by_a_speech_gather() {
    check(
        r#"<Gather input="speech" timeout="1"/>"#,
        vec![(100, digits("1")), (1000, timer())],
        &format!(
            "{START}
            gather [Speech] timeout=1 num_digits=None finish=Some('#') barge_in=true
            gather-result digits=\"\" speech=None key=None
            hangup twiml
            status completed"
        ),
    );
    check(
        r#"<Gather timeout="1"/>"#,
        vec![(100, speech("hello")), (1000, timer())],
        &format!(
            "{START}
            {GATHER_1}
            gather-result digits=\"\" speech=None key=None
            hangup twiml
            status completed",
            GATHER_1 = GATHER.replace("timeout=5", "timeout=1")
        ),
    );
}

#[test]
fn caller_hanging_up_with_partial_digits_still_posts_the_action() {
    check(
        r#"<Gather action="/menu"/>"#,
        vec![(100, digits("12")), (200, hung_up())],
        &format!(
            "{START}
            {GATHER}
            fetch POST https://app.example.com/menu GatherAction [completed] reply-ignored Digits=12 FinishedOnKey=
            hangup caller
            status completed"
        ),
    );
}

#[test]
fn inline_twiml_without_action_is_11100_when_the_action_is_needed() {
    let initial = switchboard_flow::Initial::Inline(crate::twiml("<Gather numDigits=\"1\"/>"));
    let mut harness = Harness::new(crate::setup(switchboard_flow::Direction::Inbound, initial));
    harness.feed(10, digits("7"));
    crate::assert_transcript(
        &harness.transcript(),
        "status ringing
            answer
            status in-progress
            gather [Dtmf] timeout=5 num_digits=Some(1) finish=Some('#') barge_in=true
            gather-result digits=\"7\" speech=None key=None
            execution-failed 11100 None: <Gather> has no action and the document has no URL to default to (inline TwiML)",
    );
    let Some(switchboard_flow::Action::ExecutionFailed(failure)) = harness.actions.last() else {
        panic!("the last action is the execution failure");
    };
    assert!(
        failure
            .params
            .contains(&("Digits".to_owned(), "7".to_owned()))
    );
}

#[test]
fn barge_in_during_a_nested_pause_needs_no_stop_and_an_empty_finish_key_is_a_digit() {
    check(
        r##"<Gather finishOnKey=""><Pause length="3"/><Play>/beep.wav</Play></Gather>"##,
        vec![(1000, digits("#")), (2000, timer()), (5999, timer()), (6000, timer())],
        &format!(
            "{START}
            gather [Dtmf] timeout=5 num_digits=None finish=None barge_in=true
            pause 3
            gather-result digits=\"#\" speech=None key=None
            fetch POST https://app.example.com/voice GatherAction [in-progress] Digits=# FinishedOnKey="
        ),
    );
}

#[test]
fn nested_prompts_run_in_order_then_the_timeout_starts() {
    let mut harness = Harness::inbound();
    harness.feed(
        0,
        Feed::Doc(
            r#"<Gather timeout="2"><Say>One</Say><Pause length="1"/><Play digits="9"/></Gather>"#,
        ),
    );
    assert_eq!(harness.call.poll_timeout(), None, "a prompt is playing");
    harness.feed(700, played());
    assert_eq!(harness.call.poll_timeout(), Some(1700), "the nested pause");
    harness.feed(1700, timer());
    assert_eq!(harness.call.poll_timeout(), None, "the tones play");
    harness.feed(1900, played());
    assert_eq!(
        harness.call.poll_timeout(),
        Some(3900),
        "timeout after the last prompt"
    );
    harness.feed(3900, timer());
    assert!(
        harness
            .transcript()
            .ends_with("hangup twiml\nstatus completed")
    );
}
