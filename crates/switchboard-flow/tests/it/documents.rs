//! Documents and their answers: control transfer, fallback documents, text and audio answers,
//! no usable TwiML, the document limit, live updates, warnings and ending by caller or API.

use switchboard_core::error_code::SCHEMA_VALIDATION_WARNING;
use switchboard_flow::{ApiEnd, Initial, Input};
use switchboard_twiml::{Finding, Level, Method};

use crate::{Feed, Harness, assert_transcript, digits, hung_up, played};

const START: &str = "status ringing\nfetch POST https://app.example.com/voice Initial [ringing]";
const PROMPT: &str = "say platform loop=1 voice=- lang=en-US: We're sorry, an application error has occurred. Goodbye.";

fn feed_all(harness: &mut Harness, feeds: Vec<(u64, Feed)>) -> String {
    for (now_ms, feed) in feeds {
        harness.feed(now_ms, feed);
    }
    harness.transcript()
}

#[test]
fn no_usable_twiml_speaks_the_platform_prompt_then_hangs_up_completed() {
    let mut harness = Harness::inbound();
    let got = feed_all(
        &mut harness,
        vec![(15_000, Feed::In(Input::NoUsableTwiml)), (18_000, played())],
    );
    assert_transcript(
        &got,
        &format!("{START}\nanswer\nstatus in-progress\n{PROMPT}\nhangup engine\nstatus completed"),
    );
}

#[test]
fn text_and_audio_answers_are_spoken_or_played_then_hang_up() {
    let cases = [
        (
            Input::TextResponse("Hello from text".to_owned()),
            "say twiml loop=1 voice=- lang=en-US: Hello from text",
        ),
        (
            Input::AudioResponse {
                url: "https://app.example.com/voice".to_owned(),
            },
            "play https://app.example.com/voice loop=1",
        ),
    ];
    for (input, media) in cases {
        let mut harness = Harness::inbound();
        let got = feed_all(&mut harness, vec![(10, Feed::In(input)), (20, played())]);
        assert_transcript(
            &got,
            &format!(
                "{START}\nanswer\nstatus in-progress\n{media}\nhangup twiml\nstatus completed"
            ),
        );
    }
}

#[test]
fn a_fallback_document_resolves_relative_urls_against_the_fallback_url() {
    let mut harness = Harness::inbound();
    let fallback = Feed::DocFrom(
        "https://backup.example.org/ivr/fallback",
        r#"<Redirect>step2</Redirect>"#,
    );
    let got = feed_all(&mut harness, vec![(10, fallback)]);
    assert_transcript(
        &got,
        &format!(
            "{START}
            redirect https://backup.example.org/ivr/step2
            fetch POST https://backup.example.org/ivr/step2 Redirect [ringing]"
        ),
    );
}

#[test]
fn fifty_documents_without_input_end_the_call_with_an_alert() {
    let mut harness = Harness::inbound();
    for step in 1..=49 {
        harness.feed(step, Feed::Doc("<Redirect>/loop</Redirect>"));
    }
    let fetches = |h: &Harness| {
        h.actions
            .iter()
            .filter(|a| matches!(a, switchboard_flow::Action::Fetch(_)))
            .count()
    };
    assert_eq!(fetches(&harness), 50);
    harness.feed(50, Feed::Doc("<Redirect>/loop</Redirect>"));
    harness.feed(60, played());
    let got = harness.transcript();
    let expected_tail = format!(
        "redirect https://app.example.com/loop
alert 14106 Error: 50 documents were requested without caller input in between; the call is ended
answer
status in-progress
{PROMPT}
hangup engine
status completed"
    );
    assert!(got.ends_with(&expected_tail), "{got}");
    assert_eq!(fetches(&harness), 50);
}

#[test]
fn caller_input_resets_the_document_count() {
    let mut harness = Harness::inbound();
    for step in 1..=45 {
        harness.feed(step, Feed::Doc("<Redirect>/loop</Redirect>"));
    }
    harness.feed(100, Feed::Doc(r#"<Gather numDigits="1" action="/loop"/>"#));
    harness.feed(200, digits("1"));
    for step in 300..340 {
        harness.feed(step, Feed::Doc("<Redirect>/loop</Redirect>"));
    }
    assert!(!harness.transcript().contains("14106"));
    assert!(!harness.call.is_finished());
}

#[test]
fn control_transfer_abandons_the_rest_of_the_document() {
    let mut harness = Harness::inbound();
    let got = feed_all(
        &mut harness,
        vec![
            (
                0,
                Feed::Doc(r#"<Gather numDigits="1" action="/a"/><Say>unreached</Say>"#),
            ),
            (10, digits("3")),
            (20, Feed::Doc("<Say>From the action</Say>")),
            (30, played()),
        ],
    );
    assert!(!got.contains("unreached"), "{got}");
    assert!(
        got.ends_with(
            "say twiml loop=1 voice=- lang=en-US: From the action\nhangup twiml\nstatus completed"
        ),
        "{got}"
    );
}

#[test]
fn parse_warnings_become_warning_alerts() {
    let mut harness = Harness::inbound();
    let finding = Finding {
        code: SCHEMA_VALIDATION_WARNING,
        level: Level::Warning,
        message: "<Say> has no attribute `volume`; it is ignored".to_owned(),
        line: 1,
        column: 16,
    };
    harness.feed(
        5,
        Feed::In(Input::Document {
            document: crate::twiml("<Hangup/>"),
            url: Some(crate::VOICE_URL.to_owned()),
            from_fallback: false,
            warnings: vec![finding],
        }),
    );
    assert!(harness.transcript().contains(
        "alert 12200 Warning: line 1, column 16: <Say> has no attribute `volume`; it is ignored"
    ));
}

#[test]
fn live_update_stops_what_runs_and_fetches_the_new_url() {
    let mut harness = Harness::inbound();
    let update = Input::LiveUpdate(Initial::Fetch {
        url: "https://other.example/update".to_owned(),
        method: Method::Get,
    });
    let got = feed_all(
        &mut harness,
        vec![
            (0, Feed::Doc("<Say>Long message</Say><Say>unreached</Say>")),
            (500, Feed::In(update)),
            (600, played()),
            (700, Feed::Doc("<Hangup/>")),
        ],
    );
    assert_transcript(
        &got,
        &format!(
            "{START}
            answer
            status in-progress
            say twiml loop=1 voice=- lang=en-US: Long message
            stop-media
            fetch GET https://other.example/update LiveUpdate [in-progress]
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn live_update_with_inline_twiml_runs_it_at_once() {
    let mut harness = Harness::inbound();
    let update = Input::LiveUpdate(Initial::Inline(crate::twiml("<Hangup/>")));
    let got = feed_all(
        &mut harness,
        vec![
            (0, Feed::Doc(r#"<Pause length="60"/>"#)),
            (5000, Feed::In(update)),
        ],
    );
    assert_transcript(
        &got,
        &format!("{START}\npause 60\nanswer\nstatus in-progress\nhangup twiml\nstatus completed"),
    );
}

#[test]
fn caller_hanging_up_before_answer_is_canceled_after_is_completed() {
    let mut ringing = Harness::inbound();
    assert_transcript(
        &feed_all(&mut ringing, vec![(10, hung_up())]),
        &format!("{START}\nhangup caller\nstatus canceled"),
    );
    let mut answered = Harness::inbound();
    let got = feed_all(
        &mut answered,
        vec![(0, Feed::Doc("<Say>Hi</Say>")), (10, hung_up())],
    );
    assert!(got.ends_with("hangup caller\nstatus completed"), "{got}");
}

#[test]
fn api_end_completes_or_cancels() {
    let cases = [
        (None, ApiEnd::Completed, "hangup api\nstatus canceled"),
        (None, ApiEnd::Canceled, "hangup api\nstatus canceled"),
        (
            Some("<Say>Hi</Say>"),
            ApiEnd::Completed,
            "stop-media\nhangup api\nstatus completed",
        ),
    ];
    for (document, end, tail) in cases {
        let mut harness = Harness::inbound();
        if let Some(document) = document {
            harness.feed(0, Feed::Doc(document));
        }
        harness.feed(100, Feed::In(Input::ApiEnd(end)));
        assert!(
            harness.transcript().ends_with(tail),
            "{}",
            harness.transcript()
        );
    }
    // `canceled` does not end an answered call.
    let mut harness = Harness::inbound();
    harness.feed(0, Feed::Doc("<Say>Hi</Say>"));
    harness.feed(100, Feed::In(Input::ApiEnd(ApiEnd::Canceled)));
    assert!(!harness.call.is_finished());
}

#[test]
fn inputs_after_the_end_are_ignored() {
    let mut harness = Harness::inbound();
    harness.feed(0, Feed::Doc("<Hangup/>"));
    let before = harness.actions.len();
    for feed in [
        digits("1"),
        played(),
        hung_up(),
        Feed::Doc("<Say>late</Say>"),
    ] {
        harness.feed(10, feed);
    }
    assert_eq!(harness.actions.len(), before);
    assert_eq!(
        harness.call.status(),
        switchboard_flow::CallStatus::Completed
    );
}

#[test]
fn an_unusable_url_is_an_execution_failure_and_the_fallback_document_carries_on() {
    let mut harness = Harness::inbound();
    let got = feed_all(
        &mut harness,
        vec![
            (
                0,
                Feed::Doc("<Play>ftp://files.example/a.wav</Play><Say>unreached</Say>"),
            ),
            (
                10,
                Feed::DocFrom("https://backup.example.org/fb", "<Say>Fallback</Say>"),
            ),
            (20, played()),
        ],
    );
    assert_transcript(
        &got,
        &format!(
            "{START}
            execution-failed 11100 Some(\"https://app.example.com/voice\"): \"ftp://files.example/a.wav\" is a ftp URL; only http and https URLs can be fetched
            answer
            status in-progress
            say twiml loop=1 voice=- lang=en-US: Fallback
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn inline_twiml_with_a_relative_redirect_is_11100_without_an_error_url() {
    let initial = Initial::Inline(crate::twiml("<Redirect>next</Redirect>"));
    let harness = Harness::new(crate::setup(switchboard_flow::Direction::Inbound, initial));
    assert_transcript(
        &harness.transcript(),
        "status ringing
        execution-failed 11100 None: \"next\" is relative but the document has no URL to resolve it against (inline TwiML needs absolute URLs)",
    );
}

#[test]
fn a_last_resort_document_speaks_as_last_resort_and_its_fetches_run_as_usual() {
    let mut harness = Harness::inbound();
    let last_resort = crate::twiml(
        r#"<Gather numDigits="1" action="https://backup.example.com/menu"><Say>Press one</Say></Gather><Say>Still down</Say>"#,
    );
    harness.feed(10, Feed::In(Input::LastResort(last_resort)));
    harness.feed(20, played());
    harness.feed(30, digits("1"));
    // The action's answer is an ordinary document again.
    harness.feed(40, Feed::Doc("<Say>Back to normal</Say>"));
    let got = harness.transcript();
    assert!(
        got.contains("say last-resort loop=1 voice=- lang=en-US: Press one"),
        "{got}"
    );
    assert!(
        got.contains("fetch POST https://backup.example.com/menu Gather"),
        "{got}"
    );
    assert!(
        got.contains("say twiml loop=1 voice=- lang=en-US: Back to normal"),
        "{got}"
    );
    assert!(!got.contains("say platform"), "{got}");
}

#[test]
fn a_last_resort_is_ignored_when_no_document_is_awaited() {
    let mut harness = Harness::inbound();
    harness.feed(10, Feed::Doc("<Pause length=\"5\"/>"));
    let before = harness.transcript();
    harness.feed(
        20,
        Feed::In(Input::LastResort(crate::twiml("<Say>late</Say>"))),
    );
    assert_eq!(harness.transcript(), before);
}
