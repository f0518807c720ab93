//! Typed values, defaults, text rules and positions on hand-written documents.

use switchboard_twiml::verb::{Gather, GatherInput, GatherPrompt, SpeechTimeout};
use switchboard_twiml::{Content, Context, Level, Method, Noun, Verb, parse};

use crate::{clean, messaging, voice};

const IVR: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Gather action="menu?step=1" numDigits="1" timeout="7" input="dtmf speech">
    <Say voice="Polly.Joanna" language="en-GB">Press  1 for <emphasis level="strong">sales</emphasis>,
      2 for support.</Say>
    <Pause/>
  </Gather>
  <Say>We didn&apos;t get that.</Say>
  <Redirect method="GET">
     /start
  </Redirect>
</Response>"#;

#[test]
fn a_typical_ivr_has_typed_values_and_defaults() {
    let parsed = clean(voice(IVR));
    let [
        Verb::Gather(gather),
        Verb::Say(say),
        Verb::Redirect(redirect),
    ] = &parsed.document.verbs[..]
    else {
        panic!("unexpected verbs {:#?}", parsed.document.verbs);
    };
    let Gather {
        action,
        method,
        input,
        timeout,
        num_digits,
        finish_on_key,
        speech_timeout,
        ..
    } = gather;
    assert_eq!(
        action.as_deref(),
        Some("menu?step=1"),
        "relative URLs are kept as written"
    );
    assert_eq!((*method, *timeout, *num_digits), (Method::Post, 7, Some(1)));
    assert_eq!(input, &[GatherInput::Dtmf, GatherInput::Speech]);
    assert_eq!(
        (*finish_on_key, *speech_timeout),
        (Some('#'), SpeechTimeout::Seconds(7))
    );
    assert_eq!(
        (
            gather.profanity_filter,
            gather.barge_in,
            gather.max_speech_time
        ),
        (true, true, 60)
    );
    let [GatherPrompt::Say(prompt), GatherPrompt::Pause(pause)] = &gather.prompts[..] else {
        panic!("prompts")
    };
    assert_eq!(pause.length, 1);
    assert_eq!(prompt.voice.as_deref(), Some("Polly.Joanna"));
    assert_eq!(prompt.text(), "Press 1 for sales, 2 for support.");
    let Content::Element(emphasis) = &prompt.content[1] else {
        panic!("SSML is kept")
    };
    assert_eq!(emphasis.name, "emphasis");
    assert_eq!(
        emphasis.attributes,
        [("level".to_owned(), "strong".to_owned())]
    );
    assert_eq!(
        (
            say.text(),
            say.language.as_str(),
            say.loop_count,
            say.voice.clone()
        ),
        ("We didn't get that.".to_owned(), "en-US", 1, None)
    );
    assert_eq!(
        (redirect.url.as_str(), redirect.method),
        ("/start", Method::Get)
    );
}

#[test]
fn say_text_is_collapsed_around_ssml() {
    let parsed = clean(voice(
        "<Say>\n  a <emphasis> b\t\tc </emphasis>  d\r\n</Say>",
    ));
    let Verb::Say(say) = &parsed.document.verbs[0] else {
        panic!("say")
    };
    assert_eq!(say.text(), "a b c d");
    assert_eq!(say.content.len(), 3);
    let parsed = clean(voice("<Say><emphasis>x</emphasis> y</Say>"));
    let Verb::Say(say) = &parsed.document.verbs[0] else {
        panic!("say")
    };
    assert_eq!(say.text(), "x y");
    for (ssml, spoken) in [
        (r#"<Say>Hello<break time="1s"/>world</Say>"#, "Hello world"),
        ("<Say><p>One.</p><p>Two.</p></Say>", "One. Two."),
        (
            "<Say>un<emphasis>believ</emphasis>able</Say>",
            "unbelievable",
        ),
        (
            r#"<Say>See <sub alias="World Wide Web">WWW</sub>.</Say>"#,
            "See World Wide Web.",
        ),
    ] {
        let parsed = clean(voice(ssml));
        let Verb::Say(say) = &parsed.document.verbs[0] else {
            panic!("say")
        };
        assert_eq!(say.text(), spoken, "{ssml}");
    }
}

#[test]
fn dial_text_becomes_a_number_noun() {
    let parsed = clean(voice("<Dial timeout=\"1000\"> +14155551212 </Dial>"));
    let Verb::Dial(dial) = &parsed.document.verbs[0] else {
        panic!("dial")
    };
    assert_eq!(dial.timeout, 600, "timeouts are clamped to 5-600");
    let [Noun::Number(number)] = &dial.nouns[..] else {
        panic!("one number")
    };
    assert_eq!(number.phone_number, "+14155551212");
}

#[test]
fn findings_carry_line_and_column() {
    let input = "<Response>\n  <Say>hi</Say>\n  <Play loop=\"x\">a.mp3</Play>\n</Response>";
    let rejected = parse(input.as_bytes(), Context::Voice).expect_err("bad loop");
    assert_eq!(
        (
            rejected.error.code.code,
            rejected.error.line,
            rejected.error.column
        ),
        (13410, 3, 9)
    );
    assert!(
        rejected.error.message.contains("loop"),
        "{}",
        rejected.error.message
    );
    let malformed =
        parse(b"<Response>\n<Say>\n</Response>", Context::Voice).expect_err("mis-nested");
    assert_eq!(
        (malformed.error.code.code, malformed.error.line),
        (12100, 3)
    );
}

#[test]
fn warnings_leave_the_document_runnable() {
    let parsed = voice("<Say>hi</Say><Sya>typo</Sya><Hangup/>").expect("runs");
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(
        (parsed.warnings[0].code.code, parsed.warnings[0].level),
        (12200, Level::Warning)
    );
    assert_eq!(parsed.document.verbs.len(), 2);
}

#[test]
fn empty_responses_and_comments_are_fine() {
    assert!(clean(voice("<Response/>")).document.verbs.is_empty());
    assert!(
        clean(messaging("<!-- nothing --><?pi x?>"))
            .document
            .verbs
            .is_empty()
    );
}

#[test]
fn message_bodies_and_media_are_collected() {
    let parsed = clean(messaging(
        "<Message to=\"+15551230000\"> Hello <Body>there</Body><Media>https://x/a.png</Media></Message>",
    ));
    let Verb::Message(message) = &parsed.document.verbs[0] else {
        panic!("message")
    };
    assert_eq!(message.body, "Hello there");
    assert_eq!(message.media, ["https://x/a.png"]);
    assert_eq!(message.to.as_deref(), Some("+15551230000"));
}

#[test]
fn unmodelled_verbs_are_recognised_and_kept() {
    let parsed = clean(voice(
        "<Connect action=\"/a\"><Room>x</Room></Connect><Echo/>",
    ));
    let Verb::Unmodelled(connect) = &parsed.document.verbs[0] else {
        panic!("connect")
    };
    assert_eq!(
        connect.element.attributes,
        [("action".to_owned(), "/a".to_owned())]
    );
    assert_eq!(
        parsed.document.to_string(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect action=\"/a\"><Room>x</Room></Connect><Echo/></Response>"
    );
}
