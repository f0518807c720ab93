//! Property test: for generated TwiML-like documents, whatever parses prints back to text that
//! parses to the same document with the same warnings (`print(parse(x))` round-trips).

use proptest::prelude::*;
use switchboard_twiml::{Context, parse, print};

/// Attribute values: valid ones, invalid ones, and text that needs escaping.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_owned()),
        Just("5".to_owned()),
        Just("GET".to_owned()),
        Just("dtmf speech".to_owned()),
        Just("#".to_owned()),
        Just("".to_owned()),
        Just("/rel?a=1&amp;b=&lt;2&gt;".to_owned()),
        "[ -~]{0,8}".prop_map(|s| s
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;")),
        Just("tab&#9;new&#10;line&#13;".to_owned()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("+14155551212".to_owned()),
        Just("https://example.com/a.mp3".to_owned()),
        Just("  Hello,\n  world &amp; all  ".to_owned()),
        Just("&#13;x&#x20;".to_owned()),
        "[ -~]{0,12}".prop_map(|s| s.replace('&', "&amp;").replace('<', "&lt;")),
    ]
}

const NAMES: &[&str] = &[
    "Say",
    "Play",
    "Pause",
    "Gather",
    "Record",
    "Dial",
    "Number",
    "Client",
    "Sip",
    "Conference",
    "Queue",
    "Hangup",
    "Redirect",
    "Reject",
    "Enqueue",
    "Leave",
    "Sms",
    "Message",
    "Body",
    "Media",
    "Parameter",
    "emphasis",
    "break",
    "Connect",
    "Identity",
    "Task",
    "Uri",
    "Headers",
    "Header",
    "Bogus",
];
const ATTRIBUTES: &[&str] = &[
    "loop",
    "voice",
    "language",
    "length",
    "timeout",
    "numDigits",
    "input",
    "finishOnKey",
    "method",
    "action",
    "record",
    "trim",
    "name",
    "value",
    "to",
    "from",
    "level",
    "digits",
    "hints",
    "speechTimeout",
    "beep",
];

/// A random element tree, at most three levels below `<Response>`.
fn element() -> impl Strategy<Value = String> {
    let leaf = (
        prop::sample::select(NAMES),
        prop::collection::vec((prop::sample::select(ATTRIBUTES), value()), 0..3),
        text(),
    )
        .prop_map(|(name, attributes, text)| render(name, &attributes, &text));
    leaf.prop_recursive(3, 24, 4, |inner| {
        (
            prop::sample::select(NAMES),
            prop::collection::vec((prop::sample::select(ATTRIBUTES), value()), 0..3),
            prop::collection::vec(prop_oneof![inner, text()], 0..4),
        )
            .prop_map(|(name, attributes, children)| render(name, &attributes, &children.concat()))
    })
}

fn render(name: &str, attributes: &[(&str, String)], body: &str) -> String {
    let mut seen = Vec::new();
    let mut out = format!("<{name}");
    for (attribute, value) in attributes {
        if !seen.contains(attribute) {
            seen.push(*attribute);
            out.push_str(&format!(" {attribute}=\"{value}\""));
        }
    }
    format!("{out}>{body}</{name}>")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn printing_a_parsed_document_round_trips(children in prop::collection::vec(element(), 0..5), messaging in any::<bool>()) {
        let context = if messaging { Context::Messaging } else { Context::Voice };
        let input = format!("<Response>{}</Response>", children.concat());
        if let Ok(parsed) = parse(input.as_bytes(), context) {
            let printed = print(&parsed.document);
            let reparsed = parse(printed.as_bytes(), context);
            let reparsed = reparsed.unwrap_or_else(|rejected| panic!("{input}\n{printed}\n{rejected:#?}"));
            prop_assert_eq!(&reparsed.document, &parsed.document, "{}\n{}", input, printed);
            let before: Vec<&str> = parsed.warnings.iter().map(|w| w.message.as_str()).collect();
            let new: Vec<&str> = reparsed.warnings.iter().map(|w| w.message.as_str()).filter(|m| !before.contains(m)).collect();
            prop_assert!(new.is_empty(), "printed output adds warnings {:?}\n{}", new, printed);
        }
    }
}
