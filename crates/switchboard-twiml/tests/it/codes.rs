//! Table tests: each 12xxx/13xxx/14xxx code the spec lists that a document alone can show,
//! with the smallest document that raises it. Codes that depend on the call, the account or a
//! fetched resource (13000 runtime, 13201, 13225, 13227, 13236, 13238, 13325, 13420, 13617,
//! 13750, 14106–14108, 14111, 12300, 12301, 12400) belong to the engines, not to this crate.

use switchboard_twiml::Level::{Error, Warning};

use crate::{expect_code, messaging, voice};

#[test]
fn document_codes() {
    let cases: &[(&str, u32, switchboard_twiml::Level)] = &[
        ("<Response><Say>x</Response>", 12100, Error),
        ("<Response>&amp</Response>", 12100, Error),
        (" <?xml version=\"1.0\"?><Response/>", 12100, Error),
        (
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Response/>",
            12100,
            Error,
        ),
        ("<Response version=\"1999-01-01\"/>", 12101, Error),
        ("<?xml version=\"1.0\"?><Reponse/>", 12102, Error),
        ("<Bogus/>", 12200, Warning),
        ("<say>lower case</say>", 12200, Warning),
        (
            "<Say Voice=\"man\">wrong-case attribute</Say>",
            12200,
            Warning,
        ),
        ("<Say>a<Foo/>b</Say>", 12200, Warning),
    ];
    for (input, code, level) in cases {
        expect_code(&voice(input), *code, *level);
    }
}

#[test]
fn voice_verb_codes() {
    let cases: &[(&str, u32)] = &[
        ("<Dial method=\"PUT\">+14155551212</Dial>", 13210),
        ("<Dial ifMachine=\"Maybe\">+14155551212</Dial>", 13211),
        ("<Dial timeout=\"soon\">+14155551212</Dial>", 13212),
        ("<Dial hangupOnStar=\"yes\">+14155551212</Dial>", 13213),
        ("<Dial callerId=\"\">+14155551212</Dial>", 13214),
        ("<Dial><Say>x</Say></Dial>", 13215),
        (
            "<Dial><Conference>a</Conference><Number>+14155551212</Number></Dial>",
            13215,
        ),
        ("<Dial timeLimit=\"-1\">+14155551212</Dial>", 13216),
        ("<Dial record=\"always\">+14155551212</Dial>", 13217),
        (
            "<Dial><Number method=\"PUT\">+14155551212</Number></Dial>",
            13221,
        ),
        (
            "<Dial><Number sendDigits=\"12a\">+14155551212</Number></Dial>",
            13222,
        ),
        ("<Dial><Number>not a number</Number></Dial>", 13224),
        ("<Dial><Number>+0123456</Number></Dial>", 13226),
        (
            "<Dial><Conference muted=\"maybe\">room</Conference></Dial>",
            13230,
        ),
        ("<Dial><Conference></Conference></Dial>", 13237),
        (
            "<Dial><Conference trim=\"some\">room</Conference></Dial>",
            13239,
        ),
        (
            "<Dial><Conference coach=\"CAxyz\">room</Conference></Dial>",
            13240,
        ),
        ("<Dial><Sip>http://not-sip</Sip></Dial>", 13241),
        ("<Gather finishOnKey=\"##\"/>", 13310),
        ("<Gather finishOnKey=\"a\"/>", 13311),
        ("<Gather method=\"PUT\"/>", 13312),
        ("<Gather timeout=\"x\"/>", 13313),
        ("<Gather numDigits=\"0\"/>", 13314),
        ("<Gather><Record/></Gather>", 13320),
        ("<Gather><Say> </Say></Gather>", 13321),
        ("<Gather><Say loop=\"x\">hi</Say></Gather>", 13322),
        ("<Gather input=\"keys\"/>", 13326),
        ("<Gather input=\"\"/>", 13326),
        ("<Gather speechTimeout=\"later\"/>", 13327),
        ("<Gather maxSpeechTime=\"0\"/>", 13328),
        ("<Gather partialResultCallback=\"a b\"/>", 13329),
        ("<Gather hints=\"{long}\"/>", 13330),
        ("<Gather language=\"english please\"/>", 13331),
        ("<Gather bargeIn=\"no\"/>", 13332),
        ("<Gather profanityFilter=\"no\"/>", 13333),
        ("<Gather speechModel=\"best\"/>", 13334),
        (
            "<Gather speechTimeout=\"auto\" speechModel=\"experimental_utterances\"/>",
            13335,
        ),
        ("<Play loop=\"-1\">a.mp3</Play>", 13410),
        ("<Say loop=\"x\">hi</Say>", 13510),
        ("<Say voice=\"robot\">hi</Say>", 13511),
        ("<Say></Say>", 13520),
        ("<Say>{long}</Say>", 13521),
        ("<Record method=\"PUT\"/>", 13610),
        ("<Record timeout=\"x\"/>", 13611),
        ("<Record maxLength=\"0\"/>", 13612),
        ("<Record finishOnKey=\"a\"/>", 13613),
        ("<Record transcribe=\"maybe\"/>", 13614),
        ("<Record transcribeCallback=\"a b\"/>", 13615),
        ("<Record playBeep=\"loud\"/>", 13616),
        ("<Record trim=\"cut\"/>", 13618),
        ("<Record recordingStatusCallbackEvent=\"done\"/>", 13621),
        ("<Redirect method=\"PUT\">/next</Redirect>", 13710),
        ("<Pause length=\"0\"/>", 13910),
    ];
    let long = "x".repeat(5000);
    for (input, code) in cases {
        expect_code(&voice(&input.replace("{long}", &long)), *code, Error);
    }
    expect_code(&voice("<Dial>(415) 555-1212</Dial>"), 13223, Warning);
    expect_code(
        &voice("<Dial><Number>4155551212</Number></Dial>"),
        13223,
        Warning,
    );
}

#[test]
fn messaging_codes() {
    let ten = "<Message>hi</Message>".repeat(10);
    let cases: &[(&str, u32)] = &[
        ("<Message to=\"\">hi</Message>", 14101),
        ("<Message from=\"a b\">hi</Message>", 14102),
        ("<Message/>", 14103),
        ("<Message>{long}</Message>", 14103),
        ("<Message method=\"PUT\">hi</Message>", 14104),
        ("<Redirect method=\"PUT\">/next</Redirect>", 14104),
        ("<Message statusCallback=\"a b\">hi</Message>", 14105),
        ("{ten}<Message>eleven</Message>", 14109),
        ("<Say>hi</Say>", 14110),
        ("<Gather/>", 14110),
    ];
    let long = "x".repeat(1601);
    for (input, code) in cases {
        let input = input.replace("{long}", &long).replace("{ten}", &ten);
        expect_code(&messaging(&input), *code, Error);
    }
    assert!(messaging(&ten).is_ok(), "ten messages are allowed");
}

#[test]
fn size_cap_is_checked_before_parsing() {
    let body = vec![b'<'; 64 * 1024 + 1];
    expect_code(
        &switchboard_twiml::parse(&body, switchboard_twiml::Context::Voice),
        11750,
        Error,
    );
}

/// Length limits count characters, not bytes: text of two-byte characters at a limit runs, one
/// character past it does not (the parser only counts characters once the bytes could exceed).
#[test]
fn length_limits_count_characters_not_bytes() {
    let clean = |fragment: &str| {
        let parsed = voice(fragment).expect("accepted");
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    };
    let say = "é".repeat(4096);
    clean(&format!("<Say>{say}</Say>"));
    expect_code(&voice(&format!("<Say>{say}é</Say>")), 13521, Error);
    clean(&format!(
        "<Say>{}<break/>{}</Say>",
        "é".repeat(2048),
        "é".repeat(2048)
    ));
    expect_code(
        &voice(&format!(
            "<Say>{}<emphasis>{}</emphasis></Say>",
            "é".repeat(2048),
            "é".repeat(2049)
        )),
        13521,
        Error,
    );

    let phrase = "é".repeat(100);
    clean(&format!("<Gather hints=\"{phrase}, yes\"/>"));
    expect_code(
        &voice(&format!("<Gather hints=\"yes, {phrase}é\"/>")),
        13330,
        Error,
    );
    let many = vec!["a"; 500].join(",");
    clean(&format!("<Gather hints=\"{many}\"/>"));
    expect_code(
        &voice(&format!("<Gather hints=\"{many},b\"/>")),
        13330,
        Error,
    );
}
